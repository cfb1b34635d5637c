"""The alert lifecycle: raising an alert with a snapshot of the policy's ladder, telling each
step, advancing an escalation nobody has acknowledged, acknowledging, resolving, and stopping
an escalation when word comes from the staff (docs/safety-core.md).

Concurrency, in short: the watchdog never reads-then-writes. It moves a watch from `ok` to
`overdue` with a conditional UPDATE (safety.watch.claim_overdue) and raises the alert only if
that hit a row; it advances a step with `UPDATE ... WHERE id = ? AND step_token = ? AND state =
'open'` and notifies only if that hit a row (and `AlertStep`'s unique (alert, step) would refuse
a second notification anyway). Each change and its outbox messages are one transaction, so a
crash loses nothing and doubles nothing. Locks taken by people (check-ins, acknowledging,
resolving) go visit, then watch, then alert.
"""
from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEntry
from core import bulk
from core.errors import NotAllowed
from core.text import and_list
from notify import services as notify_services
from notify.models import Channel
from people.models import StaffMember, StaffRole
from people.permissions import HELPERS, can
from policies.services import policy_for, policy_version_for
from policies.models import SchoolPolicy
from policy_engine import timing
from safety.alerts.models import Alert, AlertStep, new_token
from safety.checkins.models import VisitEvent, Watch
from visits import services as visit_services
from visits.models import Visit, VisitStaff

from . import events as visit_events
from . import journey, live
from . import watch as watches

if TYPE_CHECKING:
    from django.http import HttpRequest

log = logging.getLogger("doorstep.watchdog")

# A step told this much later than the policy's timeline says how late it comes, so nobody
# reading it thinks the deadline was just missed.
LATE_ENOUGH_TO_SAY = datetime.timedelta(minutes=1)

# What each missed deadline raises.
MISSED_KIND = {"office_call_due": Alert.Kind.OFFICE_CALL_MISSED}
KIND_WORDS = {  # {has}: "has" for one person, "have" for a pair
    Alert.Kind.OVERDUE: "{has} not checked in",
    Alert.Kind.OFFICE_CALL_MISSED: "{has} not had the office's call",
    Alert.Kind.CODE_WORD: "used the code word in a call to the office",
    Alert.Kind.PANIC: "pressed panic",
    Alert.Kind.DURESS: "may be in danger (silent alarm)",
}


# ----------------------------------------------------------------------------- helpers

def ladder_for(visit: Visit) -> tuple[list[dict[str, Any]], str, SchoolPolicy]:
    """(ladder copy, clause, policy version) from the version the visit runs under."""
    version = policy_version_for(visit)
    policy = version.load()
    ladder = policy.escalation.ladder
    return [dict(step) for step in ladder.value], ladder.clause, version


def step_due_at(ladder: Sequence[Any], ladder_from: datetime.datetime,
                step: int) -> datetime.datetime | None:
    """When `step` gives way to the next if nobody acknowledges (the ladder timed from
    `ladder_from`, the alert's own due time): None at the last step."""
    times = timing.escalation_steps(ladder, ladder_from, from_step=0)
    for index, at, _ in times:
        if index == step + 1:
            return at
    return None


def recipients(school_id: int, roles: Iterable[str], visit: Visit | None = None) -> list[StaffMember]:
    """Active staff of the school holding any of `roles`; "everyone" means everyone who can
    help (leaders, DSL, office). Never the staff on the visit itself: a duress message on the
    phone of the person in danger would give them away."""
    on_visit = set(visit.assignments.values_list("staff_id", flat=True)) if visit is not None else set()
    return _pick(_helpers([school_id], roles).get(school_id, []), roles, on_visit)


def _wanted(roles: Iterable[str]) -> set[str]:
    wanted = set(roles)
    if "everyone" in wanted:
        wanted = (wanted - {"everyone"}) | HELPERS
    return wanted


