"""The one way to record what happens on a visit under way (docs/safety-core.md).

`record_event()` checks who may record it, the visit's state and the order of events,
writes the append-only `VisitEvent`, starts the visit (the first "left school" or
"arrived", through visits.services.transition), keeps the visit's `Watch` row at the next
deadline from policy_engine.timing.next_deadline(), raises the top alert for a code word, a
panic or a duress PIN, and writes the audit trail: all in one transaction.

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
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from safety.alerts import services as alert_services
from safety.alerts.models import Alert
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEntry
from core.text import and_list
from notify.services import notify
from people.models import StaffMember
from people.permissions import can
from policy_engine import cite
from visits import services as visit_services
from visits.models import Visit, VisitStaff

from .models import VisitEvent, Watch, WatchStaff

T = VisitEvent.Type
Via = VisitEvent.Via
State = Visit.State
NotAllowed = visit_services.NotAllowed

# The event types policy_engine.timing knows (the simulator's input format).
TIMING_TYPES = {
    T.LEFT_SCHOOL, T.ARRIVED, T.PARENT_NOT_HOME, T.PARENT_LATE_NOTICE, T.ENTERED, T.CHECK_IN,
    T.LEFT_HOME, T.BACK_SAFE, T.CODE_WORD, T.PANIC,
}
# Events about one person on a pair visit; the others are about the whole party.
PERSONAL_TYPES = {T.LEFT_SCHOOL, T.LEFT_HOME, T.BACK_SAFE}
# Events that may start a scheduled visit.
STARTING_TYPES = {T.LEFT_SCHOOL, T.ARRIVED, T.CODE_WORD, T.PANIC}
# Events that say nothing about the staff being all right.
DANGER_TYPES = {T.CODE_WORD, T.PANIC}
# Events that mean the staff member was reached: they settle an overdue alert.
CONTACT_TYPES = TIMING_TYPES - DANGER_TYPES
# Where a PIN may be asked (research (d) 2: wherever a PIN is asked, the duress PIN works).
PIN_TYPES = {T.CHECK_IN, T.LEFT_HOME, T.BACK_SAFE, T.ARRIVED, T.ENTERED, T.LEFT_SCHOOL}

ABANDON_REASONS = dict(VisitEvent.AbandonReason.choices)
OUTCOME_STATES = {"not_seen": State.NOT_SEEN, "abandoned": State.ABANDONED}


@dataclass(frozen=True)
class Recorded:
    """What the member of staff's phone is told. The same for a safe and a duress PIN."""

    event: VisitEvent
    visit_state: str
    next_kind: str | None
    next_due_at: datetime.datetime | None
    message: str
    card: bool = False

    def to_phone(self) -> dict:
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


# ----------------------------------------------------------------------------- policy helpers

def _timing():
    from policy_engine import timing  # written alongside this app (docs/safety-core.md)

    return timing


def policy_for(visit):
    version = visit_services.policy_version_for(visit)
    return version, version.load()


def _value(policy, key, default=None):
    value = policy.value(key)
    return default if value is None else value


def _clause(policy, key):
    return cite(policy.clause(key))


def _timing_events(events):
    timing = _timing()
    out = []
    for e in events:
        kind = e.type
        if kind in (T.NOT_SEEN, T.ABANDONED):
            # Closing at the door is word from the staff after the wait: the doorstep deadline
            # is met, and the plan's next check-ins (leaving, back safe) still stand.
            kind = T.CHECK_IN
        if kind not in TIMING_TYPES:
            continue
        who = str(e.staff_id) if (e.staff_id and kind in PERSONAL_TYPES) else None
        out.append(timing.Event(at=e.at, type=kind, staff=who, expected_return=e.expected_return))
    return out


def _staff_keys(visit):
    return tuple(str(pk) for pk in VisitStaff.objects.filter(visit=visit).order_by("-lead", "id")
                 .values_list("staff_id", flat=True))


def next_deadline(visit, policy, events):
    return _timing().next_deadline(policy, visit.starts_at, visit.ends_at, _timing_events(events),
                                   staff=_staff_keys(visit))


