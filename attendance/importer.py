"""Importing attendance marks from a school MIS export (CSV).

All or nothing: the whole file is checked first and every bad line is reported as
"line N, column X: what was wrong"; only a clean file is written, in one transaction, in
batches. Importing the same file again changes nothing: a mark that is already there with
the same code is left alone, a mark whose code changed is updated, counted and audited.

    from attendance.importer import import_marks, mapping_for
    run = import_marks(school, open("marks.csv", "rb"), mapping_for(school, "sims"), actor=staff,
                       file_name="marks.csv")
"""
import csv
import datetime
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import actor_of, record, record_many
from pupils.models import Pupil

from .models import (
    CLOSURE_CODES, CODE_INFO, CODE_SET_STARTS, CODES, AttendanceMark, ImportMapping, ImportRun, MarkedWeek, Witness,
    weeks_of,
)

BATCH_SIZE = 5000
# What a SIMS export writes when no mark has been taken yet: not a DfE code, and not a mark.
NO_MARK = {"", "-"}
SESSIONS = {"AM": "AM", "PM": "PM", "A": "AM", "P": "PM", "MORNING": "AM", "AFTERNOON": "PM"}
# How many bad lines one failed import reports in full; the count is always exact.
MAX_ERRORS_SHOWN = 10_000


@dataclass(frozen=True)
class Mapping:
    name: str
    pupil_key: str          # "upn" or "admission_number"
    pupil_column: str
    date_column: str
    date_format: str
    session_column: str
    mark_column: str

    @classmethod
    def from_model(cls, m):
        return cls(m.name, m.pupil_key, m.pupil_column, m.date_column, m.date_format, m.session_column, m.mark_column)

    @property
    def pupil_label(self):
        return "UPN" if self.pupil_key == "upn" else "admission number"

    @property
    def date_example(self):
        return date_example(self.date_format)


# Modelled on SIMS' attendance field names (AttendanceDate, SessionName, AttendanceMark:
# sims-partners.com) with the pupil's UPN; a school whose export differs saves its own.
BUILTIN_MAPPINGS = {
    "sims": Mapping("sims", "upn", "UPN", "AttendanceDate", "%d/%m/%Y", "SessionName", "AttendanceMark"),
    "sims-adno": Mapping("sims-adno", "admission_number", "Adno", "AttendanceDate", "%d/%m/%Y", "SessionName",
                         "AttendanceMark"),
}


class UnknownMapping(LookupError):
    pass


# Formats the import page offers, each shown as a date written that way (an example date, not
# the strftime codes): a headteacher recognises "07/12/2026", not "%d/%m/%Y".
DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%m/%d/%Y"]


def date_example(date_format: str) -> str:
    """The 7th of December 2026 written in this format: "07/12/2026" for "%d/%m/%Y"."""
    return datetime.date(2026, 12, 7).strftime(date_format)


def mapping_names(school):
    return list(BUILTIN_MAPPINGS) + list(school.import_mappings.values_list("name", flat=True))


def mapping_for(school, name):
    """A saved mapping of this school, or a built-in one."""
    saved = ImportMapping.objects.filter(school=school, name=name).first()
    if saved is not None:
        return Mapping.from_model(saved)
    if name in BUILTIN_MAPPINGS:
        return BUILTIN_MAPPINGS[name]
    raise UnknownMapping(f"No column mapping called {name!r} (known: {', '.join(mapping_names(school))})")


def save_mapping(school, mapping, name):
    """Save (or replace) a mapping under `name` for this school."""
    fields = dict(pupil_key=mapping.pupil_key, pupil_column=mapping.pupil_column, date_column=mapping.date_column,
                  date_format=mapping.date_format, session_column=mapping.session_column,
                  mark_column=mapping.mark_column)
    saved, _ = ImportMapping.objects.update_or_create(school=school, name=name, defaults=fields)
    return Mapping.from_model(saved)


class ImportFailed(Exception):
    """The file was not imported. `errors` lists every bad line, in file order."""

    def __init__(self, errors, total=None):
        self.errors = errors
        self.total = total if total is not None else len(errors)
        super().__init__(f"{self.total} problem(s); nothing was imported")


def _key(pupil_id, day, pm):
    # One int per session keeps a million-row file's duplicate check small in memory.
    return (pupil_id << 21) | (day.toordinal() << 1) | pm


def _text_lines(binary, on_bytes):
    # Line by line, so that a line that is not UTF-8 is reported with its own number. A
    # line break is one byte that no other UTF-8 character contains, so each line decodes on
    # its own; only the first may start with a byte-order mark.
    first = True
    for raw in binary:
        if on_bytes:
            on_bytes(len(raw))
        if first:
            first = False
            yield raw.decode("utf-8-sig")
        else:
            yield raw.decode("utf-8")


