"""The jobs that run once a day: the attendance referral scan and the review of agreements.

    doorstep daily              run them now, once
    doorstep daily --loop       run them now, then every day at --at (default 06:30)

`doorstep start` runs the loop. Both jobs change nothing when run twice on the same day,
so a restart, or two machines each running the loop, cannot open a case twice or send a
second letter: no bookkeeping of "has it run today" is needed.
"""
import datetime
import signal
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

JOBS = ["referral_scan", "review_agreements"]


def next_run(now, at):
    """The next moment at `at` o'clock strictly after `now` (local time)."""
    candidate = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + datetime.timedelta(days=1)


class Command(BaseCommand):
    help = "Run the daily jobs (referral scan, agreement review) now, or every day with --loop."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep running: once now, then daily")
        parser.add_argument("--at", default="06:30", help="Time of day for the daily run (HH:MM, default 06:30)")

    def handle(self, *args, loop=False, at="06:30", **options):
        try:
            at_time = datetime.time.fromisoformat(at)
        except ValueError:
            raise CommandError(f"--at: expected HH:MM, got {at!r}") from None
        stopping = []
        if loop:
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        while True:
            self.run_jobs()
            if not loop:
                return
            due = next_run(timezone.localtime(), at_time)
            self.stdout.write(f"daily: next run {due:%a %d %b %H:%M}")
            self.stdout.flush()
            while not stopping and timezone.localtime() < due:
                time.sleep(1)
            if stopping:
                self.stdout.write("daily: stopped")
                return

    def run_jobs(self):
        for job in JOBS:
            # One failing job must not stop the other, nor the loop: the error is printed
            # (and so reaches the log of `doorstep start`), and tomorrow's run tries again.
            try:
                call_command(job, stdout=self.stdout, stderr=self.stderr)
            except Exception as exc:  # noqa: BLE001
                self.stderr.write(f"daily: {job} failed: {exc!r}")