def timeline(visit, policy, events, until):
    return _timing().timeline(policy, visit.starts_at, visit.ends_at, _timing_events(events), until,
                              staff=_staff_keys(visit))


def _events(visit):
    return list(VisitEvent.objects.filter(visit=visit).order_by("at", "id"))


def _link(visit):
    try:
        return reverse("visits:detail", args=[visit.pk])
    except NoReverseMatch:  # pragma: no cover - the visits app always has it
        return f"/visits/{visit.pk}/"


def _names(staff):
    return and_list((s.full_name for s in staff), empty="staff")


# ----------------------------------------------------------------------------- checks

def _check_recorder(visit, by, via, staff):
    """Who may record: the staff on the visit from their phone, or the office and leaders from a call."""
    if via not in Via.values:
        raise ValidationError({"via": f"Say how this was recorded: one of {', '.join(Via.values)}."})
    if by is None or not by.active or by.school_id != visit.school_id:
        raise NotAllowed("Only this school's active staff can record what happens on its visits.")
    on_visit = set(VisitStaff.objects.filter(visit=visit).values_list("staff_id", flat=True))
    if via == Via.PHONE:
        if by.pk not in on_visit or not can(by, "checkin.record", visit):
            raise NotAllowed("Only the staff on this visit can record its events from their phone; "
                             "the office records a call as an office call.")
    elif not can(by, "checkin.record_call", visit):
        raise NotAllowed("Only the office, the headteacher, the deputy or the DSL can record a call from the staff.")
    if staff is not None and staff.pk not in on_visit:
        raise ValidationError({"staff": f"{staff.full_name} is not on this visit."})
    return on_visit


# The phone asks for a PIN on these once a person has set PINs (checkins/views.py's forms read
# this set), and so does the API: a check-in without a PIN must not be easier by one than the other.
PIN_ASKED_TYPES = {T.CHECK_IN, T.LEFT_HOME}
# Four digits can be guessed: after this many wrong PINs in a row, PIN entry pauses for a while.
PIN_TRIES = 5
PIN_PAUSE = datetime.timedelta(minutes=15)
PIN_PAUSED = ("Too many wrong PINs: PIN entry is paused for 15 minutes. Call the office now and tell "
              "them you are safe.")


class PinsPaused(ValidationError):
    """PIN entry is paused. `duress` says the PIN given was the duress PIN: the alarm is raised
    though the phone shows the same pause as for any other PIN, so the pause never tells an
    onlooker which PIN was which."""

    def __init__(self, duress: bool):
        super().__init__({"pin": PIN_PAUSED})
        self.duress = duress


def _wrong_pins(by) -> int:
    """Wrong PINs in a row: since the last good one, within the pause."""
    since = timezone.now() - PIN_PAUSE
    last_good = VisitEvent.objects.filter(recorded_by=by, via=Via.PHONE, recorded_at__gte=since) \
        .order_by("-recorded_at").values_list("recorded_at", flat=True).first()
    return AuditEntry.objects.filter(action="checkin.pin_wrong", object_type="people.staffmember",
                                     object_id=str(by.pk), at__gt=last_good or since).count()


def _check_pin(event_type, by, via, pin, visit=None, request=None):
    """None (no PIN given), "safe" or "duress". A wrong PIN changes nothing but the count of
    wrong PINs; the fifth in a row pauses PIN entry and tells the office (PinsPaused)."""
    if pin is None or pin == "":
        if via == Via.PHONE and event_type in PIN_ASKED_TYPES and by.has_pins:
            raise ValidationError({"pin": "Enter your PIN."})
        return None
    if via != Via.PHONE:
        raise ValidationError({"pin": "A PIN is entered on the member of staff's own phone, not by the office."})
    if event_type not in PIN_TYPES:
        raise ValidationError({"pin": f"No PIN is asked when recording {T(event_type).label.lower()}."})
    if not by.has_pins:
        raise ValidationError({"pin": "You have not set your PINs yet: set them on your profile first."})
    result = by.check_pin(pin)  # checked even while paused: the duress PIN must still raise the alarm
    wrong = _wrong_pins(by)
    if wrong >= PIN_TRIES:
        raise PinsPaused(duress=result == "duress")
    if result is None:
        with transaction.atomic():
            audit.record(actor=by, school=by.school, action=Action.CHECKIN_PIN_WRONG, obj=by, request=request,
                         summary=f"A wrong PIN was entered on {by.full_name}'s phone",
                         data={"visit": visit.pk if visit is not None else None, "in_a_row": wrong + 1})
            if wrong + 1 >= PIN_TRIES and visit is not None:
                _tell_the_office_pins_paused(visit, by)
        raise ValidationError({"pin": PIN_PAUSED if wrong + 1 >= PIN_TRIES else "That PIN is not right. Try again."})
    return result


