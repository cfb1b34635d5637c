"""'My visits today' on a phone: the briefing and big, plain buttons for the next sensible
events. Thin: every change is a call into safety.recording (record_event, close_not_seen,
abandon) or people.services.set_pins, which check who may do it, the order of events and the
PIN, and write the audit trail.

A duress PIN must give exactly the page a safe PIN gives, so after recording, every answer
is the same redirect back to the visit, and the visit page is built from the member of
staff's own events (safety.journey) and the next deadline (checkins.briefing), never from
alerts or the watch's status.

With no signal (docs/safety-core.md, "When the phone has no signal"): the page's script
(doorstep/static/doorstep/phone.js) sends the event forms with fetch and asks for JSON; a press
that cannot be sent is kept and sent again when the signal comes back, with the moment it was
pressed (`pressed_at`), which becomes the event's `at` (its `recorded_at` is when it arrived).
The service worker (`sw_js`) shows the offline page (`offline`) when a page cannot load."""
import datetime
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from audit import services as audit
from audit.actions import Action
from core.errors import NotAllowed
from core.forms import errors_onto
from people import services as people_services
from people.decorators import require, staff_required
from people.permissions import can
from policies.services import policy_for
from safety import journey, recording, texts
from visits.models import Visit

from . import briefing as brief
from .forms import AbandonForm, CheckInForm, LeftSchoolForm, NoteForm, PinForm, PinsForm
from .models import VisitEvent

T = VisitEvent.Type

# What a member of staff texts to the school's Doorstep number when the page cannot send:
# safety.texts's own words (its ANSWER_WORD, and HELP, one of its HELP_WORDS). At the door or
# inside, the word for a check-in: word from the staff is what the office needs then.
TEXT_WORDS: dict[str, str] = {
    **texts.ANSWER_WORD,
    T.ENTERED: texts.ANSWER_WORD[T.CHECK_IN], T.PARENT_NOT_HOME: texts.ANSWER_WORD[T.CHECK_IN],
    T.PARENT_LATE_NOTICE: texts.ANSWER_WORD[T.CHECK_IN],
}
PIN_WORDS = {T.CHECK_IN, T.LEFT_HOME, T.ENTERED, T.PARENT_NOT_HOME, T.PARENT_LATE_NOTICE}
HELP_WORD = "HELP"
# A phone's clock may run a little fast: a press this far ahead of the server is still now.
CLOCK_GRACE = datetime.timedelta(minutes=1)

# The events the phone's buttons record, and whether a PIN is asked for them (check-in and
# leaving the home; the duress PIN works wherever a PIN is asked).
PHONE_EVENTS = {
    T.LEFT_SCHOOL: False, T.ARRIVED: False, T.PARENT_NOT_HOME: False, T.PARENT_LATE_NOTICE: False,
    T.ENTERED: False, T.CHECK_IN: True, T.LEFT_HOME: True, T.BACK_SAFE: False,
}


def offline_help(school: Any, has_pins: bool = True) -> dict[str, Any]:
    """What to do when the phone cannot send: the school's Doorstep number for texts, the
    office's number, and the word to text for each button. Shown on the visit page (at once,
    with no signal, by phone.js) and on the offline page; nothing about a pupil or a household."""
    number = texts.display_number(getattr(settings, "DOORSTEP_SMS_NUMBER", ""))
    pin = " 1234" if has_pins else ""

    def word(event_type: str) -> dict[str, Any]:
        text = TEXT_WORDS.get(event_type, "")
        asks_pin = has_pins and event_type in PIN_WORDS
        return {"event": str(event_type), "word": text + (pin if asks_pin else ""), "pin": asks_pin}

    events = [word(e) for e in PHONE_EVENTS] + [{"event": str(T.PANIC), "word": HELP_WORD, "pin": False}]
    return {"sms_number": number, "office_phone": getattr(school, "phone", "") or "", "events": events,
            "help_word": HELP_WORD, "check_in": word(T.CHECK_IN)}


