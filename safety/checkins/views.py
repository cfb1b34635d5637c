"""'My visits today' on a phone (issue 3 §3): the briefing and big, plain buttons for the
next sensible events. Thin: every change is a call into checkins.services (record_event,
close_not_seen, abandon) or people.services.set_pins, which check who may do it, the order
of events and the PIN, and write the audit trail.

A duress PIN must give exactly the page a safe PIN gives, so after recording, every answer
is the same redirect back to the visit, and the visit page is built from the member of
staff's own events and the next deadline (checkins.briefing), never from alerts or the
watch's status."""
import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit import services as audit
from audit.actions import Action
from core.forms import errors_onto
from people import services as people_services
from people.decorators import require, staff_required

from . import briefing as brief
from . import services
from .forms import AbandonForm, CheckInForm, LeftSchoolForm, NoteForm, PinForm, PinsForm
from .models import VisitEvent

T = VisitEvent.Type

# The events the phone's buttons record, and whether a PIN is asked for them (check-in and
# leaving the home: research (d) 2; the duress PIN works wherever a PIN is asked).
PHONE_EVENTS = {
    T.LEFT_SCHOOL: False, T.ARRIVED: False, T.PARENT_NOT_HOME: False, T.PARENT_LATE_NOTICE: False,
    T.ENTERED: False, T.CHECK_IN: True, T.LEFT_HOME: True, T.BACK_SAFE: False,
}


def _visit(request, pk):
    require(request.staff, "checkin.record")
    visit = brief.visit_for_phone(request.staff, pk)
    if visit is None:
        raise Http404("No visit of yours today with that number.")
    return visit


def _policy_flags(visit):
    _, policy = services.policy_for(visit)
    on_return = bool(policy.value("check_in.on_return_to_school"))
    on_leaving = bool(policy.value("check_in.on_leaving_home"))
    return {"needs_back_safe": on_return or not on_leaving}


def _checked_out(prog, needs_back_safe):
    """Nothing more is owed by this person: back safe, or left the home where the policy
    asks for no back-safe call. (From their own events only: see the module docstring.)"""
    return prog.phase == "back_safe" or (prog.phase == "left_home" and not needs_back_safe)


@staff_required
def today(request):
    me = request.staff
    require(me, "checkin.record")
    items = []
    for v in brief.my_visits_today(me):
        prog = brief.progress(v, me)
        done = _checked_out(prog, _policy_flags(v)["needs_back_safe"])
        items.append({"visit": v, "progress": prog, "next": None if done else brief.next_due(v), "checked_out": done})
    return render(request, "checkins/today.html", {"nav": "today", "items": items, "has_pins": me.has_pins})


def _forms(me, data=None, which=None):
    """The forms on the visit page; `which` is the one posted (bound to `data`)."""
    need_pin = me.has_pins
    made = {
        "left_school": LeftSchoolForm,
        "check_in": lambda *a, **k: CheckInForm(*a, need_pin=need_pin, prefix="checkin", **k),
        "left_home": lambda *a, **k: PinForm(*a, need_pin=need_pin, prefix="leaving", **k),
        "abandon": lambda *a, **k: AbandonForm(*a, prefix="abandon", **k),
        "not_seen": lambda *a, **k: NoteForm(*a, prefix="notseen", **k),
    }
    return {name: (factory(data) if name == which else factory()) for name, factory in made.items()}


def _render_visit(request, visit, forms=None, status=200, open_form=None):
    me = request.staff
    prog = brief.progress(visit, me)
    door = None
    if T.PARENT_NOT_HOME in prog.done or T.PARENT_LATE_NOTICE in prog.done:
        door = services.doorstep_status(visit)
    forms = forms or _forms(me)
    if not forms["left_school"].is_bound:
        back = timezone.localtime(visit.ends_at + datetime.timedelta(minutes=30))
        forms["left_school"].initial = {"expected_return": back.strftime("%H:%M")}
    flags = _policy_flags(visit)
    done = _checked_out(prog, flags["needs_back_safe"])
    return render(request, "checkins/visit.html", {
        "nav": "today", "visit": visit, "progress": prog, "p": prog.phase, "next": None if done else brief.next_due(visit),
        "checked_out": done, "door": door, "brief": brief.briefing(visit, me), "forms": forms, "open_form": open_form,
        "has_pins": me.has_pins, **flags,
    }, status=status)


@staff_required
def visit(request, pk):
    visit = _visit(request, pk)
    # The briefing holds the pupil's address, needs and medical notes and the household's
    # risks: opening it is a read of sensitive records (issue 5 §2). Every button on the
    # page comes back here, so it is written once per person per visit per day.
    audit.record_read_once(request, visit, "the home-visit briefing", action=Action.VISIT_BRIEFING_VIEWED,
                           since=brief.day_bounds()[0], data={"pupil": visit.pupil_id})
    return _render_visit(request, visit)