def _duress_while_paused(visit, by) -> None:
    """The duress PIN typed while PIN entry is paused: nothing is recorded as the person asked,
    and the phone shows the pause as for any PIN, but the office gets the silent top alarm."""
    with transaction.atomic():
        locked, _ = _lock(visit)
        alert_services.raise_alert(locked, kind="duress", now=timezone.now(), staff=[by])


def _tell_the_office_pins_paused(visit, by) -> None:
    """Five wrong PINs at a front door may be a mistyping or someone else holding the phone:
    the office is told to call."""
    office = alert_services.recipients(visit.school_id, ["office", "headteacher"], visit)
    notify(office, kind="checkin.pins_paused", school=visit.school,
           subject=f"Wrong PINs on {by.full_name}'s phone",
           body=f"{PIN_TRIES} wrong PINs in a row were entered on {by.full_name}'s phone during a home visit; "
                "PIN entry is paused for 15 minutes. Call them now.",
           link=_link(visit), idempotency_key=f"pins-paused:{by.pk}:{timezone.now():%Y%m%d%H%M}")


def _check_order(visit, events, event_type, staff_id, outcome="", via=Via.PHONE):
    """Refuse an event out of order. A scheduled visit starts with leaving school, arriving or
    an alarm; or with the office's "checked in by phone" when it rang staff who had not
    started (the board's row for a visit nobody started): that call is word from them."""
    label = T(event_type).label.lower()
    if outcome and event_type in (T.ARRIVED, T.PARENT_NOT_HOME, T.PARENT_LATE_NOTICE, T.ENTERED):
        raise NotAllowed(f"This visit was closed as {outcome.replace('_', ' ')} at the door: record leaving or "
                         "back safe instead.")
    if visit.state == State.SCHEDULED:
        if event_type not in STARTING_TYPES and not (event_type == T.CHECK_IN and via == Via.OFFICE_CALL):
            raise NotAllowed(f"This visit has not started: record leaving school or arriving before {label}.")
        return
    if visit.state != State.UNDER_WAY:
        raise NotAllowed(f"This visit is {State(visit.state).label.lower()}, so nothing more can be recorded on it.")
    if staff_id is not None and any(e.type == T.BACK_SAFE and e.staff_id in (None, staff_id) for e in events) \
            and event_type not in DANGER_TYPES:
        raise NotAllowed("You are already recorded as back safe on this visit.")
    arrived = any(e.type == T.ARRIVED for e in events)
    entered = any(e.type == T.ENTERED for e in events)
    if event_type == T.LEFT_SCHOOL and (any(e.type == T.LEFT_SCHOOL and e.staff_id in (None, staff_id) for e in events)
                                        or arrived):
        raise NotAllowed("Leaving school is already recorded for this visit.")
    if event_type == T.ARRIVED and any(e.type == T.ARRIVED and e.staff_id in (None, staff_id) for e in events):
        raise NotAllowed("Arriving is already recorded for this visit.")
    if event_type in (T.PARENT_NOT_HOME, T.ENTERED, T.LEFT_HOME) and not arrived:
        raise NotAllowed(f"Record arriving before {label}.")
    if event_type in (T.PARENT_NOT_HOME, T.PARENT_LATE_NOTICE) and entered:
        raise NotAllowed(f"You have already gone in, so {label} cannot be recorded now.")
    if event_type == T.ENTERED and entered:
        raise NotAllowed("Going in is already recorded for this visit.")
    if event_type == T.LEFT_HOME and any(e.type == T.LEFT_HOME and e.staff_id in (None, staff_id) for e in events):
        raise NotAllowed("Leaving the home is already recorded.")


