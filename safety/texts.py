"""Texting in: a member of staff at a front door with no mobile data checks in, checks out and
raises the alarm by text message to the school's Doorstep number (docs/safety-core.md,
"Texting in: no data signal"). The provider's call-back (hooks.views) verifies the provider
and calls `answer_text()`; everything else is here, and every event goes through
safety.recording.record_event() with `via=Via.SMS`, exactly as the phone's buttons do.

The keywords (case, spaces and punctuation do not matter; the keyword starts the text and
any digits after it are the PIN):

    OK 1234       check in (with the safe PIN where the phone asks for one)
    LEFT 1234     left the home (with the PIN where the phone asks for one)
    SAFE / BACK   back at school or finished for the day (a PIN is optional, as on the phone)
    ARRIVED       arrived at the door (starts the visit, as on the phone)
    HELP          the panic alarm; SOS and PANIC too, anywhere in the text

Decisions written down here:

- The sender is matched on the number however it is written (07700 900123, +447700900123,
  447700900123, +44 (0)7700 900123) against every active member of staff's mobile as
  entered. An unknown number, a number two people share, a member of staff with no visit
  under way (or, for ARRIVED and HELP, none scheduled today) get the same neutral answer,
  which says nothing about Doorstep, the school or any visit, and the text is audited.
- The duress PIN gives exactly the answer of the safe PIN (recording.Recorded carries the
  same message) and raises the silent top alert in the same transaction.
- A wrong PIN is answered "not recognised" and counts toward the same lock-out as the phone.
- HELP anywhere in a text raises the alarm: a false alarm costs a phone call; a missed one
  could cost far more. HELP from a member of staff with no visit to raise it on, or from a
  number several staff share, still reaches the office (a message to each one's office and
  headteacher); the sender gets the neutral answer, which says to call 999.
- Answers never carry a pupil's name or address; each is checked with
  notify.services.pupil_details_in() and replaced by a fixed wording if one slips in.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from core.errors import NotAllowed
from core.text import and_list
from notify import services as notify_services
from notify.models import Channel, Message
from people.models import StaffMember
from people.permissions import can
from policies.services import policy_for
from safety.checkins import briefing
from safety.checkins.models import VisitEvent
from visits.models import Visit

from . import alerting, journey, recording

if TYPE_CHECKING:
    from django.http import HttpRequest

T = VisitEvent.Type
Via = VisitEvent.Via
State = Visit.State

# The first word of a text, and the event it records.
KEYWORDS: dict[str, str] = {
    "OK": T.CHECK_IN, "OKAY": T.CHECK_IN, "CHECK": T.CHECK_IN, "CHECKIN": T.CHECK_IN,
    "LEFT": T.LEFT_HOME, "LEAVING": T.LEFT_HOME,
    "SAFE": T.BACK_SAFE, "BACK": T.BACK_SAFE,
    "ARRIVED": T.ARRIVED, "HERE": T.ARRIVED,
}
# Any of these anywhere in a text raises the panic alarm.
HELP_WORDS = frozenset({"HELP", "SOS", "PANIC"})

# What anyone the texts cannot be matched to is told: nothing about Doorstep, a school or a visit.
NEUTRAL = "This number cannot answer your message. If you are in danger, call 999."
NOT_UNDERSTOOD = ("Not recorded: start your text with OK and your PIN to check in, LEFT and your PIN when you "
                  "leave the home, SAFE when you are back, ARRIVED at the door, or HELP for the alarm.")
PIN_NEEDED = "Not recorded: add your PIN, for example {word} then your PIN."
PIN_NOT_RECOGNISED = "Not recorded: that PIN was not recognised. Text {word} and your PIN again."
PANIC_SENT = "Panic alarm sent. The school is being told now. If you can, call 999."
SAFE_FALLBACK = "Your text was recorded. Open Doorstep when you have a signal."
# The word to repeat in an answer about the PIN.
ANSWER_WORD: dict[str, str] = {T.CHECK_IN: "OK", T.LEFT_HOME: "LEFT", T.BACK_SAFE: "SAFE", T.ARRIVED: "ARRIVED"}


# ----------------------------------------------------------------------------- reading a text

def normalise_number(number: str) -> str:
    """A phone number however it is written, in one form (+447700900123); "" for none.
    UK numbers written nationally (07700 900123), with the country code but no plus
    (447700900123) or with the trunk zero kept in brackets (+44 (0)7700 900123) all agree."""
    raw = (number or "").strip()
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return ""
    if raw.startswith("00"):
        digits, raw = digits[2:], "+" + raw[2:]
    if raw.startswith("+") or (digits.startswith("44") and len(digits) >= 12):
        if digits.startswith("44"):
            return "+44" + digits[2:].removeprefix("0")
        return "+" + digits
    if digits.startswith("0"):
        return "+44" + digits[1:]
    return "+" + digits


def display_number(number: str) -> str:
    """The number as people in the UK write it (07700 900123); any other as it is."""
    normal = normalise_number(number)
    if normal.startswith("+44") and len(normal) == 13:
        national = "0" + normal[3:]
        return f"{national[:5]} {national[5:]}"
    return (number or "").strip()


@dataclass(frozen=True)
class Reading:
    """What a text asks for: the event type ("" when not understood) and the PIN ("" for none)."""

    event_type: str
    pin: str
    word: str


def read_text(body: str) -> Reading:
    """The keyword language (module docstring): forgiving of case, spaces and punctuation."""
    plain = unicodedata.normalize("NFKD", body or "").encode("ascii", "ignore").decode().upper()
    tokens = re.findall(r"[A-Z]+|[0-9]+", plain)
    words = [t for t in tokens if t.isalpha()]
    pin = "".join(t for t in tokens if t.isdigit())
    if HELP_WORDS & set(words):
        return Reading(T.PANIC, "", "HELP")
    if not words or tokens[0] != words[0]:
        return Reading("", pin, "")
    first = words[0]
    if first == "LEFT" and "SCHOOL" in words[1:2]:
        return Reading("", pin, first)  # leaving school is recorded on the phone before going
    return Reading(KEYWORDS.get(first, ""), pin, first)


# ----------------------------------------------------------------------------- who and which visit

def staff_with_number(number: str) -> list[StaffMember]:
    """The active staff whose mobile, however entered, is this number."""
    wanted = normalise_number(number)
    if not wanted:
        return []
    people = StaffMember.objects.active().exclude(mobile="").select_related("school").order_by("pk")
    return [s for s in people if normalise_number(s.mobile) == wanted]


def visit_for_text(staff: StaffMember, event_type: str) -> Visit | None:
    """The visit a text from this person is about, as the phone would offer it: the one under
    way they have not checked out of (the latest started, if somehow two are), for an alarm
    any visit of theirs under way, and for an event that starts a visit (ARRIVED, HELP) the
    scheduled visit of theirs today nearest to now."""
    listed = [v for v in briefing.my_visits_today(staff) if can(staff, "briefing.view", v)]
    under_way = [v for v in listed if v.state == State.UNDER_WAY]
    events = {v.pk: journey.events_of(v) for v in under_way}
    still_out = [v for v in under_way if not journey.checked_out(policy_for(v), events[v.pk], staff.pk)]
    now = timezone.now()
    scheduled = [v for v in listed if v.state == State.SCHEDULED]
    nearest = min(scheduled, key=lambda v: (abs((v.starts_at - now).total_seconds()), v.pk)) if scheduled else None
    if event_type == T.ARRIVED and nearest is not None and still_out and all(
            any(e.type == T.ARRIVED for e in events[v.pk]) for v in still_out):
        # ARRIVED from someone already at a door means the next visit: recording it there is
        # refused while they have not left the other home, and the answer names that visit.
        return nearest
    if still_out:
        return max(still_out, key=lambda v: (v.starts_at, v.pk))
    if event_type in journey.DANGER_TYPES and under_way:
        return max(under_way, key=lambda v: (v.starts_at, v.pk))
    if event_type in journey.STARTING_TYPES:
        return nearest
    return None


# ----------------------------------------------------------------------------- answering

@dataclass(frozen=True)
class Answer:
    """What the sender is told, and who they are when they were matched (None otherwise)."""

    text: str
    staff: StaffMember | None = None
    recorded: bool = False


def answer_text(sender: str, body: str, *, to: str = "", provider: str = "",
                request: HttpRequest | None = None) -> Answer:
    """Read a text sent to the Doorstep number, record what it asks through
    safety.recording.record_event(), and say what to answer (see the module docstring)."""
    reading = read_text(body)
    people = staff_with_number(sender)
    if len(people) != 1:
        _not_recorded(None, "shared number" if people else "unknown number", sender, to, provider, reading, request,
                      schools={p.school for p in people})
        if reading.event_type == T.PANIC and people:
            _help_with_no_visit(people)
        return Answer(NEUTRAL)
    me = people[0]
    visit = visit_for_text(me, reading.event_type)
    if visit is None:
        _not_recorded(me, "no visit under way", sender, to, provider, reading, request)
        if reading.event_type == T.PANIC:
            _help_with_no_visit([me])
        return Answer(NEUTRAL)
    if not reading.event_type:
        _not_recorded(me, "not understood", sender, to, provider, reading, request, visit=visit)
        return Answer(NOT_UNDERSTOOD, me)
    return _record(visit, me, reading, _Came(sender, to, provider), request)


@dataclass(frozen=True)
class _Came:
    """Where a text came from, for the audit trail."""

    sender: str
    to: str
    provider: str


def _record(visit: Visit, me: StaffMember, reading: Reading, came: _Came, request: HttpRequest | None) -> Answer:
    """Record through record_event() as the phone does; a refusal is answered in the phone's
    words (never a pupil's details: they hold none) and audited, a wrong PIN as the phone's is."""
    event_type = reading.event_type
    word = ANSWER_WORD.get(event_type, reading.word)
    try:
        result = recording.record_event(visit, event_type, by=me, via=Via.SMS, pin=reading.pin or None,
                                        request=request)
    except recording.PinsPaused:
        return Answer(recording.PIN_PAUSED, me)  # the same for every PIN, the duress PIN included
    except ValidationError as refused:
        pin_errors = refused.message_dict.get("pin", []) if hasattr(refused, "error_dict") else []
        if pin_errors and pin_errors[0] == recording.PIN_PAUSED:
            return Answer(recording.PIN_PAUSED, me)  # the fifth wrong PIN: audited by recording
        if pin_errors and pin_errors[0] == recording.PIN_WRONG:
            return Answer(PIN_NOT_RECOGNISED.format(word=word), me)  # audited (and counted) by recording
        _not_recorded(me, "no PIN" if pin_errors == [recording.PIN_ENTER] else "refused", came.sender, came.to,
                      came.provider, reading, request, visit=visit)
        if pin_errors == [recording.PIN_ENTER]:
            return Answer(PIN_NEEDED.format(word=word), me)
        return Answer(_safe("Not recorded: " + " ".join(refused.messages), me), me)
    except NotAllowed as refused:
        _not_recorded(me, "refused", came.sender, came.to, came.provider, reading, request, visit=visit)
        return Answer(_safe(f"Not recorded: {refused}", me), me)
    if event_type == T.PANIC:
        return Answer(PANIC_SENT, me, recorded=True)
    return Answer(_safe(_message(visit, me, result, event_type), me), me, recorded=True)


def _message(visit: Visit, me: StaffMember, result: recording.Recorded, event_type: str) -> str:
    """The phone's words (checkins.views._phone_message): from this person's own events only,
    never from alerts or the watch's status, so a duress PIN cannot change them."""
    events = journey.events_of(visit)
    if result.next_kind is None or journey.checked_out(policy_for(visit), events, me.pk):
        return (f"{T(event_type).label} recorded at {timezone.localtime(result.event.at):%H:%M}. "
                "Thank you: you are checked out of this visit.")
    return result.message


def _safe(text: str, me: StaffMember) -> str:
    """Never a pupil's details in a text leaving the school."""
    return SAFE_FALLBACK if notify_services.pupil_details_in(me.school, body=text) else text


def _not_recorded(staff: StaffMember | None, why: str, sender: str, to: str, provider: str, reading: Reading,
                  request: HttpRequest | None, *, visit: Visit | None = None,
                  schools: set[Any] | None = None) -> None:
    """Audit a text that recorded nothing. The text itself is not kept (it may hold a PIN):
    only the keyword read from it."""
    school = staff.school if staff is not None else (next(iter(schools)) if schools and len(schools) == 1 else None)
    who = staff.full_name if staff is not None else "an unknown number"
    audit.record(
        actor=None, school=school, action=Action.CHECKIN_TEXT_NOT_RECORDED, obj=visit or staff, request=request,
        summary=f"A text to the Doorstep number from {who} recorded nothing ({why})",
        data={"why": why, "from": sender, "to": to, "provider": provider, "keyword": reading.word,
              "event": reading.event_type, "staff": staff.pk if staff is not None else None},
    )


def _help_with_no_visit(people: list[StaffMember]) -> None:
    """HELP from staff's number with no visit to raise the alarm on (none under way, or a
    number several people share): each one's school office and headteacher are told to call,
    never silence. Each school hears only of its own staff."""
    at = timezone.localtime()
    by_school: dict[int, list[StaffMember]] = {}
    for person in people:
        by_school.setdefault(person.school_id, []).append(person)
    for school_id, staff in by_school.items():
        names = and_list(s.full_name for s in staff)
        why = "but they have no visit under way" if len(people) == 1 else "from a mobile more than one person has"
        notify_services.notify(
            alerting.recipients(school_id, ["office", "headteacher"]), kind="checkin.text_help",
            school=staff[0].school,
            subject=f"HELP texted from {names}'s phone"[:100],
            body=f"{names}'s mobile texted HELP to the Doorstep number at {at:%H:%M}, {why}. Call them now.",
            idempotency_key=f"text-help:{'-'.join(str(s.pk) for s in staff)}:{at:%Y%m%d%H%M}"[:100],
        )


# ----------------------------------------------------------------------------- provider call-backs

def answer_by_outbox(answer: Answer, *, ref: str) -> list[Message]:
    """GOV.UK Notify cannot answer inline: the answer goes to the sender (and only them) as a
    text through the outbox, once per received text (`ref`, Notify's id for it)."""
    if answer.staff is None:
        return []
    return notify_services.notify(
        [answer.staff], kind="checkin.text_reply", school=answer.staff.school, subject="Your text",
        body=answer.text, idempotency_key=f"text-reply:{ref}"[:100], channels=[Channel.SMS],
    )


def already_answered(ref: str) -> bool:
    """A received text Notify sends again (its call-back is retried) was handled already."""
    return Message.objects.filter(idempotency_key=f"text-reply:{ref}"[:100]).exists()


def received_by_notify(ref: str, sender: str, body: str, *, to: str = "",
                       request: HttpRequest | None = None) -> Answer | None:
    """A text GOV.UK Notify passed on: recorded and answered through the outbox once per
    Notify id; None when this id was handled already (Notify retries a call-back it thinks
    failed). Two deliveries of one text at the same moment queue on the sender's staff row,
    so the second finds the first's answer and does nothing."""
    people = staff_with_number(sender)
    with transaction.atomic():
        if len(people) == 1:
            StaffMember.objects.select_for_update().filter(pk=people[0].pk).first()
        if already_answered(ref):
            return None
        answer = answer_text(sender, body, to=to, provider="notify", request=request)
        answer_by_outbox(answer, ref=ref)
    return answer


def hook_refused(provider: str, why: str, request: HttpRequest | None) -> None:
    """A call to a provider hook without the provider's signature or token: nothing is done,
    and it is written down."""
    audit.record(
        actor=None, school=None, action=Action.HOOK_REFUSED, obj=None, request=request,
        summary=f"A call claiming to be from {provider} was refused: {why}",
        data={"provider": provider, "why": why, "path": request.path if request is not None else ""},
    )

