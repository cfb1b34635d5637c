"""Review the agreements made with families whose review date has come (run it daily).

    doorstep review_agreements                 as of today
    doorstep review_agreements --date 2026-11-23

Each open agreement that can be measured (attendance at least X % in a window, or no
unauthorised absence in it) is marked kept or broken from the attendance marks. A broken
one sets off what the school's policy asks: a reminder letter drafted for the headteacher,
a note in the attendance record, and on continued failure a proposed follow-up visit
(C 4.2, C 4.3, P §7¶3). Agreements that cannot be measured are left for a person.
Running it twice changes nothing the second time.
"""
import datetime

from django.core.management.base import BaseCommand, CommandError

from reports.services import review_due_agreements


class Command(BaseCommand):
    help = "Mark agreements with families kept or broken at their review date, from the attendance marks."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="Review as of this day (YYYY-MM-DD); default today")

    def handle(self, *args, date=None, **options):
        try:
            day = datetime.date.fromisoformat(date) if date else None
        except ValueError:
            raise CommandError(f"--date: expected YYYY-MM-DD, got {date!r}") from None
        counts = review_due_agreements(day)
        self.stdout.write(f"Agreements reviewed: {counts['kept']} kept, {counts['broken']} broken; "
                          f"{counts['for_a_person']} need a member of staff to review them.")
