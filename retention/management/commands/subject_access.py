"""Everything Doorstep holds about one pupil or one member of staff, as a ZIP (JSON + CSV).

    doorstep subject_access --pupil 42 --out pupil-42.zip
    doorstep subject_access --staff 7 --out staff-7.zip

The export is audited (`subject_access.exported`), as made from the console."""
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from people.models import StaffMember
from pupils.models import Pupil
from retention import subject_access


class Command(BaseCommand):
    help = "Write a subject access export (ZIP of JSON and CSV) for one pupil or one member of staff."

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--pupil", type=int, metavar="ID", help="The pupil's id (as in /pupils/ID/)")
        who.add_argument("--staff", type=int, metavar="ID", help="The staff member's id (as in /staff/ID/)")
        parser.add_argument("--out", required=True, metavar="FILE.zip", help="Where to write the ZIP")
        parser.add_argument("--force", action="store_true", help="Overwrite FILE.zip if it exists")

    def handle(self, *args: Any, pupil: int | None, staff: int | None, out: str, force: bool,
               **options: Any) -> None:
        path = Path(out)
        if path.suffix.lower() != ".zip":
            raise CommandError(f"--out {out!r}: give a file name ending in .zip.")
        if path.exists() and not force:
            raise CommandError(f"{out} already exists; choose another name or add --force.")
        if not path.parent.is_dir():
            raise CommandError(f"The folder {path.parent} does not exist.")
        if pupil is not None:
            subject = Pupil.objects.filter(pk=pupil).first()
            if subject is None:
                raise CommandError(f"No pupil with id {pupil}.")
            data = subject_access.export_pupil(subject, actor=None)
        else:
            member = StaffMember.objects.filter(pk=staff).first() if staff is not None else None
            if member is None:
                raise CommandError(f"No member of staff with id {staff}.")
            data = subject_access.export_staff(member, actor=None)
        path.write_bytes(data)
        self.stdout.write(self.style.SUCCESS(f"Wrote {out} ({len(data) / 1024:.0f} kB). Review it before sending: "
                                             "it may name other people."))