def _helpers(school_ids: Iterable[int], roles: Iterable[str]) -> dict[int, list[tuple[StaffMember, set[str]]]]:
    """{school id: [(active member of staff, their roles among `roles`)]}, in one query."""
    found: dict[int, dict[int, tuple[StaffMember, set[str]]]] = {}
    held = StaffRole.objects.filter(staff__school__in=list(school_ids), staff__active=True,
                                    role__in=_wanted(roles)).select_related("staff")
    for row in held:
        member = found.setdefault(row.staff.school_id, {}).setdefault(row.staff_id, (row.staff, set()))
        member[1].add(row.role)
    return {school: list(people.values()) for school, people in found.items()}


def _pick(staff: Iterable[tuple[StaffMember, set[str]]], roles: Iterable[str], on_visit: set[int]) -> list[StaffMember]:
    wanted = _wanted(roles)
    return sorted((member for member, held in staff if held & wanted and member.pk not in on_visit), key=lambda m: m.pk)


def _team(visit: Visit) -> list[StaffMember]:
    return visit_services.visit_staff(visit)


def _names(people: Iterable[StaffMember]) -> str:
    return and_list((p.full_name for p in people), empty="Staff")


def board_link(alert: Alert) -> str:
    return f"/board/#alert-{alert.pk}"


def _clock(at: datetime.datetime, now: datetime.datetime) -> str:
    """'09:06', or '09:06 on Monday 7 December' when it was not today."""
    at, today = timezone.localtime(at), timezone.localtime(now).date()
    return f"{at:%H:%M}" if at.date() == today else f"{at:%H:%M} on {at:%A} {at.day} {at:%B}"


