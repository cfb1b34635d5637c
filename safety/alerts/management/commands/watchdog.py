"""The watchdog: every second, raise alerts for missed deadlines, remind staff of check-ins
due soon, and advance unacknowledged escalations (safety.watchdog.poll).

    doorstep watchdog              # loop until SIGTERM / Ctrl-C
    doorstep watchdog --once       # one pass, then exit (tests, cron-style checks)

Several may run against one PostgreSQL database: every change is a conditional UPDATE, so
each alert and each step happens once. A heartbeat row is written before each pass (so before
the first, which may have a backlog to raise after an outage) and every few seconds inside a
long pass; the office board warns loudly when it is more than 15 seconds old.

A database that is locked or away fails a pass, not the loop: the error is written to stderr,
the heartbeat goes stale (so the board shows nobody is watching), and the next pass, on a
fresh connection, raises whatever fell due meanwhile. `--once` exits non-zero instead.
"""
import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.db.models import Min
from django.utils import timezone

from safety import watchdog
from safety.alerts.models import Alert
from safety.checkins.models import Watch


def _until_next_due(limit):
    """Seconds until the next deadline or escalation step falls due, at most `limit`. The
    watchdog wakes for it instead of on its next tick: with a plain one-second tick an alert
    waited up to a second more, and p99 missed the one-second goal (docs/benchmarks.md).
    Rows already due are not counted, so one that keeps failing cannot make the loop spin."""
    now = timezone.now()
    soonest = [
        Watch.objects.filter(status=Watch.Status.OK, alert_at__gt=now).aggregate(at=Min("alert_at"))["at"],
        Alert.objects.filter(state=Alert.State.OPEN, step_due_at__gt=now).aggregate(at=Min("step_due_at"))["at"],
    ]
    soonest = [at for at in soonest if at is not None]
    return min([limit] + [(at - now).total_seconds() for at in soonest])


class Command(BaseCommand):
    help = "Watch visits under way: raise alerts for missed check-ins and escalate them."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between passes (default 1)")
        parser.add_argument("--name", default=None, help="Heartbeat name (default host:pid)")

    def handle(self, *args, once=False, interval=1.0, name=None, **options):
        name = name or watchdog.heartbeat_name()
        started = timezone.now()
        stopping = []
        if not once:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda signum, frame: stopping.append(signum))
            self.stdout.write(f"doorstep watchdog {name}: polling every {interval:g} s")
            self.stdout.flush()
        healthy = True  # before the first pass too: the board's warning must not wait for a backlog
        while True:
            began = time.monotonic()
            failure = None
            try:
                if not connection.in_atomic_block:
                    close_old_connections()  # a database restart must not kill the loop for good
                # Beat only while passes succeed: a watchdog whose every pass fails must look
                # stale on the board, not alive.
                if healthy:
                    watchdog.beat(name, started_at=started)
            except Exception as exc:  # noqa: BLE001 - the pass below still tries; it matters more
                failure = exc
                self.stderr.write(f"doorstep watchdog: heartbeat failed: {exc!r}")
            try:
                done = watchdog.poll(heartbeat=name, started_at=started)
                healthy = True
            except Exception as exc:  # noqa: BLE001 - keep watching; the stale heartbeat shows the trouble
                failure, healthy, done = exc, False, None
                self.stderr.write(f"doorstep watchdog: pass failed: {exc!r}")
            if once and failure is not None:
                raise failure
            if done and any(done.values()):
                self.stdout.write(f"doorstep watchdog: {done}")
                self.stdout.flush()
            if once or stopping:
                break
            try:
                wait = min(interval - (time.monotonic() - began), _until_next_due(interval))
            except Exception:  # noqa: BLE001 - the database is away: tick as usual, the pass will say so
                wait = interval - (time.monotonic() - began)
            time.sleep(max(0.0, wait))
            if stopping:
                break
        if not once:
            self.stdout.write("doorstep watchdog: stopped")
