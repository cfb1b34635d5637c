"""Recording what happens on a visit under way: the one way in for the phone, the office's
calls and the API (docs/safety-core.md).

`record_event()` checks who may record it (safety.events), the PIN, the visit's state and the
order of events (safety.journey), appends the `VisitEvent` (safety.events), starts the visit
(the first "left school" or "arrived", through visits.services.transition), keeps the visit's
`Watch` at the next deadline (safety.watch), raises the top alert for a code word, a panic or
a duress PIN and settles a missed check-in (safety.alerting), and writes the audit trail: all
in one transaction. `close_not_seen()` and `abandon()` are the two decisions taken at the door.

Decisions written down here because the policies leave them to us:

- A late check-in (from the phone with the safe PIN or no PIN, or by the office from a
  call, "checked in by phone") means the staff have been reached: the watch goes back to
  `ok` at the next deadline, and the visit's open "overdue" / "office call missed" alerts
  stop escalating (their token changes, exactly as acknowledging does) and record
  `contact_at`. They stay on the board until a person resolves them with a reason, as the
  simulator's `contact_restored` entry says and BS 8484's records need (a verified cause
  for every alarm). Code word, panic and duress alerts are never touched by a check-in.
- A duress PIN records exactly what the safe PIN would, returns exactly the same answer,
  and raises the top alert in the same transaction. Nothing the phone can read (the event,
  the answer, the visit's state) shows it.
- Closing as not seen and abandoning are decided at the door, but the watch goes on until
  everyone is back safe: the visit takes its outcome (not seen / abandoned) then.
- Messages carry no pupil name or address, so the written reason for abandoning reaches the
  headteacher as a link to the visit, where it is recorded.
"""
from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DateTimeField, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.api_auth import note_token_use
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEntry
from core.errors import NotAllowed
from core.text import and_list
from notify import services as notify_services
from people.models import StaffMember
from policies.services import policy_for
from policy_engine import Policy, cite
from policy_engine.timing import Deadline
from safety.alerts.models import Alert
from safety.checkins.models import VisitEvent, Watch
from visits import services as visit_services
from visits.models import Visit

from . import alerting, journey
from . import events as visit_events
from . import watch as watches

if TYPE_CHECKING:
    from django.http import HttpRequest

T = VisitEvent.Type
Via = VisitEvent.Via
State = Visit.State

# Where a PIN may be asked: wherever a PIN is asked, the duress PIN works.
PIN_TYPES = {T.CHECK_IN, T.LEFT_HOME, T.BACK_SAFE, T.ARRIVED, T.ENTERED, T.LEFT_SCHOOL}
ABANDON_REASONS = dict(VisitEvent.AbandonReason.choices)


@dataclass(frozen=True)
class Recorded:
    """What the member of staff's phone is told. The same for a safe and a duress PIN."""

    event: VisitEvent
    visit_state: str
    next_kind: str | None
    next_due_at: datetime.datetime | None
    message: str
    card: bool = False

    def to_phone(self) -> dict[str, Any]:
        return {
            "event": {
                "id": self.event.pk, "type": self.event.type, "at": self.event.at.isoformat(),
                "staff_id": self.event.staff_id, "via": self.event.via,
            },
            "visit": {"id": self.event.visit_id, "state": self.visit_state},
            "next": None if self.next_kind is None else {
                "kind": self.next_kind, "due_at": self.next_due_at.isoformat() if self.next_due_at else None,
            },
            "message": self.message,
            "card": self.card,
        }


def _link(visit: Visit) -> str:
    return reverse("visits:detail", args=[visit.pk])


def _names(staff: Iterable[StaffMember]) -> str:
    return and_list((s.full_name for s in staff), empty="staff")


# ----------------------------------------------------------------------------- the PIN