def _minutes_words(delay: datetime.timedelta) -> str:
    minutes = int(delay.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    parts = ([f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []) + \
            ([f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes or not hours else [])
    return " ".join(parts)


def _when_words(alert: Alert, now: datetime.datetime) -> str:
    """When it happened, as the message says it: the time the missed check-in was due (not
    when the watchdog noticed), or the time of the alarm."""
    if alert.is_top:
        return f"at {_clock(alert.event.at if alert.event is not None else alert.raised_at, now)}"
    return f"due at {_clock(alert.missed_due_at or alert.ladder_from, now)}"


def _notify_step(alert: Alert, visit: Visit, step: int, now: datetime.datetime,
                 staff: Sequence[StaffMember] | None = None,
                 due_at: datetime.datetime | None = None) -> list[StaffMember]:
    """Tell this step's roles, once (unique AlertStep), in the caller's transaction. `due_at`
    is when the policy's timeline has the step (now, unless the watchdog is catching up)."""
    rung = _rung(alert, step)
    people = recipients(alert.school_id, rung.get("notify", []), visit)
    row, notice, entry = _compose_step(alert, visit, step, now, people, staff if staff else _team(visit), due_at)
    row.save(force_insert=True)
    if notice is not None:
        notify_services.notify(notice.recipients, kind=notice.kind, subject=notice.subject, body=notice.body,
                               link=notice.link, school=notice.school, alert=notice.alert,
                               idempotency_key=notice.idempotency_key, spoken=notice.spoken)
    entry.save(force_insert=True)
    return people


def _compose_step(alert: Alert, visit: Visit, step: int, now: datetime.datetime, people: list[StaffMember],
                  people_meant: Sequence[StaffMember], due_at: datetime.datetime | None = None,
                  ) -> tuple[AlertStep, notify_services.Notice | None, AuditEntry]:
    """What telling a step writes, unsaved: its AlertStep, the message to `people` (None when
    nobody holds the step's roles) and the audit entry. `people_meant`: the staff the alert is
    about. Written one by one (_notify_step) or for a whole batch at once (raise_overdue_batch)."""
    due_at = due_at or now
    rung = _rung(alert, step)
    row = AlertStep(alert=alert, step=step, at=now, due_at=due_at, notify=rung.get("notify", []), recipients=len(people))
    who = _names(people_meant)
    what = KIND_WORDS[Alert.Kind(alert.kind)].format(has="have" if len(people_meant) > 1 else "has")
    police = " Police guidance is on the alert." if rung.get("call_police") else ""
    last = " You are the last step: everyone who can help is being told." if step == len(alert.ladder) - 1 and not alert.is_top else ""
    delay = now - due_at
    late = (f" This comes {_minutes_words(delay)} late: Doorstep could not send it on time."
            if delay >= LATE_ENOUGH_TO_SAY else "")
    if late:
        log.warning("watchdog: alert %s step %s told %s after the policy's time (%s)",
                    alert.pk, step + 1, _minutes_words(delay), due_at.isoformat())
    subject = f"{'URGENT: ' if alert.is_red else ''}{alert.get_kind_display()}: {who}"[:200]
    opening = f"{who} {what} on a home visit"
    if alert.kind == Alert.Kind.OVERDUE and visit.state == Visit.State.SCHEDULED:
        # Watched from the schedule (safety.watch.watch_scheduled): nobody has started it, so say that.
        opening = (f"{who} {'were' if len(people_meant) > 1 else 'was'} due to start a home visit at "
                   f"{_clock(visit.starts_at, now)} and nobody has checked in")
    body = (f"{opening} ({_when_words(alert, now)}). "
            f"Open the office board and acknowledge.{police}{last}{late}")
    # A step with `ring` also phones them (those with a mobile): staff names, never the pupil's.
    spoken = f"Doorstep alert from {visit.school.name}. {opening}." if rung.get("ring") else ""
    notice = notify_services.Notice(
        recipients=people, kind=f"alert.{alert.kind}", subject=subject, body=body, link=board_link(alert),
        school=visit.school, alert=alert, idempotency_key=f"alert:{alert.pk}:step:{step}", spoken=spoken,
    ) if people else None
    entry = audit.build(
        actor=None, school=visit.school, action=Action.ALERT_STEP, obj=alert,
        summary=f"Alert step {step + 1} of {len(alert.ladder)}: told {', '.join(rung.get('notify', []))} "
                f"({len(people)} people)" + (f", {_minutes_words(delay)} after the policy's time" if late else ""),
        data={"step": step, "notify": rung.get("notify", []), "recipients": [p.pk for p in people],
              "due_at": due_at.isoformat(), "late_seconds": round(max(0.0, delay.total_seconds()), 1),
              "clause": rung.get("clause", "default"), "call_police": bool(rung.get("call_police")),
              "ring": bool(rung.get("ring"))},
    )
    return row, notice, entry


# ----------------------------------------------------------------------------- raising

def raise_alert(visit: Visit, *, kind: str, now: datetime.datetime | None = None, event: VisitEvent | None = None,
                missed: str = "", missed_due_at: datetime.datetime | None = None,
                staff: Sequence[StaffMember] | None = None, ladder_from: datetime.datetime | None = None) -> Alert:
    """Start an alert with a snapshot of the policy's ladder and tell its first step; code word,
    panic and duress start at the top step. Call inside the transaction of the
    change that causes it.

    `ladder_from` is when the policy says the alert is due (default: now). A watchdog that
    raises it late (after an outage) passes the missed deadline's alert time, so the next
    steps fall due on the policy's timeline from there: those already past are told at once,
    in order, by the same pass (`poll`)."""
    now = now or timezone.now()
    alert = _new_alert(visit, kind, now, event=event, missed=missed, missed_due_at=missed_due_at, ladder_from=ladder_from)
    alert.save(force_insert=True)
    if alert.is_top:
        watches.sound_alarm(visit, now)
    live.changed(visit.school_id)  # open boards draw it at commit (safety/live.py)
    _raised_entry(alert, visit, now).save(force_insert=True)
    _notify_step(alert, visit, alert.step, now, staff=staff, due_at=alert.ladder_from)
    return alert


Ladders = dict[int, tuple[list[dict[str, Any]], str, SchoolPolicy]]


def _new_alert(visit: Visit, kind: str, now: datetime.datetime, *, event: VisitEvent | None = None, missed: str = "",
               missed_due_at: datetime.datetime | None = None, ladder_from: datetime.datetime | None = None,
               ladders: Ladders | None = None) -> Alert:
    """The alert raise_alert() starts, unsaved: the ladder's snapshot and its first step.
    `ladders`: the ladders a batch has already read, by policy version (a burst's alerts
    mostly share a handful of versions)."""
    if ladders is None or not visit.policy_version_id or visit.state == Visit.State.PROPOSED:
        ladder, clause, version = ladder_for(visit)
    else:
        if visit.policy_version_id not in ladders:
            ladders[visit.policy_version_id] = ladder_for(visit)
        shared, clause, version = ladders[visit.policy_version_id]
        ladder = [dict(step) for step in shared]  # each alert keeps its own snapshot
    kind = Alert.Kind(kind)
    top = kind in Alert.TOP_KINDS
    step = len(ladder) - 1 if top else 0
    # Danger now starts at the top step at once, whatever the clock says.
    ladder_from = now if top or ladder_from is None else min(ladder_from, now)
    return Alert(
        school_id=visit.school_id, visit=visit, kind=kind, event=event, missed=missed, missed_due_at=missed_due_at,
        raised_at=now, ladder_from=ladder_from, ladder=ladder, ladder_clause=clause[:60], policy_version=version,
        step=step, step_due_at=None if top else step_due_at(ladder, ladder_from, step),
    )


def _raised_entry(alert: Alert, visit: Visit, now: datetime.datetime) -> AuditEntry:
    ladder_from, missed = alert.ladder_from, alert.missed
    return audit.build(
        actor=None, school=visit.school, action=Action.ALERT_RAISED, obj=alert,
        summary=f"{alert.get_kind_display()} alert raised" + (f" ({missed.replace('_', ' ')} missed)" if missed else "")
                + (f", {_minutes_words(now - ladder_from)} after the policy's time"
                   if now - ladder_from >= LATE_ENOUGH_TO_SAY else ""),
        data={"visit": visit.pk, "kind": alert.kind, "step": alert.step, "event": alert.event_id,
              "ladder_clause": alert.ladder_clause,
              "policy_version": alert.policy_version.version if alert.policy_version is not None else None,
              "ladder_from": ladder_from.isoformat(), "late_seconds": round((now - ladder_from).total_seconds(), 1)},
    )


def raise_overdue(watch_id: int, alert_at: datetime.datetime, now: datetime.datetime) -> Alert | None:
    """The watchdog's move for one watch: ok -> overdue, and the alert, in one transaction.
    Returns the alert, or None if another watchdog (or a check-in) got there first."""
    with transaction.atomic():
        stored_at = watches.claim_overdue(watch_id, alert_at, now)
        if stored_at is None:
            return None
        watch = Watch.objects.select_related("visit", "visit__school").get(pk=watch_id)
        kind = MISSED_KIND.get(watch.next_kind, Alert.Kind.OVERDUE)
        # The ladder runs from alert_at, when the policy says this alert is due, however late
        # the watchdog got here (an outage). A deadline that was already past when it was
        # stored (a check-in recorded late, with an earlier time) could not have been alerted
        # before Doorstep knew of it: its ladder runs from then, the office first.
        return raise_alert(watch.visit, kind=kind, now=now, missed=watch.next_kind, missed_due_at=watch.due_at,
                           ladder_from=max(alert_at, stored_at))


def raise_overdue_batch(due: Sequence[tuple[int, datetime.datetime]],
                        now: datetime.datetime) -> tuple[int, list[tuple[int, datetime.datetime]]]:
    """raise_overdue() for many watches in one transaction: a burst of missed deadlines
    (the phone network down across a trust) is raised hundreds a second instead of a few
    dozen, each transaction's reads and writes made once for the batch.

    Every guarantee of raise_overdue() holds: a watch is claimed (ok -> overdue, its row
    locked, SKIP LOCKED so two watchdogs split a burst) in the same transaction as its
    alert, the first step's messages and the audit entries, so each alert is raised once and
    never without its messages. Returns (alerts raised, rows left over): a row that cannot be
    prepared (its policy will not load, say) is logged and left over, and so is every row of
    a batch whose writing fails; the caller raises those one at a time, so a poisoned row
    costs only itself."""
    expected = dict(due)
    left: list[tuple[int, datetime.datetime]] = []
    with transaction.atomic():
        claimable = [
            row for row in Watch.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(expected), status=Watch.Status.OK)
            .values_list("pk", "alert_at", "updated_at", "visit_id", "next_kind", "due_at")
            if row[1] == expected[row[0]]
        ]
        if not claimable:
            return 0, []
        visits = Visit.objects.select_related("school", "policy_version").in_bulk([row[3] for row in claimable])
        planned: list[tuple[int, Alert, Visit]] = []
        ladders: Ladders = {}
        for pk, alert_at, stored_at, visit_id, next_kind, missed_due_at in claimable:
            try:
                assert alert_at is not None and stored_at is not None  # due, so it has both
                alert = _new_alert(visits[visit_id], MISSED_KIND.get(next_kind, Alert.Kind.OVERDUE), now,
                                   missed=next_kind, missed_due_at=missed_due_at, ladder_from=max(alert_at, stored_at),
                                   ladders=ladders)
            except Exception:  # one bad row must not hold back the batch; it is tried alone
                log.exception("watchdog: could not prepare the alert for watch %s; it will be tried on its own", pk)
                left.append((pk, expected[pk]))
                continue
            planned.append((pk, alert, visits[visit_id]))
        if not planned:
            return 0, left
        try:
            with transaction.atomic():  # a savepoint: a failed batch leaves its rows as they were
                return _write_batch(planned, now), left
        except Exception:
            # Loudly, then one at a time: whatever spoiled the batch spoils only its own row.
            log.exception("watchdog: a batch of %s alerts failed; raising them one at a time", len(planned))
            return 0, left + [(pk, expected[pk]) for pk, _, _ in planned]


def _rung(alert: Alert, step: int) -> dict[str, Any]:
    return alert.ladder[step] if step < len(alert.ladder) else {"notify": ["everyone"]}


def _write_batch(planned: list[tuple[int, Alert, Visit]], now: datetime.datetime) -> int:
    """The writes of raise_overdue_batch, on its transaction, with the watch rows locked."""
    ids = [pk for pk, _, _ in planned]
    hit = Watch.objects.filter(pk__in=ids, status=Watch.Status.OK).update(status=Watch.Status.OVERDUE, updated_at=now)
    if hit != len(ids):  # cannot happen with the rows locked; never raise an alert unclaimed
        raise RuntimeError(f"claimed {hit} of {len(ids)} watches")
    visits = [visit for _, _, visit in planned]
    teams: dict[int, list[StaffMember]] = {}
    for assignment in VisitStaff.objects.filter(visit__in=visits).select_related("staff").order_by("-lead", "id"):
        teams.setdefault(assignment.visit_id, []).append(assignment.staff)
    roles = {role for _, alert, _ in planned for role in _rung(alert, alert.step).get("notify", [])}
    helpers = _helpers({visit.school_id for visit in visits}, roles)
    alerts = Alert.objects.bulk_create([alert for _, alert, _ in planned])
    steps: list[AlertStep] = []
    notices: list[notify_services.Notice] = []
    entries: list[AuditEntry] = []
    for alert, visit in zip(alerts, visits, strict=True):
        team = teams.get(visit.pk, [])
        people = _pick(helpers.get(visit.school_id, []), _rung(alert, alert.step).get("notify", []),
                       {member.pk for member in team})
        row, notice, entry = _compose_step(alert, visit, alert.step, now, people, team, due_at=alert.ladder_from)
        steps.append(row)
        if notice is not None:
            notices.append(notice)
        entries += [_raised_entry(alert, visit, now), entry]
    bulk.insert_new(AlertStep, steps)
    notify_services.notify_new(notices)
    bulk.insert_new(AuditEntry, entries)
    live.changed_all(visit.school_id for visit in visits)  # open boards draw them at commit (safety/live.py)
    return len(alerts)


def advance(alert_id: int, token: str, now: datetime.datetime) -> bool:
    """Move an unacknowledged alert to its next step: only the process whose UPDATE matched the
    token notifies, and acknowledging (which changes the token) cancels it."""
    with transaction.atomic():
        alert = Alert.objects.select_related("visit", "visit__school").get(pk=alert_id)
        if alert.state != Alert.State.OPEN or alert.step_token != token or alert.step_due_at is None \
                or alert.step_due_at > now or alert.step + 1 >= len(alert.ladder):
            return False
        step, step_was_due = alert.step + 1, alert.step_due_at
        due = step_due_at(alert.ladder, alert.ladder_from, step)
        hit = Alert.objects.filter(pk=alert.pk, step_token=token, state=Alert.State.OPEN).update(
            step=step, step_token=new_token(), step_due_at=due,
        )
        if hit != 1:
            return False
        alert.refresh_from_db()
        _notify_step(alert, alert.visit, step, now, due_at=step_was_due)
        live.changed(alert.school_id)
    return True


# ----------------------------------------------------------------------------- people acting

def _require(by: StaffMember, action: str, alert: Alert) -> None:
    if not can(by, action, alert):
        raise NotAllowed("Only the office, the headteacher, the deputy or the DSL of this school can do this.")


def _tell_taken_on(alert: Alert, by: StaffMember, via: str) -> None:
    """Everyone already told of the alert hears who took it on (in Doorstep and by text, once),
    so nobody else sets off to deal with it; calls not yet placed are not placed."""
    notify_services.cancel_calls(alert.pk)
    told_ids = set(notify_services.messages_for_alert(alert.pk).filter(
        channel=Channel.IN_APP, idempotency_key__startswith=f"alert:{alert.pk}:step:").values_list("recipient", flat=True))
    told_ids.discard(by.pk)
    if not told_ids:
        return
    told = list(StaffMember.objects.filter(pk__in=told_ids).order_by("pk"))
    words = f"{by.full_name} has taken the alert on"
    notify_services.notify(
        told, kind="alert.taken_on", subject=words, school=alert.school, alert=alert, link=board_link(alert),
        body=f"{words}{' ' + via if via else ''}. The office board has the details.",
        idempotency_key=f"alert:{alert.pk}:taken_on", channels=[Channel.IN_APP, Channel.SMS],
    )


def acknowledge(alert: Alert, *, by: StaffMember, request: HttpRequest | None = None, via: str = "") -> Alert:
    """Take ownership: the pending steps are cancelled (the token changes), calls not yet
    placed are not placed, and the people already told hear who took it on. `via` says how,
    when not on a page of Doorstep ("by phone call")."""
    _require(by, "alert.acknowledge", alert)
    now = timezone.now()
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.state != Alert.State.OPEN:
            owner = locked.owner.full_name if locked.owner is not None else "someone"
            resolver = locked.resolved_by.full_name if locked.resolved_by is not None else "someone"
            raise NotAllowed(f"This alert was already {locked.get_state_display().lower()} by "
                             f"{owner if locked.state == Alert.State.ACKNOWLEDGED else resolver}.")
        hit = Alert.objects.filter(pk=locked.pk, state=Alert.State.OPEN, step_token=locked.step_token).update(
            state=Alert.State.ACKNOWLEDGED, owner=by, acknowledged_at=now, step_token=new_token(), step_due_at=None,
        )
        if hit != 1:  # pragma: no cover - the row is locked
            raise NotAllowed("This alert changed while you were acknowledging it; look again.")
        live.changed(locked.school_id)
        audit.record(actor=by, school=locked.school, action=Action.ALERT_ACKNOWLEDGED, obj=locked, request=request,
                     summary=f"{by.full_name} acknowledged the {locked.in_a_sentence} and took it on"
                             + (f" {via}" if via else ""),
                     data={"step": locked.step, "seconds_to_acknowledge": (now - locked.raised_at).total_seconds(),
                           "via": via or "doorstep"})
        _tell_taken_on(locked, by, via)
    alert.refresh_from_db()
    return alert


def resolve(alert: Alert, *, by: StaffMember, reason: str, note: str = "",
            request: HttpRequest | None = None) -> Alert:
    """Close an alert with a reason (false alarm, staff safe, police called, other with a note).
    When an overdue alert is closed because the staff were reached (staff safe, false alarm),
    that contact is recorded as a check-in by the office, so the watch resumes from now."""
    _require(by, "alert.resolve", alert)
    note = (note or "").strip()
    if reason not in Alert.Resolution.values:
        raise ValidationError({"reason": "Choose why the alert is closed: " +
                               ", ".join(label.lower() for label in Alert.Resolution.labels) + "."})
    if reason == Alert.Resolution.OTHER and not note:
        raise ValidationError({"note": "Say what happened: a note is required when the reason is 'other'."})
    now = timezone.now()
    with transaction.atomic():
        visit, watch = watches.lock(alert.visit)
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.state == Alert.State.RESOLVED:
            raise NotAllowed(f"This alert was already resolved by "
                             f"{locked.resolved_by.full_name if locked.resolved_by is not None else 'Doorstep'}.")
        Alert.objects.filter(pk=locked.pk).update(
            state=Alert.State.RESOLVED, resolved_by=by, resolved_at=now, resolution=reason, note=note,
            owner=locked.owner or by, step_token=new_token(), step_due_at=None,
        )
        live.changed(locked.school_id)
        audit.record(actor=by, school=locked.school, action=Action.ALERT_RESOLVED, obj=locked, request=request,
                     summary=f"{by.full_name} resolved the {locked.in_a_sentence}: "
                             f"{Alert.Resolution(reason).label.lower()}",
                     reason=note, data={"reason": reason, "step": locked.step})
        notify_services.cancel_calls(locked.pk)  # nobody is rung about a closed alert
        if watch is not None and watch.status != Watch.Status.SAFE and visit.state == Visit.State.UNDER_WAY:
            policy = policy_for(visit)
            events = journey.events_of(visit)
            if not locked.is_top and locked.contact_at is None and \
                    reason in (Alert.Resolution.STAFF_SAFE, Alert.Resolution.FALSE_ALARM):
                # The office reached the staff: that is a check-in by them, from a call.
                events.append(visit_events.create(
                    visit, VisitEvent.Type.CHECK_IN, at=now, now=now, by=by, via=VisitEvent.Via.OFFICE_CALL,
                    note=f"Recorded when {by.full_name} resolved the alert ({Alert.Resolution(reason).label.lower()})",
                ))
                watches.note_contact(watch, now)
            if watches.refresh(watch, visit, policy, events, now) is None:
                # Everyone had checked out while this alarm was open: the visit can close now.
                watches.finish_if_everyone_back(visit, watch, policy, events, by, VisitEvent.Via.OFFICE_CALL,
                                                now, request)
    alert.refresh_from_db()
    return alert


def contact_restored(visit: Visit, *, by: StaffMember, now: datetime.datetime, note: str) -> None:
    """Word came from the staff (a check-in, from the phone or by the office from a call): the
    visit's open overdue / office-call alerts stop escalating (the token changes, as when
    acknowledging) and say when contact came; a person still resolves them with a reason."""
    waiting = Alert.objects.filter(visit=visit, kind__in=[Alert.Kind.OVERDUE, Alert.Kind.OFFICE_CALL_MISSED],
                                   contact_at__isnull=True).exclude(state=Alert.State.RESOLVED)
    for alert in waiting:
        hit = Alert.objects.filter(pk=alert.pk, contact_at__isnull=True).exclude(state=Alert.State.RESOLVED).update(
            contact_at=now, step_token=new_token(), step_due_at=None,
        )
        if hit:
            live.changed(visit.school_id)
            audit.record(actor=by, school=visit.school, action=Action.ALERT_CONTACT_RESTORED, obj=alert,
                         summary=f"Contact restored: {note}; the escalation stopped", reason=note,
                         data={"step": alert.step})
            notify_services.cancel_calls(alert.pk)  # word came: nobody need be rung about it now
