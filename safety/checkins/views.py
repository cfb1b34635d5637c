"""'My visits today' on a phone: the briefing and big, plain buttons for the next sensible
events. Thin: every change is a call into safety.recording (record_event, close_not_seen,
abandon) or people.services.set_pins, which check who may do it, the order of events and the
PIN, and write the audit trail.

A duress PIN must give exactly the page a safe PIN gives, so after recording, every answer
is the same redirect back to the visit, and the visit page is built from the member of
staff's own events (safety.journey) and the next deadline (checkins.briefing), never from
alerts or the watch's status."""
import datetime
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit import services as audit
from audit.actions import Action
from core.errors import NotAllowed
from core.forms import errors_onto
from people import services as people_services
from people.decorators import require, staff_required
from policies.services import policy_for
from safety import journey, recording

from . import briefing as brief
from .forms import AbandonForm, CheckInForm, LeftSchoolForm, NoteForm, PinForm, PinsForm
from .models import VisitEvent

T = VisitEvent.Type

# The events the phone's buttons record, and whether a PIN is asked for them (check-in and
# leaving the home; the duress PIN works wherever a PIN is asked).
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


def _checked_out(visit, prog, me):
    """Nothing more is owed by this person (from their own events only: see the module
    docstring), by the rule engine's rule, as the watch has it."""
    return journey.checked_out(policy_for(visit), prog.events, me.pk)


@staff_required
def today(request):
    me = request.staff
    require(me, "checkin.record")
    items = []
    for v in brief.my_visits_today(me):
        prog = journey.progress(v, me)
        done = _checked_out(v, prog, me)
        items.append({"visit": v, "progress": prog, "next": None if done else brief.next_due(v), "checked_out": done})
    return render(request, "checkins/today.html", {"nav": "today", "items": items, "has_pins": me.has_pins})


def _forms(me, data=None, which=None) -> dict[str, Any]:
    """The forms on the visit page; `which` is the one posted (bound to `data`)."""
    need_pin = me.has_pins
    made: dict[str, Callable[[Any], Form]] = {
        "left_school": lambda d: LeftSchoolForm(d),
        "check_in": lambda d: CheckInForm(d, need_pin=need_pin, prefix="checkin"),
        "left_home": lambda d: PinForm(d, need_pin=need_pin, prefix="leaving"),
        "abandon": lambda d: AbandonForm(d, prefix="abandon"),
        "not_seen": lambda d: NoteForm(d, prefix="notseen"),
    }
    return {name: factory(data if name == which else None) for name, factory in made.items()}


def _render_visit(request, visit, forms=None, status=200, open_form=None):
    me = request.staff
    prog = journey.progress(visit, me)
    door = None
    if T.PARENT_NOT_HOME in prog.done or T.PARENT_LATE_NOTICE in prog.done:
        door = recording.doorstep_status(visit)
    forms = forms or _forms(me)
    if not forms["left_school"].is_bound:
        back = timezone.localtime(visit.ends_at + datetime.timedelta(minutes=30))
        forms["left_school"].initial = {"expected_return": back.strftime("%H:%M")}
    done = _checked_out(visit, prog, me)
    return render(request, "checkins/visit.html", {
        "nav": "today", "visit": visit, "progress": prog, "p": prog.phase, "next": None if done else brief.next_due(visit),
        "checked_out": done, "door": door, "brief": brief.briefing(visit, me), "forms": forms, "open_form": open_form,
        # After leaving the home: the back-safe button, unless that checked this person out.
        "has_pins": me.has_pins, "needs_back_safe": not done,
    }, status=status)


@staff_required
def visit(request, pk):
    visit = _visit(request, pk)
    # The briefing holds the pupil's address, needs and medical notes and the household's
    # risks: opening it is a read of sensitive records. Every button on the
    # page comes back here, so it is written once per person per visit per day.
    audit.record_read_once(request, visit, "the home-visit briefing", action=Action.VISIT_BRIEFING_VIEWED,
                           since=brief.day_bounds()[0], data={"pupil": visit.pupil_id})
    return _render_visit(request, visit)


def _phone_message(visit, me, result, event_type):
    """What the phone is told. Once nothing more is owed by this person the words depend
    only on their own events, not on whether the visit closed (an open silent alarm keeps it
    open, and the service's message would say so)."""
    if result.next_kind is None or _checked_out(visit, journey.progress(visit, me), me):
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
    form = forms.get(which) if which is not None else None
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
        result = recording.record_event(visit, event, by=me, request=request, **kwargs)
    except (NotAllowed, ValidationError) as exc:
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
        result = recording.close_not_seen(visit, by=me, note=form.cleaned_data.get("note", ""), request=request)
    except (NotAllowed, ValidationError) as exc:
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
        result = recording.abandon(visit, form.cleaned_data["reason"], by=me, note=form.cleaned_data["note"],
                                  request=request)
    except (NotAllowed, ValidationError) as exc:
        _service_error(request, exc, form)
        return _render_visit(request, visit, forms, status=400, open_form="abandon")
    messages.success(request, result.message)
    return redirect("checkins:visit", visit.pk)


@staff_required
def panic(request, pk):
    """Panic: the page's button is press-and-hold (so it is not set off by accident); without
    JavaScript, or if let go early, this page asks once more."""
    me = request.staff
    visit = _visit(request, pk)
    if request.method == "POST" and request.POST.get("confirmed") == "yes":
        try:
            recording.record_event(visit, T.PANIC, by=me, request=request)
        except (NotAllowed, ValidationError) as exc:
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