# The phone asks for a PIN on these once a person has set PINs (checkins/views.py's forms read
# this set), and so does the API: a check-in without a PIN must not be easier by one than the other.
PIN_ASKED_TYPES = {T.CHECK_IN, T.LEFT_HOME}
# Four digits can be guessed: after this many wrong PINs in a row, PIN entry pauses for a while.
PIN_TRIES = 5
PIN_PAUSE = datetime.timedelta(minutes=15)
PIN_ENTER = "Enter your PIN."
PIN_WRONG = "That PIN is not right. Try again."
PIN_PAUSED = ("Too many wrong PINs: PIN entry is paused for 15 minutes. Call the office now and tell "
              "them you are safe.")


class PinsPaused(ValidationError):
    """PIN entry is paused. `duress` says the PIN given was the duress PIN: the alarm is raised
    though the phone shows the same pause as for any other PIN, so the pause never tells an
    onlooker which PIN was which."""

    def __init__(self, duress: bool) -> None:
        super().__init__({"pin": PIN_PAUSED})
        self.duress = duress


class WrongPin(ValidationError):
    """A wrong PIN, the `in_a_row`th: refused, and written down once the check that found it
    has been rolled back (_note_wrong_pin)."""

    def __init__(self, in_a_row: int) -> None:
        super().__init__({"pin": PIN_PAUSED if in_a_row >= PIN_TRIES else PIN_WRONG})
        self.in_a_row = in_a_row


def _wrong_pins(by: StaffMember, now: datetime.datetime) -> int:
    """Wrong PINs in a row: since the last good one, within the pause. Nothing to count (and
    nothing read) when no wrong PIN was entered within the pause, as on nearly every check-in;
    otherwise one query."""
    since = now - PIN_PAUSE
    if by.wrong_pin_at is None or by.wrong_pin_at <= since:
        return 0
    last_good = VisitEvent.objects.filter(recorded_by=by, via__in=journey.FROM_THE_STAFF, recorded_at__gte=since) \
        .order_by("-recorded_at").values("recorded_at")[:1]
    return AuditEntry.objects.filter(
        action=Action.CHECKIN_PIN_WRONG, object_type="people.staffmember", object_id=str(by.pk),
        at__gt=Coalesce(Subquery(last_good), Value(since, output_field=DateTimeField())),
    ).count()


def _check_pin(event_type: str, by: StaffMember, via: str, pin: str | None, now: datetime.datetime) -> str | None:
    """None (no PIN given), "safe" or "duress". Writes nothing: a wrong PIN raises WrongPin
    and a PIN given while PIN entry is paused raises PinsPaused, for record_event to act on."""
    if pin is None or pin == "":
        if via in journey.FROM_THE_STAFF and event_type in PIN_ASKED_TYPES and by.has_pins:
            raise ValidationError({"pin": PIN_ENTER})
        return None
    if via not in journey.FROM_THE_STAFF:
        raise ValidationError({"pin": "A PIN is entered on the member of staff's own phone, not by the office."})
    if event_type not in PIN_TYPES:
        raise ValidationError({"pin": f"No PIN is asked when recording {T(event_type).label.lower()}."})
    if not by.has_pins:
        raise ValidationError({"pin": "You have not set your PINs yet: set them on your profile first."})
    result = by.check_pin(pin)  # checked even while paused: the duress PIN must still raise the alarm
    wrong = _wrong_pins(by, now)
    if wrong >= PIN_TRIES:
        raise PinsPaused(duress=result == "duress")
    if result is None:
        raise WrongPin(wrong + 1)
    return result


def _note_wrong_pin(visit: Visit, by: StaffMember, wrong: WrongPin, request: HttpRequest | None) -> None:
    """A wrong PIN changes nothing but the count of wrong PINs; the fifth in a row pauses PIN
    entry and tells the office."""
    with transaction.atomic():
        audit.record(actor=by, school=visit.school, action=Action.CHECKIN_PIN_WRONG, obj=by, request=request,
                     summary=f"A wrong PIN was entered on {by.full_name}'s phone",
                     data={"visit": visit.pk, "in_a_row": wrong.in_a_row})
        # After the entry, so that this is never earlier than the entry's own time.
        by.wrong_pin_at = timezone.now()
        StaffMember.objects.filter(pk=by.pk).update(wrong_pin_at=by.wrong_pin_at)
        if wrong.in_a_row >= PIN_TRIES:
            _tell_the_office_pins_paused(visit, by)