def _check_time(at, now):
    if at is None:
        return now
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    if at > now + datetime.timedelta(minutes=1):
        raise ValidationError({"at": "An event cannot be recorded in the future."})
    return at


# ----------------------------------------------------------------------------- the watch

def _start_watch(visit, now, watch=None):
    """The watch of a visit as it starts: a new row, or the one it has had since it was
    scheduled, with one check-out row per person going (added if the team changed since)."""
    if watch is None:
        watch = Watch.objects.create(visit=visit, school_id=visit.school_id, started_at=now, updated_at=now)
    else:
        Watch.objects.filter(pk=watch.pk).update(started_at=now)
        watch.started_at = now
    have = set(WatchStaff.objects.filter(watch=watch).values_list("staff_id", flat=True))
    WatchStaff.objects.bulk_create(
        [WatchStaff(watch=watch, staff_id=pk) for pk in
         VisitStaff.objects.filter(visit=visit).order_by("-lead", "id").values_list("staff_id", flat=True)
         if pk not in have]
    )
    return watch


def watch_scheduled(visit, now) -> Watch:
    """Watch a visit from the moment it is scheduled, before anyone taps anything (C 3.10,
    P §4¶3 and §4¶7, Pr 2.3, H §4¶7): its deadline is the one timing.next_deadline() gives a
    visit with no events (the leaving-school check-in at the scheduled start, where the policy
    asks for one), so a visit nobody starts is alerted like any missed check-in. The first
    event takes the same row on. Called inside the transaction that schedules the visit, with
    the visit row locked."""
    version, policy = policy_for(visit)
    watch = Watch.objects.select_for_update().filter(visit=visit).first()
    if watch is None:
        watch = _start_watch(visit, now)
    refresh_watch(watch, visit, policy, _events(visit), now)
    return watch


def stop_watching(visit, now) -> int:
    """A visit cancelled or withdrawn before it started is no longer watched: its watch is
    closed (no deadline, so no alert and no reminder). Refused while the visit has an alert
    nobody has resolved: cancelling is not word that the staff are safe, and would take the
    visit off the office board while its alert went on climbing the ladder. Called inside the
    transaction that cancels the visit, with the visit row locked; returns the rows closed."""
    closed = Watch.objects.filter(visit=visit).exclude(status=Watch.Status.SAFE).update(
        status=Watch.Status.SAFE, next_kind="", what="", due_at=None, alert_at=None, reminder_at=None,
        clause="", deadline_staff="", updated_at=now,
    )
    # Checked after the UPDATE: that waited for a watchdog holding the watch row, so an alert it
    # was raising at that moment is committed and seen here.
    if Alert.objects.filter(visit=visit).exclude(state=Alert.State.RESOLVED).exists():
        raise NotAllowed("This visit has an alert nobody has resolved yet. Resolve it on the office board first "
                         "(say whether the staff are safe), then cancel the visit.")
    return closed


def on_visit_moved(sender, *, visit, from_state, to_state, now, **kwargs) -> None:
    """visits.signals.visit_moved: start watching a visit when it is scheduled, stop when it
    is cancelled or withdrawn before it started. Connected in CheckinsConfig.ready(); an error
    here rolls back the move, so a visit is never scheduled unwatched."""
    if to_state == State.SCHEDULED:
        watch_scheduled(visit, now)
    elif to_state in (State.CANCELLED, State.WITHDRAWN):
        stop_watching(visit, now)


