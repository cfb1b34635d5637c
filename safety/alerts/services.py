"""Alerts and their escalation: raising, advancing, acknowledging, resolving, the police card,
and the watchdog's poll and heartbeat (docs/safety-core.md).

Concurrency, in short: the watchdog never reads-then-writes. It moves a watch from `ok` to
`overdue` with `UPDATE ... WHERE id = ? AND status = 'ok' AND alert_at = ?` and raises the
alert only if that hit a row; it advances a step with `UPDATE ... WHERE id = ? AND
step_token = ? AND state = 'open'` and notifies only if that hit a row (and `AlertStep`'s
unique (alert, step) would refuse a second notification anyway). Each change and its
outbox messages are one transaction, so a crash loses nothing and doubles nothing.
Locks taken by people (check-ins, acknowledging, resolving) go visit, then watch, then alert.
"""
from __future__ import annotations

import datetime
import logging
import os
import socket

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from safety.checkins.models import VisitEvent, Watch
from core.text import and_list
from people.models import StaffMember
from people.permissions import HELPERS, can
from policy_engine import cite
from visits import services as visit_services
from visits.models import Visit

from .models import Alert, AlertStep, Heartbeat, new_token

log = logging.getLogger("doorstep.watchdog")

HEARTBEAT_STALE_SECONDS = 15
# Inside a long pass (a backlog after an outage) the watchdog beats this often, well inside
# the 15 seconds after which the board says nobody is watching; a normal pass takes
# milliseconds and never reaches it, so it costs nothing then.
BEAT_DURING_PASS_SECONDS = 5
# A step told this much later than the policy's timeline says how late it comes, so nobody
# reading it thinks the deadline was just missed.
LATE_ENOUGH_TO_SAY = datetime.timedelta(minutes=1)
HEARTBEAT_KEPT = datetime.timedelta(days=7)  # rows of watchdogs long gone are removed
REMINDED = (Watch.Status.OK, Watch.Status.ALARM)
NotAllowed = visit_services.NotAllowed

# What each missed deadline raises.
MISSED_KIND = {"office_call_due": Alert.Kind.OFFICE_CALL_MISSED}
KIND_WORDS = {  # {has}: "has" for one person, "have" for a pair
    Alert.Kind.OVERDUE: "{has} not checked in",
    Alert.Kind.OFFICE_CALL_MISSED: "{has} not had the office's call",
    Alert.Kind.CODE_WORD: "used the code word in a call to the office",
    Alert.Kind.PANIC: "pressed panic",
    Alert.Kind.DURESS: "may be in danger (silent alarm)",
}
# The police: 999 when life is at risk, 101 (a welfare check) for an overdue worker. A school
# has no police URN, so there is no alarm-receiving-centre route (NPCC policy; research (d) 6).
POLICE_GUIDANCE = {
    "emergency": "Call 999 if anyone is in immediate danger or there is a threat to life (a panic, a duress "
                 "PIN, the code word, or what you hear in a call).",
    "welfare": "Otherwise, for staff who are overdue and cannot be reached, call 101 and ask for a welfare check.",
    "reference": "NPCC police response policy: schools have no unique reference number (URN), so alarms are "
                 "reported like any other 999 or 101 call.",
}


# ----------------------------------------------------------------------------- helpers

def _timing():
    from policy_engine import timing

    return timing


def ladder_for(visit):
    """(ladder copy, clause, policy version) from the version the visit runs under."""
    version = visit_services.policy_version_for(visit)
    policy = version.load()
    ladder = [dict(step) for step in policy.value("escalation.ladder")]
    return ladder, policy.escalation.ladder.clause, version


def step_due_at(ladder, ladder_from, step):
    """When `step` gives way to the next if nobody acknowledges (the ladder timed from
    `ladder_from`, the alert's own due time): None at the last step."""
    times = _timing().escalation_steps(ladder, ladder_from, from_step=0)
    for index, at, _ in times:
        if index == step + 1:
            return at
    return None


def recipients(school_id, roles, visit=None):
    """Active staff of the school holding any of `roles`; "everyone" means everyone who can
    help (leaders, DSL, office). Never the staff on the visit itself: a duress message on the
    phone of the person in danger would give them away."""
    wanted = set(roles)
    if "everyone" in wanted:
        wanted = (wanted - {"everyone"}) | HELPERS
    people = StaffMember.objects.active().filter(school=school_id, roles__role__in=wanted).distinct()
    if visit is not None:
        people = people.exclude(assignments__visit=visit)
    return list(people.order_by("pk"))