def _duress_while_paused(visit: Visit, by: StaffMember) -> None:
    """The duress PIN typed while PIN entry is paused: nothing is recorded as the person asked,
    and the phone shows the pause as for any PIN, but the office gets the silent top alarm."""
    with transaction.atomic():
        locked, _ = watches.lock(visit)
        alerting.raise_alert(locked, kind="duress", now=timezone.now(), staff=[by])


def _tell_the_office_pins_paused(visit: Visit, by: StaffMember) -> None:
    """Five wrong PINs at a front door may be a mistyping or someone else holding the phone:
    the office is told to call."""
    office = alerting.recipients(visit.school_id, ["office", "headteacher"], visit)
    notify_services.notify(office, kind="checkin.pins_paused", school=visit.school,
           subject=f"Wrong PINs on {by.full_name}'s phone",
           body=f"{PIN_TRIES} wrong PINs in a row were entered on {by.full_name}'s phone during a home visit; "
                "PIN entry is paused for 15 minutes. Call them now.",
           link=_link(visit), idempotency_key=f"pins-paused:{by.pk}:{timezone.now():%Y%m%d%H%M}")


# ----------------------------------------------------------------------------- recording

# How an event came in, in the visit's history and the alert's note.
_HOW_NOTE: dict[str, str] = {Via.PHONE: "from the phone", Via.SMS: "by text message"}
_HOW_CONTACT: dict[str, str] = {Via.PHONE: "from their phone", Via.SMS: "by text message"}

