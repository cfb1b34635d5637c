"""Import attendance marks from a MIS export.

    doorstep import_attendance --school "Coteford Junior School" marks.csv            (SIMS-style columns)
    doorstep import_attendance --school 100001 marks.csv --mapping ours
    doorstep import_attendance --school 100001 marks.csv --pupil-column Adno --pupil-key admission_number \\
        --date-column Date --date-format %Y-%m-%d --session-column Session --mark-column Mark --save-mapping ours

All or nothing: a file with any bad line imports nothing and every bad line is listed.
"""
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from attendance.importer import BUILTIN_MAPPINGS, ImportFailed, Mapping, UnknownMapping, import_marks, mapping_for
from attendance.importer import save_mapping as store_mapping

from ._school import find_school

OVERRIDES = ["pupil_key", "pupil_column", "date_column", "date_format", "session_column", "mark_column"]


class Command(BaseCommand):
    help = "Import attendance marks (CSV) for one school; nothing is written unless every line is good."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file exported from the MIS")
        parser.add_argument("--school", required=True, help="The school's name, URN or id")
        parser.add_argument("--mapping", default="sims",
                            help=f"A saved column mapping, or a built-in one ({', '.join(BUILTIN_MAPPINGS)}); default sims")
        parser.add_argument("--save-mapping", metavar="NAME", help="Save the columns used under this name for the school")
        parser.add_argument("--pupil-key", choices=["upn", "admission_number"])
        for option in OVERRIDES[1:]:
            parser.add_argument("--" + option.replace("_", "-"))
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (it is off anyway when not on a terminal)")

    def handle(self, *args, file, school, mapping, save_mapping: str | None, no_progress, **options):
        target = find_school(school)
        try:
            base = mapping_for(target, mapping)
        except UnknownMapping as exc:
            raise CommandError(str(exc)) from None
        changes = {k: options[k] for k in OVERRIDES if options.get(k)}
        if changes:
            base = Mapping(**{**base.__dict__, **changes, "name": save_mapping or f"{base.name} (adjusted)"})
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        size = path.stat().st_size
        show = not no_progress and sys.stderr.isatty()
        bars: dict[str, tqdm] = {}

        def progress(stage, done, total):
            if not show:
                return
            bar = bars.get(stage)
            if bar is None:
                label, unit = ("Checking", "B") if stage == "read" else ("Writing", " marks")
                bar = bars[stage] = tqdm(total=total or None, desc=label, unit=unit, unit_scale=stage == "read",
                                         file=sys.stderr, leave=True)
            bar.update(done - bar.n)

        with path.open("rb") as handle:
            try:
                run = import_marks(target, handle, base, file_name=path.name, progress=progress, size=size)
            except ImportFailed as failed:
                for bar in bars.values():
                    bar.close()
                for line in failed.errors:
                    self.stderr.write(line)
                if failed.total > len(failed.errors):
                    self.stderr.write(f"... and {failed.total - len(failed.errors)} more")
                raise CommandError(f"{path.name}: {failed.total} bad line(s); nothing was imported.") from None
            finally:
                for bar in bars.values():
                    bar.close()
        if save_mapping:
            store_mapping(target, base, save_mapping)
            self.stdout.write(f"Saved the column mapping as {save_mapping!r} for {target}.")
        self.stdout.write(self.style.SUCCESS(
            f"{target}: imported {path.name} ({run.rows} rows, {run.first_date:%d %b %Y} to {run.last_date:%d %b %Y}): "
            f"{run.created} new, {run.updated} changed, {run.unchanged} unchanged, {run.skipped} without a mark "
            f"in {run.seconds:.1f} s."))