def refresh_watch(watch, visit, policy, events, now):
    """Set the watch to the next deadline and the status the visit's alerts call for.
    Called with the watch row locked, inside the caller's transaction."""
    deadline = next_deadline(visit, policy, events)
    unresolved = Alert.objects.filter(visit=visit).exclude(state=Alert.State.RESOLVED)
    if unresolved.filter(kind__in=Alert.TOP_KINDS).exists():
        status = Watch.Status.ALARM
    elif unresolved.filter(contact_at__isnull=True).exists() or (
            watch.status == Watch.Status.OVERDUE and not _contact_since_overdue(watch, events)):
        status = Watch.Status.OVERDUE
    else:
        status = Watch.Status.OK
    changed_deadline = deadline is None or deadline.alert_at != watch.alert_at or deadline.kind != watch.next_kind
    watch.status = status
    watch.next_kind = deadline.kind if deadline else ""
    watch.what = (deadline.what if deadline else "")[:100]
    watch.due_at = deadline.due_at if deadline else None
    watch.alert_at = deadline.alert_at if deadline else None
    watch.reminder_at = deadline.reminder_at if deadline else None
    if changed_deadline:
        watch.reminder_sent_at = None
    watch.clause = (deadline.clause if deadline else "")[:60]
    watch.deadline_staff = (deadline.staff or "") if deadline else ""
    watch.updated_at = now
    watch.save()
    return deadline


def _contact_since_overdue(watch, events):
    # An overdue watch whose alert was resolved without the staff being reached stays overdue
    # (e.g. resolved as "police called") until they or the office record something.
    return any(e.type in CONTACT_TYPES and e.recorded_at >= watch.updated_at for e in events)


def _lock(visit):
    # FOR NO KEY UPDATE: a watchdog inserting an alert for this visit takes FOR KEY SHARE on it
    # (the foreign key) while holding the watch row; FOR UPDATE here would deadlock with it.
    locked = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
    watch = Watch.objects.select_for_update().filter(visit=locked).first()
    return locked, watch


# ----------------------------------------------------------------------------- recording