def record_event(visit: Visit, type: str, *, by: StaffMember, staff: StaffMember | None = None, via: str = Via.PHONE,
                 pin: str | None = None, concerns: str = "", note: str = "",
                 expected_return: datetime.datetime | None = None, location: str = "",
                 at: datetime.datetime | None = None, request: HttpRequest | None = None) -> Recorded:
    """Record one event of a visit under way; see the module docstring. Raises NotAllowed
    (who, the visit's state, the order of events) or ValidationError (bad input, wrong PIN),
    and then nothing is written."""
    event_type = type
    if event_type not in journey.TIMING_TYPES:
        raise ValidationError({"type": "Choose one of: " + ", ".join(sorted(journey.TIMING_TYPES)) + "."})
    if event_type == T.CODE_WORD and via != Via.OFFICE_CALL:
        # The code word is spoken to the office in a call or text (C 2.8, P §4¶7); on the phone it is panic.
        raise ValidationError({"type": "The code word is recorded by the office from a call; on the phone use panic."})
    now = timezone.now()
    at = visit_events.check_time(at, now)
    if expected_return is not None and timezone.is_naive(expected_return):
        expected_return = timezone.make_aware(expected_return)
    if event_type == T.LEFT_SCHOOL and expected_return is not None and expected_return <= at:
        raise ValidationError({"expected_return": "The expected return must be after leaving school."})
    locked: Visit | None = None
    try:
        with transaction.atomic():
            # The visit is read once, locked: who may record, the PIN and the order of events
            # are all checked against that read, and the team it reads gives the deadline too.
            locked, watch = watches.lock(visit)
            team = visit_events.check_recorder(locked, by, via, staff)
            pin_result = _check_pin(event_type, by, via, pin, now)
            if staff is None and via in journey.FROM_THE_STAFF:
                staff = by  # on their own phone (or by text), it is about them
            events = journey.events_of(locked)
            # The visit's open alerts, read once (and not at all while the watch is fine): what a
            # check-in settles and the watch's status both come from them. Raising or settling
            # one changes them, and then refresh() reads them again.
            unresolved: list[Alert] | None = watches.alerts_to_settle(locked, watch)
            staff_id = staff.pk if staff is not None else None
            journey.refuse_out_of_order(locked, events, event_type, staff_id, watch.outcome if watch else "", via)
            if event_type == T.ARRIVED:
                visit_events.refuse_second_home(locked, [staff] if staff is not None else None, by, now)
            policy = policy_for(locked)

            event = visit_events.create(
                locked, event_type, at=at, now=now, by=by, via=via, staff=staff, concerns=concerns, note=note,
                expected_return=expected_return, location=location,
            )
            events.append(event)
            if locked.state == State.SCHEDULED:
                visit_services.transition(
                    locked, State.UNDER_WAY, by, request=request,
                    permission="checkin.record" if via in journey.FROM_THE_STAFF else "checkin.record_call",
                    note=f"{T(event_type).label} recorded {_HOW_NOTE.get(via, 'by the office')}",
                )
                watch = watches.start(locked, now, watch)  # watched since it was scheduled: the same row goes on
            elif watch is None:
                watch = watches.start(locked, now)

            watches.note_event(watch, event)

            duress = pin_result == "duress"
            if duress:
                alerting.raise_alert(locked, kind="duress", now=now, event=event, staff=[by])
                unresolved = None
            elif event_type in journey.DANGER_TYPES:
                alerting.raise_alert(locked, kind=event_type, now=now, event=event,
                                     staff=[staff] if staff is not None else None)
                unresolved = None
            elif event_type in journey.CONTACT_TYPES and unresolved:
                how = _HOW_CONTACT.get(via, f"by {by.full_name} from a call")
                alerting.contact_restored(locked, by=by, now=now,
                                          note=f"{T(event_type).label} recorded {how} at {timezone.localtime(at):%H:%M}")
                unresolved = None

            deadline = watches.refresh(watch, locked, policy, events, now, unresolved, team)
            if request is not None:
                note_token_use(request)  # the phone's API token: in this write, not one of its own

            audit.record(
                actor=by, school=locked.school, action=Action.VISIT_EVENT, obj=locked, request=request,
                summary=f"{by.full_name} recorded {T(event_type).label.lower()}"
                        + (f" for {staff.full_name}" if staff is not None and staff.pk != by.pk else "")
                        + (" (office call)" if via == Via.OFFICE_CALL else "")
                        + (" (by text message)" if via == Via.SMS else ""),
                reason=event.concerns or event.note,
                # What staff flag at the door is for the DSL, not for everyone who opens the visit.
                data={"private_reason": bool(event.concerns), "event": event.pk, "type": event_type, "via": via,
                      "at": at, "staff": staff_id,
                      "location": event.location, "expected_return": expected_return,
                      "next": deadline.kind if deadline else None},
            )
            watches.finish_if_everyone_back(locked, watch, policy, events, by, via, now, request,
                                            checked_out=deadline is None)
    except WrongPin as wrong:
        if locked is not None:  # read before the PIN was checked
            _note_wrong_pin(locked, by, wrong, request)
        raise
    except PinsPaused as paused:
        if paused.duress:
            _duress_while_paused(visit, by)
        raise

    # The caller's visit as it now is (started, or finished), from the row read under the lock.
    for field in Visit._meta.concrete_fields:
        setattr(visit, field.attname, getattr(locked, field.attname))
    # What the phone is told depends only on the events, never on alerts: with everyone checked
    # out it shows the visit closed even while a duress alarm keeps it open in the office.
    checked_out = deadline is None
    shown_state = journey.OUTCOME_STATES.get(watch.outcome, State.COMPLETED) if checked_out else State.UNDER_WAY
    message = _phone_message(event_type, deadline, policy, checked_out)
    return Recorded(event=event, visit_state=shown_state, next_kind=deadline.kind if deadline else None,
                    next_due_at=deadline.due_at if deadline else None, message=message)


def _phone_message(event_type: str, deadline: Deadline | None, policy: Policy, finished: bool) -> str:
    if finished:
        return "Thank you: everyone on this visit has checked out safely."
    # A check-in is what was recorded: "Checked in recorded." reads as a slip.
    text = f"{'Check-in' if event_type == T.CHECK_IN else T(event_type).label} recorded."
    if deadline is not None:
        text += f" Next: {deadline.what or deadline.kind.replace('_', ' ')} by {timezone.localtime(deadline.due_at):%H:%M}."
    adult_present = policy.doorstep.adult_present_to_enter
    if event_type == T.PARENT_LATE_NOTICE and adult_present.value:
        text += (" Wait outside: do not go in before the parent or another appropriate adult is there "
                 f"({cite(adult_present.clause)}).")
    return text