def parse(school, binary, mapping, on_bytes=None):
    """Check the whole file. Returns (marks, skipped, rows) where marks is {session key: (code,
    line)}; raises ImportFailed with every bad line."""
    errors: list[str] = []
    total_errors = 0

    def bad(line, column, message):
        nonlocal total_errors
        total_errors += 1
        if len(errors) < MAX_ERRORS_SHOWN:
            errors.append(f"line {line}, column {column}: {message}")

    try:
        reader = csv.reader(_text_lines(binary, on_bytes))
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"line 1: the file is not UTF-8 text ({exc.reason})"]) from None
    if header is None:
        raise ImportFailed(["line 1: the file is empty"])
    header = [h.strip() for h in header]
    wanted = {"pupil": mapping.pupil_column, "date": mapping.date_column, "session": mapping.session_column,
              "mark": mapping.mark_column}
    index = {}
    for role, column in wanted.items():
        if column not in header:
            bad(1, column, f"no such column in the header (the {mapping.name!r} mapping expects it; "
                           f"the file has: {', '.join(header) or 'nothing'})")
        else:
            index[role] = header.index(column)
    if errors:
        raise ImportFailed(errors, total_errors)

    field = "upn" if mapping.pupil_key == "upn" else "admission_number"
    pupils = dict(Pupil.objects.filter(school=school).exclude(**{field: ""}).values_list(field, "id"))
    if field == "upn":
        pupils = {k.upper(): v for k, v in pupils.items()}
    unknown: dict[str, list[int]] = {}  # pupil key -> first lines, checked against other schools afterwards
    # Each distinct date text once: its date, and its part of the session key (_key).
    dates: dict[str, tuple[datetime.date, int]] = {}
    marks: dict[int, tuple[str, int]] = {}
    skipped = rows = 0
    width = max(index.values()) + 1
    ip, idate, isession, imark = index["pupil"], index["date"], index["session"], index["mark"]
    codes = CODES
    withdrawn = _WITHDRAWN_AFTER
    code_set_starts = CODE_SET_STARTS
    upn = field == "upn"
    line = 1
    # The loop runs once per mark (a million for a big school's year): the usual, clean line
    # is taken by exact look-ups first; the careful reading (spaces, lower case) runs only
    # when those miss, and says the same.
    try:
        for row in reader:
            line = reader.line_num
            if len(row) < width or len(row) == 1:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
            if len(row) < width:
                rows += 1
                bad(line, header[-1] if len(row) < len(header) else "?",
                    f"the line has {len(row)} values, the header has {len(header)}")
                continue
            rows += 1
            mark = row[imark]
            if mark not in codes:
                mark = mark.strip().upper()
                if mark in NO_MARK:
                    skipped += 1
                    continue
            ok = True
            key_text = row[ip]
            pupil_id = pupils.get(key_text)
            if pupil_id is None:
                key_text = key_text.strip()
                if upn:
                    key_text = key_text.upper()
                pupil_id = pupils.get(key_text)
                if pupil_id is None:
                    ok = False
                    if not key_text:
                        bad(line, mapping.pupil_column, f"no {mapping.pupil_label}")
                    else:
                        unknown.setdefault(key_text, []).append(line)
            raw_date = row[idate]
            known = dates.get(raw_date)
            if known is None:
                raw_date = raw_date.strip()
                known = dates.get(raw_date)
                if known is None:
                    try:
                        day = datetime.datetime.strptime(raw_date, mapping.date_format).date()
                        known = dates[raw_date] = dates[row[idate]] = (day, day.toordinal() << 1)
                    except ValueError:
                        ok = False
                        bad(line, mapping.date_column,
                            f"{raw_date!r} is not a date: dates in this file should be written like "
                            f"{date_example(mapping.date_format)}")
            session = SESSIONS.get(row[isession])
            if session is None:
                session = SESSIONS.get(row[isession].strip().upper())
                if session is None:
                    ok = False
                    bad(line, mapping.session_column,
                        f"{row[isession].strip()!r} is not a session (expected AM or PM)")
            if mark not in codes:
                ok = False
                bad(line, mapping.mark_column, f"{mark!r} is not an attendance code")
            elif known is not None and mark in withdrawn and known[0] >= code_set_starts:
                ok = False
                info = CODE_INFO[mark]
                bad(line, mapping.mark_column, f"{mark!r} was withdrawn on {CODE_SET_STARTS:%d %B %Y} "
                                               f"and cannot mark {known[0]:%d %b %Y} (use {info.replaced_by})")
            if not ok:
                continue
            assert pupil_id is not None and known is not None  # ok: both were found
            key = (pupil_id << 21) | known[1] | (session == "PM")  # _key(), inline: it runs per mark
            first = marks.get(key)
            if first is not None:
                bad(line, mapping.session_column,
                    f"a second {session} mark for {key_text.strip().upper() if upn else key_text.strip()} "
                    f"on {known[0]:%d %b %Y} (the first is on line {first[1]})")
                continue
            marks[key] = (mark, line)
    except csv.Error as exc:
        bad(line + 1, "?", f"not valid CSV ({exc})")
    except UnicodeDecodeError as exc:
        bad(line + 1, "?", f"not UTF-8 text ({exc.reason})")

    # One wording whether or not the number exists at another school: saying which would let
    # anyone who can import list another school's pupils by guessing numbers.
    for key_text, lines in unknown.items():
        for n in lines:
            bad(n, mapping.pupil_column, f"{key_text}: no pupil of {school.name} has this {mapping.pupil_label}")
    if total_errors:
        errors.sort(key=lambda e: int(e.split(",", 1)[0].split()[1]))
        raise ImportFailed(errors, total_errors)
    if rows == 0:
        raise ImportFailed(["line 2: the file has a header but no marks"])
    return marks, skipped, rows


