"""The jobs that run once a day: the attendance referral scan, the review of agreements and
the check that the text and email services answer (for the readiness panel).

    doorstep daily              run them now, once (exit 1 if one of them failed)
    doorstep daily --loop       run them now, then every day at --at (default 06:30)

`doorstep start` runs the loop. Both jobs change nothing when run twice on the same day,
so a restart, or two machines each running the loop, cannot open a case twice or send a
second letter: no bookkeeping of "has it run today" is needed.

The loop rides out a database that is locked or away: a job that fails is reported on
stderr and tried again after --retry-after seconds (default 5 minutes) until it succeeds,
and the database connection is checked afresh before each job, so a connection lost to a
database restart is replaced rather than failing every run after it.
"""
import datetime
import signal
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections
from django.utils import timezone

JOBS = ["referral_scan", "review_agreements", "check_providers", "sync_mis"]
# A job's arguments: the MIS sync runs for every school connected to Wonde (docs/mis-sync.md).
JOB_ARGS = {"sync_mis": ["--all"]}


def next_run(now: datetime.datetime, at: datetime.time) -> datetime.datetime:
    """The next moment at `at` o'clock strictly after `now` (local time)."""
    candidate = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + datetime.timedelta(days=1)


def drop_broken_connections() -> None:
    """What Django's close_old_connections() does around each web request, which a
    long-running loop must do itself, plus a check that an idle connection still works: a
    database restarted while the loop slept leaves a connection that has seen no error yet
    but fails its first query. A connection inside a transaction (a test's) is left alone."""
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        conn.close_if_unusable_or_obsolete()
        if conn.connection is not None and not conn.is_usable():
            conn.close()


class Command(BaseCommand):
    help = "Run the daily jobs (referral scan, agreement review) now, or every day with --loop."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep running: once now, then daily")
        parser.add_argument("--at", default="06:30", help="Time of day for the daily run (HH:MM, default 06:30)")
        parser.add_argument("--retry-after", type=float, default=300, metavar="SECONDS",
                            help="With --loop, try a failed job again after this many seconds (default 300)")

    def handle(self, *args, loop: bool = False, at: str = "06:30", retry_after: float = 300, **options):
        try:
            at_time = datetime.time.fromisoformat(at)
        except ValueError:
            raise CommandError(f"--at: expected HH:MM, got {at!r}") from None
        if retry_after <= 0:
            raise CommandError("--retry-after must be more than 0 seconds")
        stopping = []
        if loop:
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        retry = datetime.timedelta(seconds=retry_after)
        daily_due = timezone.localtime()  # everything runs at once on start
        pending: list[str] = []
        while True:
            now = timezone.localtime()
            if now >= daily_due:
                # The day's run: every job, whatever is still failing from the last one.
                pending = list(JOBS)
                daily_due = next_run(now, at_time)
            pending = self.run_jobs(pending)
            if not loop:
                if pending:
                    # Run from cron, a failure must show as one (cron mails it; systemd marks it).
                    raise CommandError(f"{' and '.join(pending)} failed (see above); run `doorstep daily` again")
                return
            if pending:
                due = min(daily_due, timezone.localtime() + retry)
                self.stderr.write(f"daily: {', '.join(pending)} did not finish; trying again at {due:%H:%M:%S}")
            else:
                due = daily_due
                self.stdout.write(f"daily: next run {due:%a %d %b %H:%M}")
            self.stdout.flush()
            self.stderr.flush()
            while not stopping and timezone.localtime() < due:
                time.sleep(min(1.0, retry_after))
            if stopping:
                self.stdout.write("daily: stopped")
                return

    def run_jobs(self, jobs: list[str]) -> list[str]:
        """Run each job; return the ones that failed."""
        failed = []
        for job in jobs:
            # One failing job must not stop the other, nor the loop: the error is printed
            # (and so reaches the log of `doorstep start`), and the job is tried again later.
            try:
                # A connection broken by a database restart, or by the job before, is
                # dropped here and a new one opened, instead of failing every job after it.
                drop_broken_connections()
                call_command(job, *JOB_ARGS.get(job, []), stdout=self.stdout, stderr=self.stderr)
            except Exception as exc:  # noqa: BLE001 - one failing job must not stop the others (above)
                self.stderr.write(f"daily: {job} failed: {exc!r}")
                failed.append(job)
            finally:
                try:
                    drop_broken_connections()
                except DatabaseError as exc:
                    self.stderr.write(f"daily: could not close a broken database connection: {exc!r}")
        return failed