def record_event(visit, type, *, by, staff=None, via=Via.PHONE, pin=None, concerns="", note="",
                 expected_return=None, location="", at=None, request=None) -> Recorded:
    """Record one event of a visit under way; see the module docstring. Raises NotAllowed
    (who, the visit's state, the order of events) or ValidationError (bad input, wrong PIN),
    and then nothing is written."""
    event_type = type
    if event_type not in TIMING_TYPES:
        raise ValidationError({"type": "Choose one of: " + ", ".join(sorted(TIMING_TYPES)) + "."})
    if event_type == T.CODE_WORD and via != Via.OFFICE_CALL:
        # The code word is spoken to the office in a call or text (C 2.8, P §4¶7); on the phone it is panic.
        raise ValidationError({"type": "The code word is recorded by the office from a call; on the phone use panic."})
    now = timezone.now()
    at = _check_time(at, now)
    if expected_return is not None and timezone.is_naive(expected_return):
        expected_return = timezone.make_aware(expected_return)
    if event_type == T.LEFT_SCHOOL and expected_return is not None and expected_return <= at:
        raise ValidationError({"expected_return": "The expected return must be after leaving school."})
    _check_recorder(visit, by, via, staff)
    try:
        pin_result = _check_pin(event_type, by, via, pin, visit, request)
    except PinsPaused as paused:
        if paused.duress:
            _duress_while_paused(visit, by)
        raise
    if staff is None and via == Via.PHONE:
        staff = by  # on their own phone, it is about them

    from safety.alerts import services as alerts

    with transaction.atomic():
        locked, watch = _lock(visit)
        events = _events(locked)
        staff_id = staff.pk if staff is not None else None
        _check_order(locked, events, event_type, staff_id, watch.outcome if watch else "", via)
        version, policy = policy_for(locked)

        event = VisitEvent.objects.create(
            visit=locked, school_id=locked.school_id, type=event_type, at=at, recorded_at=now,
            staff=staff,
            recorded_by=by, via=via, concerns=(concerns or "").strip(), note=(note or "").strip(),
            expected_return=expected_return, location=(location or "").strip()[:200],
        )
        events.append(event)
        if locked.state == State.SCHEDULED:
            visit_services.transition(
                locked, State.UNDER_WAY, by, request=request,
                permission="checkin.record" if via == Via.PHONE else "checkin.record_call",
                note=f"{T(event_type).label} recorded {'from the phone' if via == Via.PHONE else 'by the office'}",
            )
            watch = _start_watch(locked, now, watch)  # watched since it was scheduled: the same row goes on
        elif watch is None:
            watch = _start_watch(locked, now)

        # Each person's own check-out (pairs are safe only when both are back).
        people = WatchStaff.objects.filter(watch=watch)
        if staff_id is not None and event_type in PERSONAL_TYPES:
            people = people.filter(staff_id=staff_id)
        if event_type == T.LEFT_HOME:
            people.filter(left_home_at__isnull=True).update(left_home_at=at)
        elif event_type == T.BACK_SAFE:
            people.filter(back_safe_at__isnull=True).update(back_safe_at=at)

        watch.last_event_at = at
        if event_type in CONTACT_TYPES:
            watch.last_check_in_at = at
            if location:
                watch.last_location = event.location

        duress = pin_result == "duress"
        if duress:
            alerts.raise_alert(locked, kind="duress", now=now, event=event, staff=[by])
        elif event_type in DANGER_TYPES:
            alerts.raise_alert(locked, kind=event_type, now=now, event=event,
                               staff=[staff] if staff is not None else None)
        elif event_type in CONTACT_TYPES:
            how = "from their phone" if via == Via.PHONE else f"by {by.full_name} from a call"
            alerts.contact_restored(locked, by=by, now=now,
                                    note=f"{T(event_type).label} recorded {how} at {timezone.localtime(at):%H:%M}")

        deadline = refresh_watch(watch, locked, policy, events, now)

        audit.record(
            actor=by, school=locked.school, action=Action.VISIT_EVENT, obj=locked, request=request,
            summary=f"{by.full_name} recorded {T(event_type).label.lower()}"
                    + (f" for {staff.full_name}" if staff is not None and staff.pk != by.pk else "")
                    + (" (office call)" if via == Via.OFFICE_CALL else ""),
            reason=event.concerns or event.note,
            # What staff flag at the door is for the DSL, not for everyone who opens the visit.
            data={"private_reason": bool(event.concerns), "event": event.pk, "type": event_type, "via": via,
                  "at": at, "staff": staff_id,
                  "location": event.location, "expected_return": expected_return,
                  "next": deadline.kind if deadline else None},
        )
        finish_if_everyone_back(locked, watch, policy, events, by, via, now, request)

    visit.refresh_from_db()
    # What the phone is told depends only on the events, never on alerts: with everyone checked
    # out it shows the visit closed even while a duress alarm keeps it open in the office.
    checked_out = deadline is None
    shown_state = OUTCOME_STATES.get(watch.outcome, State.COMPLETED) if checked_out else State.UNDER_WAY
    message = _phone_message(event_type, deadline, policy, checked_out)
    return Recorded(event=event, visit_state=shown_state, next_kind=deadline.kind if deadline else None,
                    next_due_at=deadline.due_at if deadline else None, message=message)


def finish_if_everyone_back(visit, watch, policy, events, by, via, now, request=None):
    """Everyone checked out (back safe, or left the home where the policy asks for no back-safe
    call): the watch is done and the visit takes its outcome. next_deadline() is None exactly
    then (policy_engine.timing); its checked_out() helper is not used because it replays with a naive
    epoch, which cannot be compared with the visit's aware times."""
    if next_deadline(visit, policy, events) is not None:
        return False
    if Alert.objects.filter(visit=visit).exclude(state=Alert.State.RESOLVED).filter(kind__in=Alert.TOP_KINDS).exists():
        # Never close quietly over an alarm: the office resolves it first, then the watch ends.
        return False
    outcome = OUTCOME_STATES.get(watch.outcome, State.COMPLETED)
    Watch.objects.filter(pk=watch.pk).update(status=Watch.Status.SAFE, alert_at=None, reminder_at=None,
                                             due_at=None, next_kind="", updated_at=now)
    watch.status = Watch.Status.SAFE
    reason = visit.closed_reason or ("Everyone back safe" if outcome == State.COMPLETED else watch.outcome)
    visit_services.transition(
        visit, outcome, by, request=request, reason=reason if outcome == State.ABANDONED else "",
        permission="checkin.record" if via == Via.PHONE else "checkin.record_call",
        note="Everyone on the visit is back safe",
    )
    return True