_WITHDRAWN_AFTER = {c for c, info in CODE_INFO.items() if info.withdrawn}


def _new_rows(marks: dict[int, tuple[str, int]], days: dict[int, str],
              witnesses: dict[int, tuple[int, str]]) -> Iterator[tuple[int, str, str, str]]:
    """Each new mark as (pupil id, date as text, session, code), from its packed key (pupil id,
    day's ordinal, afternoon bit). On the way, each day's text into `days` and, for each day,
    a mark that is not a closure into `witnesses`."""
    closures = set(CLOSURE_CODES)
    for key, (code, _line) in marks.items():
        ordinal = (key >> 1) & 0xFFFFF
        day = days.get(ordinal)
        if day is None:
            day = days[ordinal] = datetime.date.fromordinal(ordinal).isoformat()
        session = "PM" if key & 1 else "AM"
        if ordinal not in witnesses and code not in closures:
            witnesses[ordinal] = (key >> 21, session)
        yield key >> 21, day, session, code


def _write(marks, changes, progress, total):
    """Insert the new marks and update the changed ones, in batches, on the caller's
    transaction. Plain SQL rather than bulk_create: building a million model instances costs
    several times more than the database work (docs/benchmarks.md); PostgreSQL gets COPY.
    Returns (marks written, {day: a new mark of it that is not a closure, or None})."""
    table = connection.ops.quote_name(AttendanceMark._meta.db_table)
    done = 0
    # The date's text once per distinct day (a file has a few hundred), not once per mark;
    # its keys are also the days the caller notes in MarkedWeek, with a witness for each.
    days: dict[int, str] = {}
    witnesses: dict[int, tuple[int, str]] = {}
    rows = _new_rows(marks, days, witnesses)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY's own text format, written in blocks: a backslash (the afternoon's present
            # mark) is COPY's escape character, so it is doubled.
            escaped = {code: code.replace("\\", "\\\\") for code in CODES}
            with cursor.cursor.copy(f"COPY {table} (pupil_id, date, session, code) FROM STDIN") as copy:
                lines = []
                for pupil_id, day, session, code in rows:
                    lines.append(f"{pupil_id}\t{day}\t{session}\t{escaped[code]}\n")
                    if len(lines) >= BATCH_SIZE:
                        copy.write("".join(lines))
                        done += len(lines)
                        lines = []
                        if progress is not None:
                            progress("write", done, total)
                if lines:
                    copy.write("".join(lines))
                    done += len(lines)
        else:
            insert = f"INSERT INTO {table} (pupil_id, date, session, code) VALUES (%s, %s, %s, %s)"
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH_SIZE:
                    cursor.executemany(insert, batch)
                    done += len(batch)
                    batch = []
                    if progress is not None:
                        progress("write", done, total)
            if batch:
                cursor.executemany(insert, batch)
                done += len(batch)
        update = f"UPDATE {table} SET code = %s WHERE id = %s"
        for i in range(0, len(changes), BATCH_SIZE):
            chunk = changes[i:i + BATCH_SIZE]
            cursor.executemany(update, [(c[5], c[0]) for c in chunk])
            done += len(chunk)
            if progress is not None:
                progress("write", done, total)
    new_days: dict[datetime.date, Witness | None] = {}
    for ordinal in days:
        new_day = datetime.date.fromordinal(ordinal)
        pupil_session = witnesses.get(ordinal)
        new_days[new_day] = (pupil_session[0], new_day, pupil_session[1]) if pupil_session else None
    return done, new_days


