"""The watchdog: every second, raise alerts for missed deadlines, remind staff of check-ins
due soon, and advance unacknowledged escalations (alerts.services.poll).

    doorstep watchdog              # loop until SIGTERM / Ctrl-C
    doorstep watchdog --once       # one pass, then exit (tests, cron-style checks)

Several may run against one PostgreSQL database: every change is a conditional UPDATE, so
each alert and each step happens once. A heartbeat row is written every loop; the office
board warns loudly when it is more than 15 seconds old.
"""
import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.utils import timezone

from alerts import services


class Command(BaseCommand):
    help = "Watch visits under way: raise alerts for missed check-ins and escalate them."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between passes (default 1)")
        parser.add_argument("--name", default=None, help="Heartbeat name (default host:pid)")

    def handle(self, *args, once=False, interval=1.0, name=None, **options):
        name = name or services.heartbeat_name()
        started = timezone.now()
        stopping = []
        if not once:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda signum, frame: stopping.append(signum))
            self.stdout.write(f"doorstep watchdog {name}: polling every {interval:g} s")
            self.stdout.flush()
        while True:
            began = time.monotonic()
            if not connection.in_atomic_block:
                close_old_connections()  # a database restart must not kill the loop for good
            try:
                done = services.poll()
                services.beat(name, started_at=started)
            except Exception as exc:  # noqa: BLE001 - keep watching; the stale heartbeat shows the trouble
                self.stderr.write(f"doorstep watchdog: pass failed: {exc!r}")
                if once:
                    raise
                done = None
            if done and any(done.values()):
                self.stdout.write(f"doorstep watchdog: {done}")
                self.stdout.flush()
            if once or stopping:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
            if stopping:
                break
        if not once:
            self.stdout.write("doorstep watchdog: stopped")