def _phone_message(event_type, deadline, policy, finished):
    if finished:
        return "Thank you: everyone on this visit has checked out safely."
    text = f"{T(event_type).label} recorded."
    if deadline is not None:
        text += f" Next: {deadline.what or deadline.kind.replace('_', ' ')} by {timezone.localtime(deadline.due_at):%H:%M}."
    if event_type == T.PARENT_LATE_NOTICE and _value(policy, "doorstep.adult_present_to_enter", True):
        text += (" Wait outside: do not go in before the parent or another appropriate adult is there "
                 f"({_clause(policy, 'doorstep.adult_present_to_enter')}).")
    return text


# ----------------------------------------------------------------------------- on the doorstep

def doorstep_status(visit, now=None) -> dict:
    """What the phone shows on the doorstep: the wait for an absent parent or a late one, when
    the visit may be closed as not seen, and whether a card is left (from policy_engine.timing)."""
    now = now or timezone.now()
    version, policy = policy_for(visit)
    events = _events(visit)
    entries = timeline(visit, policy, events, until=max(now, visit.ends_at) + datetime.timedelta(hours=6))
    waits = [e for e in entries if e.kind in ("not_seen_allowed", "late_limit_reached")]
    past = [e for e in waits if e.at <= now]
    future = [e for e in waits if e.at > now]
    card = bool(_value(policy, "doorstep.not_seen_card", False)
                or _value(policy, "doorstep.absent_parent_action") == "leave_card")
    card_key = "doorstep.not_seen_card" if _value(policy, "doorstep.not_seen_card", False) else "doorstep.absent_parent_action"
    late = any(e.type == T.PARENT_LATE_NOTICE for e in events)
    return {
        "waiting": bool(waits) and not past,
        "may_close_not_seen": bool(past),
        "from": (past[0].at if past else (future[0].at if future else None)),
        "clause": (past or future)[0].clause if (past or future) else "",
        "message": (past or future)[0].message if (past or future) else "",
        "card": card,
        "card_clause": _clause(policy, card_key) if card else "",
        "do_not_enter_before_parent": late and bool(_value(policy, "doorstep.adult_present_to_enter", True)),
        "do_not_enter_clause": _clause(policy, "doorstep.adult_present_to_enter") if late else "",
    }


def close_not_seen(visit, *, by, via=Via.PHONE, note="", at=None, request=None) -> Recorded:
    """The family did not come to the door: close the visit as not seen once the policy's wait
    (or the late-notice limit) is over, with the card to leave where the policy asks for one."""
    now = timezone.now()
    at = _check_time(at, now)
    _check_recorder(visit, by, via, None)
    staff = by if via == Via.PHONE else None
    with transaction.atomic():
        locked, watch = _lock(visit)
        if locked.state != State.UNDER_WAY or watch is None:
            raise NotAllowed("Only a visit under way can be closed as not seen.")
        if watch.outcome:
            raise NotAllowed(f"This visit is already closed as {watch.outcome.replace('_', ' ')}.")
        events = _events(locked)
        if any(e.type == T.ENTERED for e in events):
            raise NotAllowed("You went in, so the family was seen: record leaving the home instead.")
        status = doorstep_status(locked, now)
        version, policy = policy_for(locked)
        if not status["may_close_not_seen"]:
            if status["from"] is not None:
                raise NotAllowed(
                    f"The school's policy ({cite(status['clause'])}) asks you to wait: you can close "
                    f"this visit as not seen from {timezone.localtime(status['from']):%H:%M}."
                )
            raise NotAllowed("Record that the parent is not at home (or phoned to say they are late) first.")
        event = VisitEvent.objects.create(
            visit=locked, school_id=locked.school_id, type=T.NOT_SEEN, at=at, recorded_at=now, staff=staff,
            recorded_by=by, via=via, note=(note or "").strip(),
        )
        watch.outcome = "not_seen"
        _after_door_decision(locked, watch, policy, events + [event], by, now)
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


