"""The watch on a visit: the only module that writes `Watch` (and its `WatchStaff` check-outs).

One row per visit from the moment it is scheduled until everyone is back: the next deadline
(from safety.journey), when to alert and remind, and the status the watchdog and the board
read (ok, overdue, alarm, safe). People (check-ins, resolving) change it with the row locked,
visit first, then watch (lock()); the watchdog changes it only through the conditional
UPDATEs here (claim_overdue, claim_reminder), so two processes can never both act on one
deadline.
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.transaction import TransactionManagementError

from core import rows
from core.errors import NotAllowed
from policies.services import policy_for
from policy_engine.timing import Deadline
from safety.alerts.models import Alert
from safety.checkins.models import VisitEvent, Watch, WatchStaff
from schools.models import School
from visits import services as visit_services
from visits.models import Visit, VisitStaff

from . import journey, live

T = VisitEvent.Type
Via = VisitEvent.Via
State = Visit.State


def lock(visit: Visit) -> tuple[Visit, Watch | None]:
    """Lock the visit, then its watch, for a change made by a person; inside a transaction.
    Raises Visit.DoesNotExist when the visit is not at `visit.school_id`: a caller that knows
    only the visit's number and the school it may see (api.safety) gets that for another
    school's visit."""
    if not connection.in_atomic_block:
        raise TransactionManagementError("A visit is locked inside the transaction that changes it.")
    rows = _LOCK_VISIT.rows([visit.pk, visit.school_id])
    if not rows:
        raise Visit.DoesNotExist(f"No visit {visit.pk} at school {visit.school_id}.")
    locked = _VISIT.build(rows[0][:_VISIT.width])
    locked.school = _SCHOOL.build(rows[0][_VISIT.width:])
    found = _LOCK_WATCH.rows([locked.pk])
    if not found:
        return locked, None
    watch = _WATCH.build(found[0])
    watch.note_as_read()
    return locked, watch


# Every check-in locks its visit and watch, so these two reads are SQL made once (core.rows):
# building them through the ORM took longer than the database took to run them.
# FOR NO KEY UPDATE: a watchdog inserting an alert for this visit takes FOR KEY SHARE on it (the
# foreign key) while holding the watch row; FOR UPDATE here would deadlock with it. The school
# (for the audit entry) comes in the same read; the policy version is known by its id
# (policies.services.policy_for). Only the visit row is locked (OF v); on PostgreSQL a row re-read
# after waiting for its lock keeps the joined school of the old snapshot, which is harmless: the
# school is only its id and name here.
_VISIT = rows.Columns(Visit, "v")
_SCHOOL = rows.Columns(School, "sc")
_WATCH = rows.Columns(Watch, "w")
_LOCK_VISIT = rows.Query(lambda c: (
    f"SELECT {_VISIT.select(c)}, {_SCHOOL.select(c)} FROM {rows.table(Visit, c)} v"
    f" JOIN {rows.table(School, c)} sc ON sc.{rows.column(School, 'id', c)} = v.{rows.column(Visit, 'school', c)}"
    f" WHERE v.{rows.column(Visit, 'id', c)} = %s AND v.{rows.column(Visit, 'school', c)} = %s"
    + rows.for_update(c, of="v", no_key=True)
))
_LOCK_WATCH = rows.Query(lambda c: (
    f"SELECT {_WATCH.select(c)} FROM {rows.table(Watch, c)} w WHERE w.{rows.column(Watch, 'visit', c)} = %s"
    + rows.for_update(c)
))


def start(visit: Visit, now: datetime.datetime, watch: Watch | None = None) -> Watch:
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


def note_event(watch: Watch, event: VisitEvent) -> None:
    """What an event changes on the watch besides its deadline: each person's own check-out
    (pairs are safe only when both are back), the last word and where it came from. Saved
    by the refresh() that follows, in the same transaction."""
    if event.type in (T.LEFT_HOME, T.BACK_SAFE):
        people = WatchStaff.objects.filter(watch=watch)
        if event.staff_id is not None:
            people = people.filter(staff_id=event.staff_id)
        if event.type == T.LEFT_HOME:
            people.filter(left_home_at__isnull=True).update(left_home_at=event.at)
        else:
            people.filter(back_safe_at__isnull=True).update(back_safe_at=event.at)
    watch.last_event_at = event.at
    if event.type in journey.CONTACT_TYPES:
        watch.last_check_in_at = event.at
        if event.location:
            watch.last_location = event.location
        elif event.type == T.ENTERED:
            # Going in moves the party from the doorstep it gave on arrival: the board's "last
            # heard from" must not go on saying "Outside the house".
            watch.last_location = "In the home"


def note_door_decision(watch: Watch, outcome: str, now: datetime.datetime) -> None:
    """Closed at the door (not seen, abandoned): word from the staff, and the outcome the
    visit takes once everyone is back. Saved by the refresh() that follows."""
    watch.outcome = outcome
    watch.last_event_at = watch.last_check_in_at = now