def import_marks(school, binary, mapping, *, actor=None, file_name="", progress=None, request=None,
                 size: int | None = None):
    """Check and import a CSV (a binary file object). Returns the ImportRun; raises
    ImportFailed (nothing written) when any line is bad.

    progress(stage, done, total) is called as the work goes: stage "read" counts bytes,
    "write" counts marks."""
    started = time.perf_counter()
    if size is None:  # an uploaded file knows its size; a file opened from disk is told it
        size = getattr(binary, "size", None)
    on_bytes = None
    if progress is not None:
        read = reported = 0  # bytes read, and read when progress was last told

        def on_bytes(n):
            nonlocal read, reported
            read += n
            if read - reported >= 1 << 20 or n == 0:
                reported = read
                progress("read", read, size)
    try:
        marks, skipped, rows = parse(school, binary, mapping, on_bytes)
    except ImportFailed as failed:
        # A refused file changes nothing, but someone tried: the trail says who, when and how
        # many lines were wrong (not which numbers, which may be guesses at other pupils).
        record(actor=actor, school=school, action=Action.ATTENDANCE_IMPORT_FAILED, obj=school,
               summary=f"An attendance import was refused: {failed.total} problem{'s' if failed.total != 1 else ''}; "
                       "nothing was imported",
               data={"file": file_name, "problems": failed.total}, request=request)
        raise
    if progress is not None:
        progress("read", size or 0, size)

    ordinals = [(k >> 1) & 0xFFFFF for k in marks]
    first, last = datetime.date.fromordinal(min(ordinals)), datetime.date.fromordinal(max(ordinals))
    del ordinals

    with transaction.atomic():
        # One import per school at a time: the second waits for the first to finish.
        type(school).objects.select_for_update().get(pk=school.pk)
        existing = (
            AttendanceMark.objects.filter(pupil__school=school, date__gte=first, date__lte=last)
            .values_list("id", "pupil_id", "date", "session", "code")
            .iterator(chunk_size=20_000)
        )
        changes, unchanged = [], 0
        for mark_id, pupil_id, day, session, code in existing:
            key = _key(pupil_id, day, session == "PM")
            new = marks.pop(key, None)
            if new is None:
                continue
            if new[0] == code:
                unchanged += 1
            else:
                changes.append((mark_id, pupil_id, day, session, code, new[0], new[1]))
        created = len(marks)
        total_writes = created + len(changes)
        _, new_days = _write(marks, changes, progress, total_writes)
        marks.clear()
        # The weeks of the new marks and of the marks changed to a school code, for
        # school_weeks(); a mark changed to a closure is found out there.
        for _id, pupil_id, day, session, _old, code, _line in changes:
            if code not in CLOSURE_CODES and new_days.get(day) is None:
                new_days[day] = (pupil_id, day, session)
        MarkedWeek.note(school.pk, weeks_of(new_days))
        user, name = actor_of(actor)
        run = ImportRun.objects.create(
            school=school, by=user, by_name=name, at=timezone.now(), file_name=file_name[:255], mapping=mapping.name,
            rows=rows, created=created, updated=len(changes), unchanged=unchanged, skipped=skipped,
            first_date=first, last_date=last, seconds=round(time.perf_counter() - started, 3),
        )
        if changes:
            upns = dict(school.pupils.filter(id__in={c[1] for c in changes}).values_list("id", "upn"))
            record_many(actor=actor, school_id=school.pk, action=Action.ATTENDANCE_MARK_CHANGED,
                        object_type=AttendanceMark._meta.label_lower, entries=[
                            (mark_id, f"Attendance mark for {upns.get(pupil_id, pupil_id)} on {day:%d %b %Y} {session} "
                                      f"changed from {old} to {new} by import of {file_name}",
                             {"import_run": run.pk, "line": line, "from": old, "to": new, "date": day.isoformat(),
                              "session": session})
                            for mark_id, pupil_id, day, session, old, new, line in changes])
        record(actor=actor, school=school, action=Action.ATTENDANCE_IMPORTED, obj=run,
               summary=f"Imported {file_name}: {created} new, {len(changes)} changed, {unchanged} unchanged marks",
               data={"rows": rows, "created": created, "updated": len(changes), "unchanged": unchanged,
                     "skipped": skipped, "mapping": mapping.name, "first_date": first, "last_date": last},
               request=request)
    if progress is not None:
        progress("write", total_writes, total_writes)
    return run
