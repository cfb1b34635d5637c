"""The watchdog's pass, and its heartbeat: every second `doorstep watchdog` (the command in
safety/alerts/management/commands) calls poll(), which raises the alerts for missed deadlines,
reminds staff of check-ins due soon and advances escalations nobody has acknowledged. Each
item is its own transaction, so one that fails is logged and retried on the next pass.

The watchdog is watched: it writes a heartbeat before each pass and every few seconds inside a
long one, and the office board warns loudly when no watchdog has beaten for 15 seconds
(watchdog_is_stale()).
"""
from __future__ import annotations

import datetime
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from notify import services as notify_services
from safety.alerts.models import Alert, Heartbeat
from safety.checkins.models import Watch
from visits.services import visit_staff

from . import alerting
from . import watch as watches

log = logging.getLogger("doorstep.watchdog")

HEARTBEAT_STALE_SECONDS = 15
# Inside a long pass (a backlog after an outage) the watchdog beats this often, well inside
# the 15 seconds after which the board says nobody is watching; a normal pass takes
# milliseconds and never reaches it, so it costs nothing then.
BEAT_DURING_PASS_SECONDS = 5
HEARTBEAT_KEPT = datetime.timedelta(days=7)  # rows of watchdogs long gone are removed


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
        except Exception:  # the heartbeat is a warning light, not the alarm
            log.exception("watchdog: heartbeat during the pass failed")


# Steps already overdue (an alert raised late, a watchdog that was stopped) are told one
# per round, each in its own transaction, in ladder order, all in the same pass; this bounds
# the rounds should an alert keep failing.
CATCH_UP_ROUNDS = 20


# Missed deadlines raised in one transaction (safety.alerting.raise_overdue_batch): a burst of
# 10,000 is raised at hundreds a second instead of a few dozen (docs/benchmarks.md, "Watchdog
# bursts"). 100, not 50: on PostgreSQL each batch's commit and round trips were what kept it
# under 300 a second (246-288 at 50, 316-380 at 100); a check-in waiting on one of its watch
# rows (or, on SQLite, on the write lock) waits for one batch, about a third of a second.
RAISE_BATCH = 100


def poll(now: datetime.datetime | None = None, *, batch: int = 500, heartbeat: str | None = None,
         started_at: datetime.datetime | None = None, raise_batch: int = 0) -> dict[str, int]:
    """One pass of the watchdog: raise overdue alerts, send reminders, advance escalations.
    Missed deadlines are raised RAISE_BATCH (or `raise_batch`) to a transaction; a batch that
    fails is raised again one alert to a transaction, and every other item is its own
    transaction, so one failure cannot hold back the others. With `heartbeat` (the
    watchdog's name) a long pass beats every few seconds as it goes."""
    now = now or timezone.now()
    pulse = _Pulse(heartbeat, started_at)
    done = {"raised": 0, "reminded": 0, "advanced": 0}
    due = list(Watch.objects.filter(status=Watch.Status.OK, alert_at__lte=now)
               .order_by("alert_at").values_list("pk", "alert_at")[:batch])
    size = raise_batch or RAISE_BATCH
    for first in range(0, len(due), size):
        pulse()
        chunk = due[first:first + size]
        alone = chunk
        if size > 1:
            raised, alone = _safely(alerting.raise_overdue_batch, chunk, now) or (0, chunk)
            done["raised"] += raised
        for pk, alert_at in alone:
            pulse()
            if _safely(alerting.raise_overdue, pk, alert_at, now):
                done["raised"] += 1
    reminders = list(Watch.objects.filter(status__in=watches.REMINDED, reminder_at__lte=now, reminder_sent_at__isnull=True)
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
            if _safely(alerting.advance, pk, token, now):
                advanced += 1
        done["advanced"] += advanced
        if not advanced:
            break
    return done


def _safely(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # one bad row must not stop the watchdog; it is retried next loop
        log.exception("watchdog: %s%r failed; it will be retried", fn.__name__, args)
        return None


def heartbeat_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(name: str | None = None, *, started_at: datetime.datetime | None = None,
         now: datetime.datetime | None = None, loop: bool = True) -> Heartbeat:
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


def last_heartbeat() -> datetime.datetime | None:
    return Heartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()


def watchdog_is_stale(now: datetime.datetime | None = None) -> bool:
    """True when no watchdog has beaten in the last 15 seconds (or none ever has)."""
    return heartbeat_is_stale(last_heartbeat(), now)


def heartbeat_is_stale(last: datetime.datetime | None, now: datetime.datetime | None = None) -> bool:
    """watchdog_is_stale() for a last beat the caller has just read (last_heartbeat())."""
    now = now or timezone.now()
    return last is None or now - last > datetime.timedelta(seconds=HEARTBEAT_STALE_SECONDS)


# ----------------------------------------------------------------------------- reminders

def send_reminder(watch_id: int, reminder_at: datetime.datetime, now: datetime.datetime) -> bool:
    """Remind the staff on the visit that a check-in is nearly due, once per deadline."""
    with transaction.atomic():
        if not watches.claim_reminder(watch_id, reminder_at, now):
            return False
        watch = Watch.objects.select_related("visit", "visit__school").get(pk=watch_id)
        team = visit_staff(watch.visit)
        what = watch.next_kind.replace("_", " ").replace(" due", "")
        notify_services.notify(
            team, kind="checkin.reminder", school=watch.visit.school,
            subject=f"Reminder: {what} due at {timezone.localtime(watch.due_at):%H:%M}",
            body=f"Your {what} on this home visit is due at {timezone.localtime(watch.due_at):%H:%M}. "
                 "Open Doorstep to check in.",
            link="/today/", idempotency_key=f"watch:{watch.pk}:reminder:{reminder_at.isoformat()}",
        )
    return True