def _team(visit):
    return visit_services.visit_staff(visit)


def _names(people):
    return and_list((p.full_name for p in people), empty="Staff")


def board_link(alert):
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


def _when_words(alert, now) -> str:
    """When it happened, as the message says it: the time the missed check-in was due (not
    when the watchdog noticed), or the time of the alarm."""
    if alert.is_top:
        return f"at {_clock(alert.event.at if alert.event_id else alert.raised_at, now)}"
    return f"due at {_clock(alert.missed_due_at or alert.ladder_from, now)}"


def _notify_step(alert, visit, step, now, staff=None, due_at=None):
    """Tell this step's roles, once (unique AlertStep), in the caller's transaction. `due_at`
    is when the policy's timeline has the step (now, unless the watchdog is catching up)."""
    from notify.services import notify

    due_at = due_at or now
    rung = alert.ladder[step] if step < len(alert.ladder) else {"notify": ["everyone"]}
    people = recipients(alert.school_id, rung.get("notify", []), visit)
    AlertStep.objects.create(alert=alert, step=step, at=now, due_at=due_at, notify=rung.get("notify", []),
                             recipients=len(people))
    people_meant = staff if staff else _team(visit)
    who = _names(people_meant)
    what = KIND_WORDS[alert.kind].format(has="have" if len(people_meant) > 1 else "has")
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
        # Watched from the schedule (checkins.watch_scheduled): nobody has started it, so say that.
        opening = (f"{who} {'were' if len(people_meant) > 1 else 'was'} due to start a home visit at "
                   f"{_clock(visit.starts_at, now)} and nobody has checked in")
    body = (f"{opening} ({_when_words(alert, now)}). "
            f"Open the office board and acknowledge.{police}{last}{late}")
    if people:
        notify(people, kind=f"alert.{alert.kind}", subject=subject, body=body, link=board_link(alert),
               school=visit.school, alert=alert, idempotency_key=f"alert:{alert.pk}:step:{step}")
    audit.record(
        actor=None, school=visit.school, action=Action.ALERT_STEP, obj=alert,
        summary=f"Alert step {step + 1} of {len(alert.ladder)}: told {', '.join(rung.get('notify', []))} "
                f"({len(people)} people)" + (f", {_minutes_words(delay)} after the policy's time" if late else ""),
        data={"step": step, "notify": rung.get("notify", []), "recipients": [p.pk for p in people],
              "due_at": due_at.isoformat(), "late_seconds": round(max(0.0, delay.total_seconds()), 1),
              "clause": rung.get("clause", "default"), "call_police": bool(rung.get("call_police"))},
    )
    return people


# ----------------------------------------------------------------------------- raising

def raise_alert(visit, *, kind, now=None, event=None, missed="", missed_due_at=None, staff=None,
                ladder_from=None) -> Alert:
    """Start an alert with a snapshot of the policy's ladder and tell its first step; code word,
    panic and duress start at the top step (issue 3 §2). Call inside the transaction of the
    change that causes it.

    `ladder_from` is when the policy says the alert is due (default: now). A watchdog that
    raises it late (after an outage) passes the missed deadline's alert time, so the next
    steps fall due on the policy's timeline from there: those already past are told at once,
    in order, by the same pass (`poll`)."""
    now = now or timezone.now()
    ladder, clause, version = ladder_for(visit)
    kind = Alert.Kind(kind)
    top = kind in Alert.TOP_KINDS
    step = len(ladder) - 1 if top else 0
    # Danger now starts at the top step at once, whatever the clock says.
    ladder_from = now if top or ladder_from is None else min(ladder_from, now)
    alert = Alert.objects.create(
        school_id=visit.school_id, visit=visit, kind=kind, event=event, missed=missed, missed_due_at=missed_due_at,
        raised_at=now, ladder_from=ladder_from, ladder=ladder, ladder_clause=clause[:60], policy_version=version,
        step=step, step_due_at=None if top else step_due_at(ladder, ladder_from, step),
    )
    if top:
        Watch.objects.filter(visit=visit).exclude(status=Watch.Status.SAFE).update(status=Watch.Status.ALARM)
    audit.record(
        actor=None, school=visit.school, action=Action.ALERT_RAISED, obj=alert,
        summary=f"{alert.get_kind_display()} alert raised" + (f" ({missed.replace('_', ' ')} missed)" if missed else "")
                + (f", {_minutes_words(now - ladder_from)} after the policy's time"
                   if now - ladder_from >= LATE_ENOUGH_TO_SAY else ""),
        data={"visit": visit.pk, "kind": kind.value, "step": step, "event": event.pk if event else None,
              "ladder_clause": clause, "policy_version": version.version, "ladder_from": ladder_from.isoformat(),
              "late_seconds": round((now - ladder_from).total_seconds(), 1)},
    )
    _notify_step(alert, visit, step, now, staff=staff, due_at=ladder_from)
    return alert