def note_contact(watch: Watch, now: datetime.datetime) -> None:
    """The office reached the staff (an alert resolved as staff safe or a false alarm)."""
    watch.last_check_in_at = now


def open_alerts(visit: Visit) -> list[Alert]:
    """The visit's alerts nobody has resolved (usually none), read once for a check-in: what
    it settles (alerting.contact_restored) and the status it leaves (refresh)."""
    return list(Alert.objects.filter(visit=visit).exclude(state=Alert.State.RESOLVED))


def alerts_to_settle(visit: Visit, watch: Watch | None) -> list[Alert]:
    """open_alerts() for a check-in, with the watch row locked. A watch that is `ok` has no
    alert a check-in could change: every alert is raised in the transaction that moves its
    watch off `ok` (claim_overdue, sound_alarm), and only refresh() moves it back, once no
    open alert is a top one or waits for contact. So there is nothing to read. Were an alert
    ever raised without moving its watch, a check-in would leave it escalating: loud, never
    silent."""
    if watch is not None and watch.status == Watch.Status.OK:
        return []
    return open_alerts(visit)


def refresh(watch: Watch, visit: Visit, policy: Any, events: Sequence[VisitEvent],
            now: datetime.datetime, unresolved: Sequence[Alert] | None = None,
            team: Sequence[int] | None = None) -> Deadline | None:
    """Set the watch to the next deadline and the status the visit's alerts call for.
    Called with the watch row locked, inside the caller's transaction. `unresolved`: the
    visit's open alerts as open_alerts() read them in this transaction (they are read here
    otherwise); `team`: who is on the visit, lead first, as read in this transaction."""
    deadline = journey.next_deadline(visit, policy, events, team)
    if unresolved is None:
        unresolved = open_alerts(visit)
    if any(a.kind in Alert.TOP_KINDS for a in unresolved):
        status = Watch.Status.ALARM
    elif any(a.contact_at is None for a in unresolved) or (
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
    watch.save_changes()
    live.changed(watch.school_id)  # open office boards look again at commit (safety/live.py)
    return deadline


def _contact_since_overdue(watch: Watch, events: Sequence[VisitEvent]) -> bool:
    # An overdue watch whose alert was resolved without the staff being reached stays overdue
    # (e.g. resolved as "police called") until they or the office record something.
    return any(e.type in journey.CONTACT_TYPES and e.recorded_at >= watch.updated_at for e in events)


def sound_alarm(visit: Visit, now: datetime.datetime) -> None:
    """A code word, panic or duress alert: the watch shows the alarm until it is resolved. Its
    change stamp moves with it: the duress PIN during a pause writes nothing else, and an open
    office board uses a row again while its stamps stand still (safety.board._watches)."""
    Watch.objects.filter(visit=visit).exclude(status=Watch.Status.SAFE).update(
        status=Watch.Status.ALARM, updated_at=now)


def claim_overdue(watch_id: int, alert_at: datetime.datetime, now: datetime.datetime) -> datetime.datetime | None:
    """The watchdog's move for one due watch: ok -> overdue, only if nobody else moved it.
    Returns when the missed deadline was stored (the alert's ladder runs from no earlier),
    or None if another watchdog (or a check-in) got there first. Inside a transaction that
    then raises the alert, so the two are written together or not at all."""
    # A row another watchdog (or a check-in) holds is skipped, not waited for: two
    # watchdogs then split a burst of deadlines instead of queueing on each other's
    # locks. A skipped row is still due, so the next pass takes it (docs/benchmarks.md).
    stored_at = Watch.objects.select_for_update(skip_locked=True).filter(
        pk=watch_id, status=Watch.Status.OK, alert_at=alert_at).values_list("updated_at", flat=True).first()
    if stored_at is None:
        return None
    hit = Watch.objects.filter(pk=watch_id, status=Watch.Status.OK, alert_at=alert_at).update(
        status=Watch.Status.OVERDUE, updated_at=now,
    )
    return stored_at if hit == 1 else None


# Reminders go on in alarm too: a phone that stopped getting reminders after a duress PIN
# would give it away.
REMINDED = (Watch.Status.OK, Watch.Status.ALARM)


def claim_reminder(watch_id: int, reminder_at: datetime.datetime, now: datetime.datetime) -> bool:
    """Mark this deadline's reminder as sent, once: False if it already was (or the deadline moved)."""
    hit = Watch.objects.filter(pk=watch_id, reminder_at=reminder_at, reminder_sent_at__isnull=True,
                               status__in=REMINDED).update(reminder_sent_at=now)
    return hit == 1


def finish_if_everyone_back(visit: Visit, watch: Watch, policy: Any, events: Sequence[VisitEvent], by: Any,
                            via: str, now: datetime.datetime, request: Any = None,
                            checked_out: bool | None = None) -> bool:
    """Everyone checked out (back safe, or left the home where the policy asks for no back-safe
    call): the watch is done and the visit takes its outcome. Never while a code word, panic or
    duress alert is unresolved: the office resolves it first, then the watch ends.
    `checked_out`: the answer already known from refresh() over the same events (its deadline
    is None exactly then), so the rule engine is not run twice."""
    if checked_out is None:
        checked_out = journey.everyone_checked_out(visit, policy, events)
    if not checked_out:
        return False
    if Alert.objects.filter(visit=visit).exclude(state=Alert.State.RESOLVED).filter(kind__in=Alert.TOP_KINDS).exists():
        return False
    outcome = journey.OUTCOME_STATES.get(watch.outcome, State.COMPLETED)
    Watch.objects.filter(pk=watch.pk).update(status=Watch.Status.SAFE, alert_at=None, reminder_at=None,
                                             due_at=None, next_kind="", updated_at=now)
    watch.status = Watch.Status.SAFE
    reason = visit.closed_reason or ("Everyone back safe" if outcome == State.COMPLETED else watch.outcome)
    visit_services.transition(
        visit, outcome, by, request=request, reason=reason if outcome == State.ABANDONED else "",
        permission="checkin.record" if via in journey.FROM_THE_STAFF else "checkin.record_call",
        # Where the policy asks for no back-safe call, leaving the home ends the visit: the
        # history must not claim a back-safe nobody recorded.
        note="Everyone on the visit has left the home"
        if WatchStaff.objects.filter(watch=watch, back_safe_at__isnull=True).exists()
        else "Everyone on the visit is back safe",
    )
    return True


# ----------------------------------------------------------------------------- from scheduling to cancelling

def watch_scheduled(visit: Visit, now: datetime.datetime) -> Watch:
    """Watch a visit from the moment it is scheduled, before anyone taps anything: its deadline
    is the one the rule engine gives a visit with no events (the leaving-school check-in at the
    scheduled start, where the policy asks for one), so a visit nobody starts is alerted like
    any missed check-in. The first event takes the same row on. Called inside the transaction
    that schedules the visit, with the visit row locked."""
    policy = policy_for(visit)
    watch = Watch.objects.select_for_update().filter(visit=visit).first()
    if watch is None:
        watch = start(visit, now)
    refresh(watch, visit, policy, journey.events_of(visit), now)
    return watch


def stop_watching(visit: Visit, now: datetime.datetime) -> int:
    """A visit cancelled or withdrawn before it started is no longer watched: its watch is
    closed (no deadline, so no alert and no reminder). Refused while the visit has an alert
    nobody has resolved: cancelling is not word that the staff are safe, and would take the
    visit off the office board while its alert went on climbing the ladder. Called inside the
    transaction that cancels the visit, with the visit row locked; returns the rows closed."""
    closed = Watch.objects.filter(visit=visit).exclude(status=Watch.Status.SAFE).update(
        status=Watch.Status.SAFE, next_kind="", what="", due_at=None, alert_at=None, reminder_at=None,
        clause="", deadline_staff="", updated_at=now,
    )
    if closed:
        live.changed(visit.school_id)
    # Checked after the UPDATE: that waited for a watchdog holding the watch row, so an alert it
    # was raising at that moment is committed and seen here.
    if Alert.objects.filter(visit=visit).exclude(state=Alert.State.RESOLVED).exists():
        raise NotAllowed("This visit has an alert nobody has resolved yet. Resolve it on the office board first "
                         "(say whether the staff are safe), then cancel the visit.")
    return closed


def on_visit_moved(sender: Any, *, visit: Visit, from_state: str, to_state: str, now: datetime.datetime,
                   **kwargs: Any) -> None:
    """visits.signals.visit_moved: start watching a visit when it is scheduled, stop when it
    is cancelled or withdrawn before it started. Connected in CheckinsConfig.ready(); an error
    here rolls back the move, so a visit is never scheduled unwatched."""
    if to_state == State.SCHEDULED:
        watch_scheduled(visit, now)
    elif to_state in (State.CANCELLED, State.WITHDRAWN):
        stop_watching(visit, now)


def on_visit_team_changed(sender: Any, *, visit: Visit, leaving: Any, replacement: Any, now: datetime.datetime,
                          **kwargs: Any) -> None:
    """visits.signals.visit_team_changed: a scheduled visit's watch lists who is going (each
    person's check-out); the replacement takes the leaver's row, and the deadline is worked out
    again (it may name who it is about). Nothing to do before a visit is scheduled."""
    watch = Watch.objects.select_for_update().filter(visit=visit).first()
    if watch is None:
        return
    WatchStaff.objects.filter(watch=watch, staff=leaving).update(staff=replacement)
    refresh(watch, visit, policy_for(visit), journey.events_of(visit), now)