# ----------------------------------------------------------------------------- on the doorstep

def doorstep_status(visit: Visit, now: datetime.datetime | None = None) -> dict[str, Any]:
    """What the phone shows on the doorstep: the wait for an absent parent or a late one, when
    the visit may be closed as not seen, and whether a card is left (from policy_engine.timing)."""
    now = now or timezone.now()
    policy = policy_for(visit)
    events = journey.events_of(visit)
    entries = journey.timeline(visit, policy, events, until=max(now, visit.ends_at) + datetime.timedelta(hours=6))
    waits = [e for e in entries if e.kind in ("not_seen_allowed", "late_limit_reached")]
    past = [e for e in waits if e.at <= now]
    future = [e for e in waits if e.at > now]
    door = policy.doorstep
    card = door.not_seen_card.value or door.absent_parent_action.value == "leave_card"
    card_clause = door.not_seen_card.clause if door.not_seen_card.value else door.absent_parent_action.clause
    late = any(e.type == T.PARENT_LATE_NOTICE for e in events)
    return {
        "waiting": bool(waits) and not past,
        "may_close_not_seen": bool(past),
        "from": (past[0].at if past else (future[0].at if future else None)),
        "clause": (past or future)[0].clause if (past or future) else "",
        "message": (past or future)[0].message if (past or future) else "",
        "card": card,
        "card_clause": cite(card_clause) if card else "",
        "do_not_enter_before_parent": late and door.adult_present_to_enter.value,
        "do_not_enter_clause": cite(door.adult_present_to_enter.clause) if late else "",
    }


def close_not_seen(visit: Visit, *, by: StaffMember, via: str = Via.PHONE, note: str = "",
                   at: datetime.datetime | None = None, request: HttpRequest | None = None) -> Recorded:
    """The family did not come to the door: close the visit as not seen once the policy's wait
    (or the late-notice limit) is over, with the card to leave where the policy asks for one."""
    now = timezone.now()
    at = visit_events.check_time(at, now)
    visit_events.check_recorder(visit, by, via, None)
    staff = by if via == Via.PHONE else None
    with transaction.atomic():
        locked, watch = watches.lock(visit)
        if locked.state != State.UNDER_WAY or watch is None:
            raise NotAllowed("Only a visit under way can be closed as not seen.")
        if watch.outcome:
            raise NotAllowed(f"This visit is already closed as {watch.outcome.replace('_', ' ')}.")
        events = journey.events_of(locked)
        if any(e.type == T.ENTERED for e in events):
            raise NotAllowed("You went in, so the family was seen: record leaving the home instead.")
        status = doorstep_status(locked, now)
        policy = policy_for(locked)
        if not status["may_close_not_seen"]:
            if status["from"] is not None:
                raise NotAllowed(
                    f"The school's policy ({cite(status['clause'])}) asks you to wait: you can close "
                    f"this visit as not seen from {timezone.localtime(status['from']):%H:%M}."
                )
            raise NotAllowed("Record that the parent is not at home (or phoned to say they are late) first.")
        event = visit_events.create(locked, T.NOT_SEEN, at=at, now=now, by=by, via=via, staff=staff, note=note)
        _after_door_decision(locked, watch, "not_seen", policy, events + [event], by, now)
        card = status["card"]
        audit.record(
            actor=by, school=locked.school, action=Action.VISIT_CLOSED_NOT_SEEN, obj=locked, request=request,
            summary=f"{by.full_name} closed the visit as not seen" + (" and left a card" if card else ""),
            reason=event.note, data={"event": event.pk, "clause": status["clause"], "card": card,
                                     "card_clause": status["card_clause"]},
        )
    text = "Closed as not seen."
    if card:
        text += f" Leave a 'sorry we missed you' card ({status['card_clause']})."
    text += " Record back safe when you are back."
    return Recorded(event=event, visit_state=State.UNDER_WAY, next_kind=watch.next_kind or None,
                    next_due_at=watch.due_at, message=text, card=card)