def _after_door_decision(visit, watch, policy, events, by, now):
    """Closing at the door is word from the staff: settle a missed check-in, and move the
    watch to the next deadline of the plan (leaving, back safe)."""
    from safety.alerts import services as alerts

    alerts.contact_restored(visit, by=by, now=now, note=f"{by.full_name} closed the visit at the door")
    watch.last_event_at = watch.last_check_in_at = now
    refresh_watch(watch, visit, policy, events, now)


def abandon(visit, reason, *, by, note, via=Via.PHONE, at=None, request=None) -> Recorded:
    """Leave without doing the visit (felt unsafe, animals not shut away, no appropriate adult,
    other). The written reason is required and reaches the headteacher as the policy asks
    (doorstep.unsafe_report, doorstep.animals_written_reason). The watch goes on until
    everyone is back safe."""
    now = timezone.now()
    at = _check_time(at, now)
    note = (note or "").strip()
    errors = {}
    if reason not in ABANDON_REASONS:
        errors["reason"] = "Choose why: " + ", ".join(label.lower() for label in ABANDON_REASONS.values()) + "."
    if not note:
        errors["note"] = "Write down what happened: the headteacher is sent your written reason."
    if errors:
        raise ValidationError(errors)
    _check_recorder(visit, by, via, None)
    staff = by if via == Via.PHONE else None
    from notify.services import notify

    with transaction.atomic():
        locked, watch = _lock(visit)
        if locked.state != State.UNDER_WAY or watch is None:
            raise NotAllowed("Only a visit under way can be abandoned.")
        if watch.outcome:
            raise NotAllowed(f"This visit is already closed as {watch.outcome.replace('_', ' ')}.")
        version, policy = policy_for(locked)
        event = VisitEvent.objects.create(
            visit=locked, school_id=locked.school_id, type=T.ABANDONED, at=at, recorded_at=now, staff=staff,
            recorded_by=by, via=via, note=note, reason=reason,
        )
        Visit.objects.filter(pk=locked.pk).update(closed_reason=f"{ABANDON_REASONS[reason]}: {note}")
        watch.outcome = "abandoned"
        _after_door_decision(locked, watch, policy, _events(locked), by, now)

        # Which rule sends the reason to the headteacher: animals have their own in some
        # policies (C 3.9); otherwise the rule for not going in because of feeling unsafe.
        key = "doorstep.unsafe_report"
        if reason == VisitEvent.AbandonReason.ANIMALS and _value(policy, "doorstep.animals_written_reason", False):
            key = "doorstep.animals_written_reason"
            report = "written_to_headteacher"
        else:
            report = _value(policy, "doorstep.unsafe_report", "written_to_headteacher")
        clause = _clause(policy, key)
        heads = []
        if report in ("written_to_headteacher", "told_to_headteacher"):
            heads = list(StaffMember.objects.active().filter(school=locked.school_id).with_role("headteacher").distinct())
            team = visit_services.visit_staff(locked)
            notify(
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


# ----------------------------------------------------------------------------- reading

# A scheduled visit nobody has started joins the office board this long before its start or
# its first deadline, whichever is sooner: when the board would call its deadline "due soon".
UNSTARTED_SHOWN_BEFORE = datetime.timedelta(minutes=5)


def under_way(school_ids, now=None):
    """The watches the office board shows: every visit under way, and every scheduled visit
    nobody has started once it is due (or overdue, or in alarm). Scheduled visits days ahead
    are watched too, but are not on the board yet."""
    now = now or timezone.now()
    soon = now + UNSTARTED_SHOWN_BEFORE
    shown = (~Q(visit__state=State.SCHEDULED) | ~Q(status=Watch.Status.OK)
             | Q(visit__starts_at__lte=soon) | Q(due_at__lte=soon))
    return (Watch.objects.filter(school__in=school_ids).exclude(status=Watch.Status.SAFE).filter(shown)
            .select_related("visit", "visit__pupil").prefetch_related("people__staff"))


def last_contact(visit):
    return (VisitEvent.objects.filter(visit=visit, type__in=CONTACT_TYPES).order_by("-at", "-id")
            .select_related("recorded_by", "staff").first())