def _visit(request, pk):
    require(request.staff, "checkin.record")
    visit = brief.visit_for_phone(request.staff, pk)
    if visit is None:
        raise Http404("This is not one of your visits today, or it has finished: your visits today are under "
                      "Today.")
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
    # Each visit's events, next deadline and policy read once for the page, not once a visit.
    visits = list(brief.my_visits_today(me))
    events: dict[int, list[VisitEvent]] = {v.pk: [] for v in visits}
    for event in VisitEvent.objects.filter(visit__in=visits).order_by("at", "id"):
        events[event.visit_id].append(event)
    next_due = brief.next_due_by_visit(visits)
    policies: dict[tuple[int | None, int], Any] = {}
    for v in visits:
        prog = journey.progress(v, me, events[v.pk])
        # A visit is judged by the version it was approved under, else its school's current one
        # (policies.services.policy_version_for): the same key, the same policy.
        key = (v.policy_version_id if v.state != Visit.State.PROPOSED else None, v.school_id)
        if key not in policies:
            policies[key] = policy_for(v)
        done = journey.checked_out(policies[key], prog.events, me.pk)
        # Once its report is in, the briefing closes (people.permissions, "briefing.view"): the
        # card says the visit is finished and opens its report instead.
        finished = not can(me, "briefing.view", v)
        items.append({"visit": v, "progress": prog, "next": None if done else next_due[v.pk], "checked_out": done,
                      "finished": finished})
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
    briefing = brief.briefing(visit, me)
    return render(request, "checkins/visit.html", {
        "nav": "today", "visit": visit, "progress": prog, "p": prog.phase, "next": None if done else brief.next_due(visit),
        "checked_out": done, "door": door, "brief": briefing, "forms": forms, "open_form": open_form,
        # After leaving the home: the back-safe button, unless that checked this person out;
        # on a pair visit, who is still there (from the events, as the rest of the page).
        "has_pins": me.has_pins, "needs_back_safe": not done,
        "still_there": brief.still_at_the_home(briefing["team"], prog.events, me),
        "may_report": can(me, "report.write", visit),
        # For phone.js: what to text or ring when a press cannot be sent, and the server's
        # clock (a press is stamped in it, so a phone whose clock is wrong is not refused).
        "offline": offline_help(visit.school, me.has_pins), "server_now_ms": int(timezone.now().timestamp() * 1000),
    }, status=status)


@staff_required
@never_cache  # the briefing (pupil, household) is kept in no cache; and the page's clock is now's
def visit(request, pk):
    require(request.staff, "checkin.record")
    finished = brief.finished_for_phone(request.staff, pk)
    if finished is not None:
        messages.info(request, "This visit is finished and its report is written: here is the report.")
        return redirect("reports:report", pk=finished.pk)
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


def _wants_json(request: HttpRequest) -> bool:
    """phone.js sends the forms with fetch and asks for JSON; without it the page posts as ever."""
    return "application/json" in request.headers.get("Accept", "")


def _error_text(exc: Exception | None = None, form: Form | None = None) -> str:
    if form is not None and form.errors:
        return " ".join(str(m) for errors in form.errors.values() for m in errors)
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _json_refused(text: str) -> JsonResponse:
    """The press reached Doorstep and was refused: phone.js says so and does not send it again."""
    return JsonResponse({"ok": False, "error": text}, status=400)


def _json_recorded(event: VisitEvent, message: str, visit_pk: int) -> JsonResponse:
    """What phone.js is told: the words, and when the event happened and arrived ("Sent at
    10:42, you pressed it at 10:31"). The same for a safe and a duress PIN."""
    return JsonResponse({
        "ok": True, "message": message, "at": event.at.isoformat(), "recorded_at": event.recorded_at.isoformat(),
        "pressed": f"{timezone.localtime(event.at):%H:%M}", "sent": f"{timezone.localtime(event.recorded_at):%H:%M}",
        "next": reverse("checkins:visit", args=[visit_pk]),
    })