def raise_overdue(watch_id, alert_at, now) -> Alert | None:
    """The watchdog's move for one watch: ok -> overdue, and the alert, in one transaction.
    Returns the alert, or None if another watchdog (or a check-in) got there first."""
    with transaction.atomic():
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
        if hit != 1:
            return None
        watch = Watch.objects.select_related("visit", "visit__school").get(pk=watch_id)
        kind = MISSED_KIND.get(watch.next_kind, Alert.Kind.OVERDUE)
        # The ladder runs from alert_at, when the policy says this alert is due, however late
        # the watchdog got here (an outage). A deadline that was already past when it was
        # stored (a check-in recorded late, with an earlier time) could not have been alerted
        # before Doorstep knew of it: its ladder runs from then, the office first.
        return raise_alert(watch.visit, kind=kind, now=now, missed=watch.next_kind, missed_due_at=watch.due_at,
                           ladder_from=max(alert_at, stored_at))


def send_reminder(watch_id, reminder_at, now) -> bool:
    """Remind the staff on the visit that a check-in is nearly due, once per deadline."""
    from notify.services import notify

    with transaction.atomic():
        # Also in alarm: a phone that stopped getting reminders after a duress PIN would give it away.
        hit = Watch.objects.filter(pk=watch_id, reminder_at=reminder_at, reminder_sent_at__isnull=True,
                                   status__in=REMINDED).update(reminder_sent_at=now)
        if hit != 1:
            return False
        watch = Watch.objects.select_related("visit", "visit__school").get(pk=watch_id)
        team = _team(watch.visit)
        what = watch.next_kind.replace("_", " ").replace(" due", "")
        notify(team, kind="checkin.reminder", school=watch.visit.school,
               subject=f"Reminder: {what} due at {timezone.localtime(watch.due_at):%H:%M}",
               body=f"Your {what} on this home visit is due at {timezone.localtime(watch.due_at):%H:%M}. "
                    "Open Doorstep to check in.",
               link="/today/", idempotency_key=f"watch:{watch.pk}:reminder:{reminder_at.isoformat()}")
    return True


def advance(alert_id, token, now) -> bool:
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
    return True


# ----------------------------------------------------------------------------- people acting

def _require(by, action, alert):
    if not can(by, action, alert):
        raise NotAllowed("Only the office, the headteacher, the deputy or the DSL of this school can do this.")


def acknowledge(alert, *, by, request=None) -> Alert:
    """Take ownership: the pending steps are cancelled (the token changes)."""
    _require(by, "alert.acknowledge", alert)
    now = timezone.now()
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.state != Alert.State.OPEN:
            owner = locked.owner.full_name if locked.owner_id else "someone"
            raise NotAllowed(f"This alert was already {locked.get_state_display().lower()} by "
                             f"{owner if locked.state == Alert.State.ACKNOWLEDGED else (locked.resolved_by.full_name if locked.resolved_by_id else 'someone')}.")
        hit = Alert.objects.filter(pk=locked.pk, state=Alert.State.OPEN, step_token=locked.step_token).update(
            state=Alert.State.ACKNOWLEDGED, owner=by, acknowledged_at=now, step_token=new_token(), step_due_at=None,
        )
        if hit != 1:  # pragma: no cover - the row is locked
            raise NotAllowed("This alert changed while you were acknowledging it; look again.")
        audit.record(actor=by, school=locked.school, action=Action.ALERT_ACKNOWLEDGED, obj=locked, request=request,
                     summary=f"{by.full_name} acknowledged the {locked.get_kind_display().lower()} alert and took it on",
                     data={"step": locked.step, "seconds_to_acknowledge": (now - locked.raised_at).total_seconds()})
    alert.refresh_from_db()
    return alert


