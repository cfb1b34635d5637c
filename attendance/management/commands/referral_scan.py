"""Check every pupil against the school's attendance referral threshold (run it daily).

    doorstep referral_scan                      every school, today
    doorstep referral_scan --school 100001 --date 2026-11-23

Opens a case in the headteacher's referral queue for each pupil newly below the threshold.
Running it twice on the same day changes nothing. It never contacts anyone.
"""
import datetime
import time

from django.core.management.base import BaseCommand, CommandError

from attendance.services import referral_scan

from ._school import find_school


class Command(BaseCommand):
    help = "Open referral cases for pupils whose attendance is below their school's policy threshold."

    def add_arguments(self, parser):
        parser.add_argument("--school", help="Only this school (name, URN or id)")
        parser.add_argument("--date", help="Scan as of this day (YYYY-MM-DD); default today")

    def handle(self, *args, school=None, date=None, **options):
        try:
            day = datetime.date.fromisoformat(date) if date else None
        except ValueError:
            raise CommandError(f"--date: expected YYYY-MM-DD, got {date!r}") from None
        started = time.perf_counter()
        results = referral_scan(day, [find_school(school)] if school else None)
        for r in results:
            if r.threshold is None:
                self.stdout.write(f"{r.school}: the policy sets no referral threshold; nothing to check.")
            else:
                self.stdout.write(
                    f"{r.school}: {r.pupils} pupils, {r.below} below {r.threshold.percent}% over "
                    f"{r.threshold.months} months ({r.threshold.clause}); {r.opened} new case(s), {r.cleared} cleared.")
        self.stdout.write(f"Done in {time.perf_counter() - started:.1f} s.")