def pressed_at(request: HttpRequest, visit: Any, me: Any) -> datetime.datetime | None:
    """When the button was pressed, from the page's hidden `pressed_at` field (phone.js fills
    it in when the button is pressed, in the server's clock): None when not given (the page
    without its script: the event happened now). Raises ValidationError for a time that cannot
    be read, is more than a minute ahead of now, or is before this person's previous event on
    the visit (or, for their first, before the day of the visit): events are recorded in the
    order they happened."""
    raw = (request.POST.get("pressed_at") or "").strip()
    if not raw:
        return None
    try:
        at = parse_datetime(raw)
    except ValueError:
        at = None
    if at is None:
        raise ValidationError({"pressed_at": "The time you pressed the button could not be read: press it again."})
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    now = timezone.now()
    if at > now + CLOCK_GRACE:
        raise ValidationError({"pressed_at": f"The time you pressed the button ({timezone.localtime(at):%H:%M}) is "
                                             "later than now: reload the page and press it again."})
    previous = VisitEvent.objects.filter(visit=visit, staff=me).order_by("-at", "-id").first()
    if previous is not None and at < previous.at:
        raise ValidationError({"pressed_at": f"The time you pressed the button ({timezone.localtime(at):%H:%M}) is "
                                             f"before {T(previous.type).label.lower()}, recorded for you at "
                                             f"{timezone.localtime(previous.at):%H:%M}: reload the page and press it "
                                             "again if it still needs recording."})
    day_start = timezone.localtime(visit.starts_at).replace(hour=0, minute=0, second=0, microsecond=0)
    if previous is None and at < day_start:
        raise ValidationError({"pressed_at": "The time you pressed the button is before the day of the visit: "
                                             "reload the page and press it again."})
    return at


def _already_recorded(visit: Any, me: Any, event: str, at: datetime.datetime | None) -> VisitEvent | None:
    """The same press sent twice (the first answer was lost on the way back): the same type,
    person and pressed moment, to the microsecond."""
    if at is None:
        return None
    return VisitEvent.objects.filter(visit=visit, staff=me, type=event, at=at).first()


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
    as_json = _wants_json(request)
    kwargs: dict[str, Any] = {}
    try:
        kwargs["at"] = pressed_at(request, visit, me)
    except ValidationError as exc:
        if as_json:
            return _json_refused(_error_text(exc))
        if form is None:
            _service_error(request, exc)
            return redirect("checkins:visit", visit.pk)
        form.is_valid()
        _service_error(request, exc, form)
        return _render_visit(request, visit, forms, status=400, open_form=which)
    repeat = _already_recorded(visit, me, event, kwargs["at"])
    if repeat is not None:
        text = f"{T(event).label} was already recorded (you pressed it at {timezone.localtime(repeat.at):%H:%M})."
        if as_json:
            return _json_recorded(repeat, text, visit.pk)
        messages.success(request, text)
        return redirect("checkins:visit", visit.pk)
    if form is not None:
        if not form.is_valid():
            if as_json:
                return _json_refused(_error_text(form=form))
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
        if as_json:
            return _json_refused(_error_text(exc))
        if form is None:
            _service_error(request, exc)
            return redirect("checkins:visit", visit.pk)
        _service_error(request, exc, form)
        return _render_visit(request, visit, forms, status=400, open_form=which)
    message = _phone_message(visit, me, result, event)
    messages.success(request, message)
    if as_json:
        return _json_recorded(result.event, message, visit.pk)
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
        as_json = _wants_json(request)
        try:
            at = pressed_at(request, visit, me)
        except ValidationError:
            at = None  # a panic is never refused for its time: it happened now, then
        try:
            result = recording.record_event(visit, T.PANIC, by=me, at=at, request=request)
        except (NotAllowed, ValidationError) as exc:
            if as_json:
                return _json_refused(_error_text(exc))
            _service_error(request, exc)
            return redirect("checkins:visit", visit.pk)
        text = "Panic alarm sent. The school is being told now. If you can, call 999."
        messages.error(request, text)
        if as_json:
            return _json_recorded(result.event, text, visit.pk)
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


@staff_required
@never_cache
def offline(request):
    """The page the service worker shows when a page of /today/ cannot load: what to text and
    whom to ring. Generic (no pupil, no household, no visit): it is kept in the phone's cache,
    fetched while the phone has a signal. The school's numbers only."""
    me = request.staff
    require(me, "checkin.record")
    return render(request, "checkins/offline.html", {"offline": offline_help(me.school, me.has_pins)})


# The service worker's cache: the offline page and the static files it needs, nothing else.
SW_CACHE = "doorstep-offline-v1"


@require_GET
def sw_js(request: HttpRequest) -> HttpResponse:
    """The service worker, served from the site's root so that it may control /today/ (the
    script's own folder bounds its scope). Open to anyone: it holds no data, only code and the
    addresses of the offline page and its stylesheet."""
    response = render(request, "checkins/sw.js", {
        "cache_name": SW_CACHE, "offline_url": reverse("checkins:offline"),
        "static_url": settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL,
    }, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/today/"
    return response