def resolve(alert, *, by, reason, note="", request=None) -> Alert:
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
    from safety.checkins import services as checkins

    with transaction.atomic():
        visit, watch = checkins._lock(alert.visit)
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.state == Alert.State.RESOLVED:
            raise NotAllowed(f"This alert was already resolved by "
                             f"{locked.resolved_by.full_name if locked.resolved_by_id else 'Doorstep'}.")
        Alert.objects.filter(pk=locked.pk).update(
            state=Alert.State.RESOLVED, resolved_by=by, resolved_at=now, resolution=reason, note=note,
            owner=locked.owner or by, step_token=new_token(), step_due_at=None,
        )
        audit.record(actor=by, school=locked.school, action=Action.ALERT_RESOLVED, obj=locked, request=request,
                     summary=f"{by.full_name} resolved the {locked.get_kind_display().lower()} alert: "
                             f"{Alert.Resolution(reason).label.lower()}",
                     reason=note, data={"reason": reason, "step": locked.step})
        if watch is not None and watch.status != Watch.Status.SAFE and visit.state == Visit.State.UNDER_WAY:
            version, policy = checkins.policy_for(visit)
            events = checkins._events(visit)
            if not locked.is_top and locked.contact_at is None and \
                    reason in (Alert.Resolution.STAFF_SAFE, Alert.Resolution.FALSE_ALARM):
                events.append(VisitEvent.objects.create(
                    visit=visit, school_id=visit.school_id, type=VisitEvent.Type.CHECK_IN, at=now, recorded_at=now,
                    recorded_by=by, via=VisitEvent.Via.OFFICE_CALL,
                    note=f"Recorded when {by.full_name} resolved the alert ({Alert.Resolution(reason).label.lower()})",
                ))
                watch.last_check_in_at = now
            if checkins.refresh_watch(watch, visit, policy, events, now) is None:
                # Everyone had checked out while this alarm was open: the visit can close now.
                checkins.finish_if_everyone_back(visit, watch, policy, events, by, VisitEvent.Via.OFFICE_CALL,
                                                 now, request)
    alert.refresh_from_db()
    return alert


def contact_restored(visit, *, by, now, note):
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
            audit.record(actor=by, school=visit.school, action=Action.ALERT_CONTACT_RESTORED, obj=alert,
                         summary=f"Contact restored: {note}; the escalation stopped", reason=note,
                         data={"step": alert.step})


# ----------------------------------------------------------------------------- the police card

def police_card(alert, *, by, request=None) -> dict:
    """Everything the police will ask, on one screen (DESIGN "The police card"). Reading it is
    a sensitive read and is written to the audit trail."""
    _require(by, "alert.police_card", alert)
    from safety.checkins.services import last_contact
    from pupils.models import HouseholdNote

    visit = Visit.objects.select_related("pupil", "school", "policy_version").get(pk=alert.visit_id)
    version = visit_services.policy_version_for(visit)
    policy = version.load()
    staff = []
    for person in _team(visit):
        vehicle = person.current_vehicle()
        staff.append({
            "id": person.pk, "name": person.full_name, "appearance": person.appearance, "mobile": person.mobile,
            "vehicle": None if vehicle is None else {
                "make": vehicle.make, "model": vehicle.model, "colour": vehicle.colour,
                "registration": vehicle.registration,
            },
        })
    risks = [
        {"kind": n.kind, "text": n.text, "dangerous": n.dangerous, "recorded_at": n.recorded_at}
        for n in HouseholdNote.objects.filter(pupil=visit.pupil_id).order_by("-dangerous", "-recorded_at")
        if n.is_risk
    ]
    contact = last_contact(visit)
    watch = Watch.objects.filter(visit=visit).first()
    card = {
        "alert": {"id": alert.pk, "kind": alert.kind, "state": alert.state, "raised_at": alert.raised_at,
                  "step": alert.step, "steps": len(alert.ladder), "red": alert.is_red},
        "visit": {"id": visit.pk, "starts_at": visit.starts_at, "ends_at": visit.ends_at, "state": visit.state},
        "staff": staff,
        "address": visit.pupil.address,
        "access_notes": visit.pupil.access_notes,
        "household_risks": risks,
        "last_check_in": None if contact is None else {
            "at": contact.at, "type": contact.type, "location": contact.location or (watch.last_location if watch else ""),
            "via": contact.via, "by": contact.recorded_by.full_name,
        },
        "school": {"name": visit.school.name, "phone": visit.school.phone, "address": visit.school.address},
        "police": {
            **POLICE_GUIDANCE,
            "immediate_danger": policy.escalation.immediate_danger.value,
            "immediate_danger_clause": cite(policy.escalation.immediate_danger.clause),
            "ladder_says_call_police": any(s.get("call_police") for s in alert.ladder[: alert.step + 1]),
        },
    }
    audit.record(actor=by, school=visit.school, action=Action.ALERT_POLICE_CARD_READ, obj=alert, request=request,
                 summary=f"{by.full_name} opened the police card (staff, address, vehicles, household risks)",
                 data={"visit": visit.pk})
    return card


