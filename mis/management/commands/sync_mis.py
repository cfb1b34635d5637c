"""Sync one school (or every connected school) from Wonde.

    doorstep sync_mis --school "Coteford Junior School"     changes since the last good sync
    doorstep sync_mis --school 100001 --full                everything (pupils not in Wonde marked left)
    doorstep sync_mis --all                                 every school with a Wonde connection (the daily job)

Exit 0: synced. 1: the sync failed (the error is printed; nothing was changed). 2: bad arguments.
"""
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from attendance.management.commands._school import find_school
from mis.models import SyncRun, WondeConnection
from mis.services import AlreadySyncing, sync
from schools.models import School


class Command(BaseCommand):
    help = "Bring pupils, contacts and attendance marks over from the school's MIS through Wonde."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--school", help="The school's name, URN or id")
        parser.add_argument("--all", dest="every", action="store_true", help="Every school with a Wonde connection")
        parser.add_argument("--full", action="store_true",
                            help="Ask Wonde for everything, not only what changed since the last good sync")

    def handle(self, *args: Any, school: str | None = None, every: bool = False, full: bool = False,
               **options: Any) -> None:
        if bool(school) == every:
            raise CommandError("Give either --school NAME or --all", returncode=2)
        if school:
            try:
                targets = [find_school(school)]
            except CommandError as exc:
                raise CommandError(str(exc), returncode=2) from None
            if not WondeConnection.objects.filter(school=targets[0]).exists():
                raise CommandError(f"{targets[0].name} has no Wonde connection: enter its Wonde id and token on "
                                   "the Wonde page first", returncode=2)
        else:
            targets = list(School.objects.filter(wonde__isnull=False).order_by("name"))
        failed = []
        for target in targets:
            try:
                run = sync(target, full=full)
            except AlreadySyncing as busy:
                # One sync at a time: the one under way (a press of "Sync now") does the job.
                self.stderr.write(f"{target.name}: {busy}")
                failed.append(target.name)
                continue
            self.report(target, run)
            if not run.ok:
                failed.append(target.name)
        if failed:
            raise CommandError(f"The sync from Wonde failed for {', '.join(failed)}; nothing was changed there",
                               returncode=1)

    def report(self, school: School, run: SyncRun) -> None:
        kind = "full" if run.full else "changes only"
        if run.ok:
            c = run.counts
            self.stdout.write(
                f"{school.name}: synced from Wonde ({kind}): {c.get('students', 0)} students read; "
                f"pupils {c.get('added', 0)} new, {c.get('updated', 0)} changed, {c.get('unchanged', 0)} unchanged, "
                f"{c.get('left', 0)} marked left; contacts {c.get('contacts_added', 0)} new, "
                f"{c.get('contacts_updated', 0)} changed, {c.get('contacts_removed', 0)} removed; "
                f"attendance marks {c.get('marks_new', 0)} new, {c.get('marks_changed', 0)} changed")
        else:
            self.stderr.write(f"{school.name}: the sync from Wonde failed ({kind}); nothing was changed.\n{run.error}")