def _phone_message(visit, me, result, event_type):
    """What the phone is told. Once nothing more is owed by this person the words depend
    only on their own events, not on whether the visit closed (an open silent alarm keeps it
    open, and the service's message would say so)."""
    if result.next_kind is None or _checked_out(brief.progress(visit, me), _policy_flags(visit)["needs_back_safe"]):
        return f"{T(event_type).label} recorded at {timezone.localtime(result.event.at):%H:%M}. " \
               "Thank you: you are checked out of this visit."
    return result.message


def _service_error(request, exc, form=None):
    """Put a service's refusal on the form (a wrong PIN) or as a message at the top."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict") and form is not None:
        errors_onto(form, exc)
        return
    text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    if form is not None:
        form.add_error(None, text)
    else:
        messages.error(request, text)


@staff_required
@require_POST
def record(request, pk, event):
    me = request.staff
    visit = _visit(request, pk)
    if event not in PHONE_EVENTS:
        raise Http404("No such event.")
    which = {T.LEFT_SCHOOL: "left_school", T.CHECK_IN: "check_in", T.LEFT_HOME: "left_home"}.get(event)
    forms = _forms(me, request.POST, which)
    form = forms.get(which)
    kwargs = {}
    if form is not None:
        if not form.is_valid():
            return _render_visit(request, visit, forms, status=400, open_form=which)
        if which == "left_school":
            kwargs["expected_return"] = form.expected_return_at()
        if "pin" in form.fields:
            kwargs["pin"] = form.cleaned_data["pin"]
        if which == "check_in":
            kwargs["concerns"] = form.concerns_text()
    try:
        result = services.record_event(visit, event, by=me, request=request, **kwargs)
    except (services.NotAllowed, ValidationError) as exc:
        if form is None:
            _service_error(request, exc)
            return redirect("checkins:visit", visit.pk)
        _service_error(request, exc, form)
        return _render_visit(request, visit, forms, status=400, open_form=which)
    messages.success(request, _phone_message(visit, me, result, event))
    return redirect("checkins:visit", visit.pk)


@staff_required
@require_POST
def not_seen(request, pk):
    me = request.staff
    visit = _visit(request, pk)
    forms = _forms(me, request.POST, "not_seen")
    form = forms["not_seen"]
    form.is_valid()
    try:
        result = services.close_not_seen(visit, by=me, note=form.cleaned_data.get("note", ""), request=request)
    except (services.NotAllowed, ValidationError) as exc:
        _service_error(request, exc)
        return redirect("checkins:visit", visit.pk)
    messages.success(request, result.message)
    return redirect("checkins:visit", visit.pk)


@staff_required
@require_POST
def abandon(request, pk):
    me = request.staff
    visit = _visit(request, pk)
    forms = _forms(me, request.POST, "abandon")
    form = forms["abandon"]
    if not form.is_valid():
        return _render_visit(request, visit, forms, status=400, open_form="abandon")
    try:
        result = services.abandon(visit, form.cleaned_data["reason"], by=me, note=form.cleaned_data["note"],
                                  request=request)
    except (services.NotAllowed, ValidationError) as exc:
        _service_error(request, exc, form)
        return _render_visit(request, visit, forms, status=400, open_form="abandon")
    messages.success(request, result.message)
    return redirect("checkins:visit", visit.pk)


@staff_required
def panic(request, pk):
    """Panic: the page's button is press-and-hold (so it is not set off by accident, research
    (c) 2); without JavaScript, or if let go early, this page asks once more."""
    me = request.staff
    visit = _visit(request, pk)
    if request.method == "POST" and request.POST.get("confirmed") == "yes":
        try:
            services.record_event(visit, T.PANIC, by=me, request=request)
        except (services.NotAllowed, ValidationError) as exc:
            _service_error(request, exc)
            return redirect("checkins:visit", visit.pk)
        messages.error(request, "Panic alarm sent. The school is being told now. If you can, call 999.")
        return redirect("checkins:visit", visit.pk)
    return render(request, "checkins/panic.html", {"nav": "today", "visit": visit})


@staff_required
def pins(request):
    """Set one's own safe PIN and duress PIN (people.services.set_pins: only the person may)."""
    me = request.staff
    require(me, "checkin.record")
    form = PinsForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            people_services.set_pins(me, safe_pin=form.cleaned_data["safe_pin"],
                                     duress_pin=form.cleaned_data["duress_pin"], by=me, request=request)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(request, "Your PINs are set. Keep the duress PIN to yourself.")
            return redirect("checkins:today")
    return render(request, "checkins/pins.html", {"nav": "today", "form": form, "has_pins": me.has_pins},
                  status=400 if form.errors else 200)
