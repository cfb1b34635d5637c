"""Import a school's pupils and their contacts from a MIS export (CSV).

    doorstep import_pupils --school "Coteford Junior School" pupils.csv                 (SIMS columns)
    doorstep import_pupils --school 100001 --mapping arbor pupils.csv
    doorstep import_pupils --school 100001 --mapping sims --column last_name="Family name" \
        --date-format %Y-%m-%d --save-mapping ours pupils.csv      (then: --mapping ours)

The file is the school's whole roll: pupils not in it are marked left (never deleted). All
or nothing: a file with any bad line imports nothing and every bad line is listed.
Exit status: 0 imported, 1 refused (the bad lines are on stderr), 2 bad arguments.
"""
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from pupils.csv_import import (
    ALL_FIELDS, BUILTIN_MAPPINGS, ImportFailed, Mapping, UnknownMapping, import_file, mapping_for,
)
from pupils.csv_import import save_mapping as save_mapping_as
from schools.models import School


def find_school(text: str) -> School:
    """A school by its name (any case), its URN or its id."""
    text = text.strip()
    matches = list(School.objects.filter(name__iexact=text)) or list(School.objects.filter(urn=text))
    if not matches and text.isdigit():
        matches = list(School.objects.filter(pk=int(text)))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = "; ".join(f"{name} (URN {urn or '-'})" for name, urn in School.objects.values_list("name", "urn"))
        raise CommandError(f"No school called {text!r} (schools: {known or 'none yet'})", returncode=2)
    raise CommandError(f"More than one school matches {text!r}; use its URN", returncode=2)


class Command(BaseCommand):
    help = "Import pupils and contacts (CSV) for one school; nothing is written unless every line is good."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file exported from the MIS")
        parser.add_argument("--school", required=True, help="The school's name, URN or id")
        parser.add_argument("--mapping", default="sims",
                            help=f"A saved column mapping, or a preset ({', '.join(BUILTIN_MAPPINGS)}); default sims")
        parser.add_argument("--column", action="append", default=[], metavar="VALUE=HEADER",
                            help="Read a value from another column, e.g. last_name=\"Family name\"; "
                                 "HEADER+HEADER joins two. Values: " + ", ".join(ALL_FIELDS))
        parser.add_argument("--date-format", help="How dates of birth are written, e.g. %%Y-%%m-%%d")
        parser.add_argument("--save-mapping", metavar="NAME",
                            help="Save the columns used under this name for the school, once the file is imported")
        parser.add_argument("--no-progress", action="store_true",
                            help="No progress bar (it is off anyway when not on a terminal)")

    def handle(self, *args: Any, file: str, school: str, mapping: str, no_progress: bool, column: list[str],
               date_format: str | None, save_mapping: str | None, **options: Any) -> None:
        target = find_school(school)
        try:
            columns = mapping_for(target, mapping)
        except UnknownMapping as exc:
            raise CommandError(str(exc), returncode=2) from None
        if column or date_format or save_mapping:
            changed: dict[str, str | list[str]] = dict(columns.columns)
            for given in column:
                name, sep, header = given.partition("=")
                if not sep or name.strip() not in ALL_FIELDS or not header.strip():
                    raise CommandError(f"--column {given!r}: expected VALUE=HEADER with VALUE one of "
                                       f"{', '.join(ALL_FIELDS)}", returncode=2)
                parts = [h.strip() for h in header.split("+") if h.strip()]
                changed[name.strip()] = parts if len(parts) > 1 else parts[0]
            columns = Mapping(save_mapping or f"{columns.name} (adjusted)", changed,
                              date_format or columns.date_format, save_mapping or "")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file", returncode=2)
        show = not no_progress and sys.stderr.isatty()
        bar = tqdm(total=path.stat().st_size, desc="Checking", unit="B", unit_scale=True, file=sys.stderr,
                   disable=not show)
        def on_bytes(n: int) -> None:
            bar.update(n)

        with path.open("rb") as handle:
            try:
                counts = import_file(target, handle, columns, by=None, file_name=path.name, on_bytes=on_bytes)
            except ImportFailed as failed:
                bar.close()
                for problem in failed.problems:
                    self.stderr.write(f"{path.name}, {problem}")
                if failed.total > len(failed.problems):
                    self.stderr.write(f"... and {failed.total - len(failed.problems)} more")
                raise CommandError(f"{path.name}: {failed.total} problem(s); nothing was imported.",
                                   returncode=1) from None
            finally:
                bar.close()
        if save_mapping:
            save_mapping_as(target, columns, save_mapping)
            self.stdout.write(f"Saved the columns as {save_mapping!r} for {target}: use --mapping {save_mapping}.")
        self.stdout.write(self.style.SUCCESS(f"{target}: imported {path.name}: {counts}."))