def _after_door_decision(visit: Visit, watch: Watch, outcome: str, policy: Policy, events: Sequence[VisitEvent],
                         by: StaffMember, now: datetime.datetime) -> None:
    """Closing at the door is word from the staff: settle a missed check-in, and move the
    watch to the next deadline of the plan (leaving, back safe)."""
    alerting.contact_restored(visit, by=by, now=now, note=f"{by.full_name} closed the visit at the door")
    watches.note_door_decision(watch, outcome, now)
    watches.refresh(watch, visit, policy, events, now)


def abandon(visit: Visit, reason: str, *, by: StaffMember, note: str, via: str = Via.PHONE,
            at: datetime.datetime | None = None, request: HttpRequest | None = None) -> Recorded:
    """Leave without doing the visit (felt unsafe, animals not shut away, no appropriate adult,
    other). The written reason is required and reaches the headteacher as the policy asks
    (doorstep.unsafe_report, doorstep.animals_written_reason). The watch goes on until
    everyone is back safe."""
    now = timezone.now()
    at = visit_events.check_time(at, now)
    note = (note or "").strip()
    errors = {}
    if reason not in ABANDON_REASONS:
        errors["reason"] = "Choose why: " + ", ".join(label.lower() for label in ABANDON_REASONS.values()) + "."
    if not note:
        errors["note"] = "Write down what happened: the headteacher is sent your written reason."
    if errors:
        raise ValidationError(errors)
    visit_events.check_recorder(visit, by, via, None)
    staff = by if via == Via.PHONE else None
    with transaction.atomic():
        locked, watch = watches.lock(visit)
        if locked.state != State.UNDER_WAY or watch is None:
            raise NotAllowed("Only a visit under way can be abandoned.")
        if watch.outcome:
            raise NotAllowed(f"This visit is already closed as {watch.outcome.replace('_', ' ')}.")
        policy = policy_for(locked)
        event = visit_events.create(locked, T.ABANDONED, at=at, now=now, by=by, via=via, staff=staff, note=note,
                                    reason=reason)
        Visit.objects.filter(pk=locked.pk).update(closed_reason=f"{ABANDON_REASONS[reason]}: {note}")
        _after_door_decision(locked, watch, "abandoned", policy, journey.events_of(locked), by, now)

        # Which rule sends the reason to the headteacher: animals have their own in some
        # policies (C 3.9); otherwise the rule for not going in because of feeling unsafe.
        door = policy.doorstep
        if reason == VisitEvent.AbandonReason.ANIMALS and door.animals_written_reason.value:
            report, clause = "written_to_headteacher", cite(door.animals_written_reason.clause)
        else:
            report, clause = door.unsafe_report.value, cite(door.unsafe_report.clause)
        heads = []
        if report in ("written_to_headteacher", "told_to_headteacher"):
            heads = list(StaffMember.objects.active().filter(school=locked.school_id).with_role("headteacher").distinct())
            team = visit_services.visit_staff(locked)
            notify_services.notify(
                heads, kind="visit.abandoned", school=locked.school,
                subject="A home visit was abandoned",
                body=(f"{_names(team)} abandoned a home visit at {timezone.localtime(at):%H:%M} "
                      f"({ABANDON_REASONS[reason].lower()}). The written reason is recorded in Doorstep "
                      f"for you to read ({clause})."),
                link=_link(locked), idempotency_key=f"visit:{locked.pk}:abandoned:{event.pk}",
            )
        audit.record(
            actor=by, school=locked.school, action=Action.VISIT_ABANDON_REPORTED, obj=locked, request=request,
            summary=f"{by.full_name} abandoned the visit ({ABANDON_REASONS[reason].lower()})",
            reason=note, data={"private_reason": True, "event": event.pk, "reason": reason, "report": report,
                               "clause": clause,
                               "sent_to": [h.pk for h in heads]},
        )
    return Recorded(event=event, visit_state=State.UNDER_WAY, next_kind=watch.next_kind or None,
                    next_due_at=watch.due_at,
                    message="Recorded. Leave now, and record back safe when you are somewhere safe.")