# ----------------------------------------------------------------------------- the watchdog

class _Pulse:
    """Beats the heartbeat every BEAT_DURING_PASS_SECONDS while a pass works through a
    backlog, so the board does not say nobody is watching while alerts are being raised. A
    beat that fails is logged and the pass goes on: raising alerts matters more."""

    def __init__(self, name: str | None, started_at: datetime.datetime | None) -> None:
        self.name, self.started_at = name, started_at
        self.last = timezone.now()

    def __call__(self) -> None:
        if self.name is None:
            return
        now = timezone.now()
        if (now - self.last).total_seconds() < BEAT_DURING_PASS_SECONDS:
            return
        self.last = now
        try:
            beat(self.name, started_at=self.started_at, now=now, loop=False)
        except Exception:  # noqa: BLE001 - the heartbeat is a warning light, not the alarm
            log.exception("watchdog: heartbeat during the pass failed")


# Steps already overdue (an alert raised late, a watchdog that was stopped) are told one
# per round, each in its own transaction, in ladder order, all in the same pass; this bounds
# the rounds should an alert keep failing.
CATCH_UP_ROUNDS = 20


def poll(now=None, *, batch=500, heartbeat: str | None = None,
         started_at: datetime.datetime | None = None) -> dict:
    """One pass of the watchdog: raise overdue alerts, send reminders, advance escalations.
    Each item is its own transaction, so one failure cannot hold back the others. With
    `heartbeat` (the watchdog's name) a long pass beats every few seconds as it goes."""
    now = now or timezone.now()
    pulse = _Pulse(heartbeat, started_at)
    done = {"raised": 0, "reminded": 0, "advanced": 0}
    due = list(Watch.objects.filter(status=Watch.Status.OK, alert_at__lte=now)
               .order_by("alert_at").values_list("pk", "alert_at")[:batch])
    for pk, alert_at in due:
        pulse()
        if _safely(raise_overdue, pk, alert_at, now):
            done["raised"] += 1
    reminders = list(Watch.objects.filter(status__in=REMINDED, reminder_at__lte=now, reminder_sent_at__isnull=True)
                     .values_list("pk", "reminder_at")[:batch])
    for pk, reminder_at in reminders:
        pulse()
        if _safely(send_reminder, pk, reminder_at, now):
            done["reminded"] += 1
    for _ in range(CATCH_UP_ROUNDS):
        steps = list(Alert.objects.filter(state=Alert.State.OPEN, step_due_at__lte=now)
                     .order_by("step_due_at").values_list("pk", "step_token")[:batch])
        advanced = 0
        for pk, token in steps:
            pulse()
            if _safely(advance, pk, token, now):
                advanced += 1
        done["advanced"] += advanced
        if not advanced:
            break
    return done


def _safely(fn, *args):
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - one bad row must not stop the watchdog; it is retried next loop
        log.exception("watchdog: %s%r failed; it will be retried", fn.__name__, args)
        return None


def heartbeat_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(name=None, *, started_at=None, now=None, loop=True) -> Heartbeat:
    """Say this watchdog is alive. `loop`: this beat starts a pass (counted in `loops`); the
    beats inside a long pass are not counted."""
    now = now or timezone.now()
    name = name or heartbeat_name()
    host, _, pid = name.rpartition(":")
    updated = Heartbeat.objects.filter(name=name).update(beat_at=now, **({"loops": F("loops") + 1} if loop else {}))
    if not updated:
        Heartbeat.objects.filter(beat_at__lt=now - HEARTBEAT_KEPT).delete()
        Heartbeat.objects.get_or_create(
            name=name, defaults={"host": host, "pid": int(pid) if pid.isdigit() else 0,
                                 "started_at": started_at or now, "beat_at": now},
        )
    return Heartbeat.objects.get(name=name)


def last_heartbeat():
    return Heartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()


def watchdog_is_stale(now=None) -> bool:
    """True when no watchdog has beaten in the last 15 seconds (or none ever has)."""
    now = now or timezone.now()
    last = last_heartbeat()
    return last is None or now - last > datetime.timedelta(seconds=HEARTBEAT_STALE_SECONDS)


# ----------------------------------------------------------------------------- the board

URGENCY = {Watch.Status.ALARM: 0, Watch.Status.OVERDUE: 1}
DUE_SOON = datetime.timedelta(minutes=5)


def board(school_ids, now=None) -> dict:
    """Every visit under way at these schools, most urgent first: alarm, overdue, due soon, fine."""
    from safety.checkins.services import under_way

    from .board_view import pupil_label

    now = now or timezone.now()
    alerts_by_visit = {}
    for alert in (Alert.objects.filter(school__in=school_ids).exclude(state=Alert.State.RESOLVED)
                  .select_related("owner").order_by("raised_at")):
        alerts_by_visit.setdefault(alert.visit_id, []).append(alert)
    rows = []
    for watch in under_way(school_ids, now):
        visit = watch.visit
        team = sorted(watch.people.all(), key=lambda p: p.pk)
        if watch.status in URGENCY:
            urgency, rank = watch.status, URGENCY[watch.status]
        elif watch.due_at is not None and watch.due_at - now <= DUE_SOON:
            urgency, rank = "due_soon", 2
        else:
            urgency, rank = "fine", 3
        action = ""
        if watch.next_kind == "office_call_due" and watch.due_at is not None and watch.due_at <= now + DUE_SOON:
            lead = team[0].staff if team else None
            if lead is not None:
                action = f"Call {lead.full_name} now on {lead.mobile or 'their mobile'}"
        rows.append({
            # Initials and year only, as on the board page: enough to tell two visits apart
            # (alerts/board_view.py says why the office needs no more here).
            "visit_id": visit.pk, "school_id": visit.school_id,
            "pupil": pupil_label(visit.pupil.first_name, visit.pupil.last_name, visit.pupil.year_group),
            "starts_at": visit.starts_at, "ends_at": visit.ends_at, "status": watch.status, "urgency": urgency,
            "next_kind": watch.next_kind or None, "what": watch.what, "due_at": watch.due_at, "alert_at": watch.alert_at,
            "clause": watch.clause, "outcome": watch.outcome or None, "action": action,
            "last_check_in_at": watch.last_check_in_at, "last_location": watch.last_location,
            "staff": [{"id": p.staff_id, "name": p.staff.full_name, "mobile": p.staff.mobile,
                       "left_home_at": p.left_home_at, "back_safe_at": p.back_safe_at} for p in team],
            "alerts": [_alert_row(a) for a in alerts_by_visit.get(visit.pk, [])],
            "_rank": (rank, watch.due_at or visit.ends_at),
        })
    rows.sort(key=lambda r: r.pop("_rank"))
    last = last_heartbeat()
    return {"now": now, "watchdog": {"last_beat_at": last, "stale": watchdog_is_stale(now)}, "visits": rows}


def _alert_row(alert):
    return {"id": alert.pk, "kind": alert.kind, "state": alert.state, "raised_at": alert.raised_at,
            "step": alert.step, "steps": len(alert.ladder), "step_due_at": alert.step_due_at,
            "red": alert.is_red, "owner": alert.owner.full_name if alert.owner_id else None,
            "contact_at": alert.contact_at, "missed": alert.missed or None}
