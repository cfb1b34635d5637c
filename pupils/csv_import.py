"""Importing pupils and their contacts from a MIS export (CSV), through pupils.roster.

The file has one row per pupil and contact: a pupil with three contacts has three rows (the
pupil's columns repeated), a pupil with none has one row with the contact columns empty. Which
column holds what is a mapping: a built-in preset (SIMS, Arbor, Bromcom; docs/pupils-import.md
lists their columns and the examples under docs/examples/) or one the school saved.

All or nothing: the whole file is checked first and every bad line is named (line, column,
why); only a clean file is written, in one transaction (roster.apply). The file is the
school's whole roll: a pupil of the school not in it is marked left, never deleted.

    from pupils.csv_import import import_file, mapping_for
    counts = import_file(school, open("pupils.csv", "rb"), mapping_for(school, "sims"), by=staff,
                         file_name="pupils.csv")
"""
from __future__ import annotations

import codecs
import csv
import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import transaction

from audit.actions import Action
from audit.services import record as audit_record
from schools.models import School

from .models import PupilImportMapping
from .roster import ContactRecord, Problem, PupilRecord, RosterCounts, RosterRefused, apply, check, refused

# Where each value of a PupilRecord / ContactRecord comes from. A column may be a list of
# headers whose non-empty values are joined with a space ("House No" + "Street").
PUPIL_FIELDS = ["mis_id", "upn", "admission_number", "first_name", "last_name", "date_of_birth", "year_group",
                "class_name", "address_line1", "address_line2", "town", "postcode"]
CONTACT_FIELDS = ["contact_mis_id", "contact_name", "contact_first_name", "contact_last_name",
                  "contact_relationship", "contact_priority", "contact_phone", "contact_phone_other",
                  "contact_email", "contact_address", "contact_parental_responsibility",
                  "contact_lives_with_pupil"]
ALL_FIELDS = PUPIL_FIELDS + CONTACT_FIELDS
REQUIRED = ["upn", "first_name", "last_name", "date_of_birth", "year_group", "address_line1", "postcode"]
LABELS = {
    "mis_id": "MIS id of the pupil", "upn": "UPN", "admission_number": "admission number",
    "first_name": "first name", "last_name": "last name", "date_of_birth": "date of birth",
    "year_group": "year group", "class_name": "class or form", "address_line1": "first line of the address",
    "address_line2": "second line of the address", "town": "town", "postcode": "postcode",
    "contact_mis_id": "MIS id of the contact", "contact_name": "contact's full name",
    "contact_first_name": "contact's first name", "contact_last_name": "contact's last name",
    "contact_relationship": "relationship", "contact_priority": "contact priority (1 first)",
    "contact_phone": "contact's main phone", "contact_phone_other": "contact's other phone",
    "contact_email": "contact's email", "contact_address": "contact's address (if not the pupil's)",
    "contact_parental_responsibility": "parental responsibility (Yes/No)",
    "contact_lives_with_pupil": "lives with the pupil (Yes/No)",
}
MAX_PROBLEMS_SHOWN = 1000
TRUE = {"y", "yes", "t", "true", "1", "x"}
FALSE = {"n", "no", "f", "false", "0"}


@dataclass(frozen=True)
class Mapping:
    name: str
    columns: dict[str, str | list[str]]
    date_format: str = "%d/%m/%Y"
    label: str = ""

    @property
    def date_example(self) -> str:
        """A date of birth written this way ("23/09/2015"), for the page: not the strftime codes."""
        return datetime.date(2015, 9, 23).strftime(self.date_format)

    def header_of(self, name: str) -> str:
        col = self.columns.get(name, "")
        return " + ".join(col) if isinstance(col, list) else col


# The presets: modelled on each MIS's own field names as its documentation and partners'
# guides write them (docs/pupils-import.md says which we could not confirm). A school whose
# export differs saves its own mapping.
BUILTIN_MAPPINGS: dict[str, Mapping] = {
    "sims": Mapping("sims", {
        "mis_id": "Person ID", "upn": "UPN", "admission_number": "Adno", "first_name": "Legal Forename",
        "last_name": "Legal Surname", "date_of_birth": "DOB", "year_group": "Year", "class_name": "Reg",
        "address_line1": ["House No", "Street"], "address_line2": "Locality", "town": "Town",
        "postcode": "Postcode",
        "contact_mis_id": "Contact Person ID", "contact_first_name": "Contact Forename",
        "contact_last_name": "Contact Surname", "contact_relationship": "Relationship",
        "contact_priority": "Priority", "contact_parental_responsibility": "Parental Responsibility",
        "contact_lives_with_pupil": "Lives With Pupil", "contact_phone": "Contact Telephone",
        "contact_phone_other": "Contact Mobile", "contact_email": "Contact Email",
    }, "%d/%m/%Y", "SIMS student list with contacts"),
    "arbor": Mapping("arbor", {
        "mis_id": "Student ID", "upn": "UPN", "admission_number": "Admission number", "first_name": "First name",
        "last_name": "Last name", "date_of_birth": "Date of birth", "year_group": "Year group",
        "class_name": "Registration form", "address_line1": "Address line 1", "address_line2": "Address line 2",
        "town": "Town", "postcode": "Postcode",
        "contact_mis_id": "Contact ID", "contact_first_name": "Contact first name",
        "contact_last_name": "Contact last name", "contact_relationship": "Relationship",
        "contact_priority": "Priority", "contact_parental_responsibility": "Parental responsibility",
        "contact_lives_with_pupil": "Lives with student", "contact_phone": "Contact mobile",
        "contact_phone_other": "Contact home phone", "contact_email": "Contact email",
    }, "%d/%m/%Y", "Arbor student list with contacts"),
    "bromcom": Mapping("bromcom", {
        "mis_id": "Student ID", "upn": "UPN", "admission_number": "Admission No", "first_name": "Legal Forename",
        "last_name": "Legal Surname", "date_of_birth": "Date of Birth", "year_group": "Year Group",
        "class_name": "Tutor Group", "address_line1": "Address 1", "address_line2": "Address 2", "town": "Town",
        "postcode": "Postcode",
        "contact_mis_id": "Contact ID", "contact_first_name": "Contact Forename",
        "contact_last_name": "Contact Surname", "contact_relationship": "Relationship",
        "contact_priority": "Contact Priority", "contact_parental_responsibility": "Parental Responsibility",
        "contact_lives_with_pupil": "Lives With Student", "contact_phone": "Contact Mobile",
        "contact_phone_other": "Contact Home Phone", "contact_email": "Contact Email",
    }, "%d/%m/%Y", "Bromcom student list with contacts"),
}


class UnknownMapping(LookupError):
    pass


def mapping_names(school: School) -> list[str]:
    return list(BUILTIN_MAPPINGS) + list(PupilImportMapping.objects.filter(school=school)
                                         .values_list("name", flat=True))


def mapping_for(school: School, name: str) -> Mapping:
    """A saved mapping of this school, or a built-in one."""
    saved = PupilImportMapping.objects.filter(school=school, name=name).first()
    if saved is not None:
        return Mapping(saved.name, dict(saved.columns), saved.date_format, saved.name)
    if name in BUILTIN_MAPPINGS:
        return BUILTIN_MAPPINGS[name]
    raise UnknownMapping(f"No column mapping called {name!r} (known: {', '.join(mapping_names(school))})")


def save_mapping(school: School, mapping: Mapping, name: str) -> Mapping:
    """Save (or replace) a mapping under `name` for this school."""
    unknown = set(mapping.columns) - set(ALL_FIELDS)
    if unknown:
        raise ValueError(f"Not a field of a pupil or contact: {', '.join(sorted(unknown))}")
    saved, _ = PupilImportMapping.objects.update_or_create(
        school=school, name=name, defaults={"columns": mapping.columns, "date_format": mapping.date_format})
    return Mapping(saved.name, dict(saved.columns), saved.date_format, saved.name)


# ----------------------------------------------------------------------------- the school's own columns

# Fields a school's export may spread over two columns, joined with a space ("House No" + "Street").
JOINABLE = ("address_line1", "address_line2", "contact_name", "contact_address")
# How dates of birth may be written, each with how it looks (the page shows the example, not the codes).
DATE_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%y"]
MAX_NAME = 60


class MappingRefused(ValueError):
    """The columns chosen cannot make a mapping. `errors` maps a field (or "name",
    "date_format") to what is wrong, in words."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors.values()))


def read_header(text: str) -> list[str]:
    """The file's column headings, as written (stripped), in order."""
    try:
        first = next(csv.reader(text.splitlines()[:1]), [])
    except csv.Error:
        return []
    return [h.strip() for h in first if h.strip()]


def fit(mapping: Mapping, header: list[str]) -> dict[str, list[str]]:
    """For each field, the file's headings the mapping names for it, as the file spells them
    (headings are matched regardless of case); [] where the mapping names none or the file
    lacks it."""
    spelled = {h.casefold(): h for h in reversed(header)}
    out: dict[str, list[str]] = {}
    for name in ALL_FIELDS:
        given = mapping.columns.get(name) or []
        cols = given if isinstance(given, list) else [given]
        found = [spelled[c.casefold()] for c in cols if c.casefold() in spelled]
        out[name] = found if len(found) == len(cols) else []
    return out


def fits(mapping: Mapping, header: list[str]) -> bool:
    """The file has every column the mapping needs for the required fields."""
    found = fit(mapping, header)
    return all(found[name] for name in REQUIRED)


def mapping_from_choices(school: School, header: list[str], chosen: dict[str, list[str]], *,
                         date_format: str, name: str) -> Mapping:
    """A mapping made on the import page: for each field the file's heading(s) chosen for it.
    Raises MappingRefused naming each problem: a required field with no column, one column
    chosen for two things, a heading not in the file, no name or a preset's name, an unknown
    date format."""
    errors: dict[str, str] = {}
    columns: dict[str, str | list[str]] = {}
    in_file = {h.casefold() for h in header}
    used: dict[str, str] = {}
    for field_name in ALL_FIELDS:
        picked = [c.strip() for c in chosen.get(field_name, []) if c and c.strip()]
        picked = list(dict.fromkeys(picked))[:2 if field_name in JOINABLE else 1]
        strangers = [c for c in picked if c.casefold() not in in_file]
        if strangers:
            errors[field_name] = f"“{strangers[0]}” is not a column of this file."
            continue
        for c in picked:
            other = used.get(c.casefold())
            if other is not None:
                errors[field_name] = (f"“{c}” is already chosen for the {LABELS[other]}: each column holds one "
                                      "thing. Choose another column, or none.")
            used.setdefault(c.casefold(), field_name)
        if picked:
            columns[field_name] = picked if len(picked) > 1 else picked[0]
        elif field_name in REQUIRED:
            errors[field_name] = f"Choose the column that holds the {LABELS[field_name]}: Doorstep needs it."
    if not any(columns.get(n) for n in ("contact_name", "contact_first_name", "contact_last_name")) and \
            any(columns.get(n) for n in CONTACT_FIELDS):
        errors["contact_last_name"] = ("Choose the column with the contact's name (full name, or last name): "
                                       "the other contact columns need it.")
    if date_format not in DATE_FORMATS:
        errors["date_format"] = "Choose how the file writes dates of birth."
    name = (name or "").strip()
    if not name:
        errors["name"] = "Give these columns a name, so that the next import can use them."
    elif len(name) > MAX_NAME:
        errors["name"] = f"The name is {len(name)} characters long; keep it to {MAX_NAME}."
    elif name.casefold() in {n.casefold() for n in BUILTIN_MAPPINGS} or \
            name.casefold() in {m.label.casefold() for m in BUILTIN_MAPPINGS.values()}:
        errors["name"] = "That is the name of one of Doorstep's own presets: give your school's columns another name."
    if errors:
        raise MappingRefused(errors)
    return Mapping(name, columns, date_format, name)


def save_school_mapping(school: School, mapping: Mapping, *, by: Any, request: Any = None) -> Mapping:
    """Save a mapping made on the page as the school's (replacing one of the same name), with
    what it reads on the audit trail. The school's own row only: `mapping_for` finds it for
    this school and no other."""
    with transaction.atomic():
        before = PupilImportMapping.objects.filter(school=school, name=mapping.name).first()
        saved = save_mapping(school, mapping, mapping.name)
        audit_record(actor=by, school=school, action=Action.PUPILS_MAPPING_SAVED, obj=school, request=request,
                     summary=f"{'Changed' if before else 'Saved'} the school's columns for importing pupils, "
                             f"“{mapping.name}”",
                     data={"name": mapping.name, "columns": mapping.columns, "date_format": mapping.date_format,
                           "before": before.columns if before else None})
    return saved


class ImportFailed(Exception):
    """Nothing was imported. `problems` lists every bad line, in file order (the first
    MAX_PROBLEMS_SHOWN of them; `total` counts them all)."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        self.total = total if total is not None else len(problems)
        super().__init__(f"{self.total} problem(s); nothing was imported")

    @property
    def errors(self) -> list[str]:
        return [str(p) for p in self.problems]


@dataclass
class Parsed:
    records: list[PupilRecord]
    rows: int
    contact_lines: dict[int, list[int]] = field(default_factory=dict)  # pupil line -> its contacts' lines


def _text_lines(binary: Iterable[bytes], on_bytes: Callable[[int], None] | None) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    for raw in binary:
        if on_bytes:
            on_bytes(len(raw))
        yield decoder.decode(raw)


def _bool(text: str) -> bool | None | str:
    t = text.strip().lower()
    if not t:
        return None
    if t in TRUE:
        return True
    if t in FALSE:
        return False
    return text


def parse(binary: IO[bytes] | Iterable[bytes], mapping: Mapping,
          on_bytes: Callable[[int], None] | None = None) -> Parsed:
    """Read and check the file's shape (header, dates, numbers, yes/no values, a pupil's rows
    agreeing); raises ImportFailed with every bad line. Record-level checks are roster.check's."""
    problems: list[Problem] = []
    try:
        reader = csv.reader(_text_lines(binary, on_bytes))
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise ImportFailed([Problem(1, "?", f"the file is not UTF-8 text ({exc.reason}); save it as CSV UTF-8")]) from None
    except csv.Error as exc:
        raise ImportFailed([Problem(1, "?", f"not valid CSV ({exc})")]) from None
    if header is None:
        raise ImportFailed([Problem(1, "?", "the file is empty")])
    header = [h.strip() for h in header]
    lookup = {h.casefold(): i for i, h in reversed(list(enumerate(header)))}
    index: dict[str, list[int]] = {}
    for name in ALL_FIELDS:
        given = mapping.columns.get(name)
        if not given:
            continue
        cols = given if isinstance(given, list) else [given]
        missing = [c for c in cols if c.casefold() not in lookup]
        if missing:
            if name in REQUIRED or name in ("contact_name", "contact_first_name", "contact_last_name"):
                for c in missing:
                    problems.append(Problem(1, c, f"no such column in the header (the {mapping.name!r} mapping "
                                                  f"reads the {LABELS[name]} from it; the file has: "
                                                  f"{', '.join(header) or 'nothing'})"))
            continue  # an optional column the export left out: that value is left blank
        index[name] = [lookup[c.casefold()] for c in cols]
    for name in REQUIRED:
        if not mapping.columns.get(name):
            problems.append(Problem(1, LABELS[name], f"the {mapping.name!r} mapping does not say which column "
                                                     f"holds the {LABELS[name]}"))
    if problems:
        raise ImportFailed(problems)

    def get(row: list[str], name: str) -> str:
        idx = index.get(name)
        if not idx:
            return ""
        return " ".join(v for v in (row[i].strip() if i < len(row) else "" for i in idx) if v)

    def col(name: str) -> str:
        return mapping.header_of(name)

    records: dict[str, PupilRecord] = {}
    first_values: dict[str, tuple[int, dict[str, str]]] = {}
    contact_lines: dict[int, list[int]] = {}
    rows = 0
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not v.strip() for v in row):
                continue
            rows += 1
            if len(row) != len(header):
                problems.append(Problem(line, "?", f"the line has {len(row)} values, the header has {len(header)}"))
                continue
            values = {name: get(row, name) for name in PUPIL_FIELDS}
            # A pupil's rows share the MIS's id (else the UPN): a wrong UPN is then named once, on its line.
            key = f"id {values['mis_id']}" if values["mis_id"] else (values["upn"].upper() or f"line {line}")
            if key in first_values:
                first_line, first = first_values[key]
                for name in PUPIL_FIELDS:
                    if values[name] != first[name]:
                        problems.append(Problem(line, col(name), f"{values[name]!r} differs from line {first_line} "
                                                                 f"({first[name]!r}) for the same pupil"))
                r = records[key]
            else:
                first_values[key] = (line, values)
                dob: datetime.date | None = None
                raw = values["date_of_birth"]
                if raw:
                    dob = _date(raw, mapping.date_format)
                    if dob is None:
                        problems.append(Problem(line, col("date_of_birth"),
                                                f"{raw!r} is not a date (expected like "
                                                f"{datetime.date(2015, 9, 23).strftime(mapping.date_format)})"))
                r = records[key] = PupilRecord(
                    mis_id=values["mis_id"], upn=values["upn"], first_name=values["first_name"],
                    last_name=values["last_name"], date_of_birth=dob, year_group=values["year_group"],
                    address_line1=values["address_line1"], address_line2=values["address_line2"],
                    town=values["town"], postcode=values["postcode"], admission_number=values["admission_number"],
                    class_name=values["class_name"], contacts=[], line=line)
                contact_lines[line] = []
            name_ = get(row, "contact_name") or " ".join(
                v for v in (get(row, "contact_first_name"), get(row, "contact_last_name")) if v)
            details = [get(row, n) for n in ("contact_phone", "contact_email", "contact_relationship")]
            if not name_:
                if any(details):
                    problems.append(Problem(line, col("contact_last_name") or col("contact_name"),
                                            "the contact has details but no name"))
                continue
            contact = ContactRecord(name=name_, relationship=get(row, "contact_relationship"),
                                    mis_id=get(row, "contact_mis_id"), phone=get(row, "contact_phone"),
                                    phone_other=get(row, "contact_phone_other"), email=get(row, "contact_email"),
                                    address=get(row, "contact_address"))
            raw_priority = get(row, "contact_priority")
            if raw_priority:
                if raw_priority.isdigit() and 0 < int(raw_priority) < 100:
                    contact.priority = int(raw_priority)
                else:
                    problems.append(Problem(line, col("contact_priority"),
                                            f"{raw_priority!r} is not a priority (1 for the first contact, 2 ...)"))
            else:
                contact.priority = len(r.contacts or []) + 1
            for flag in ("contact_parental_responsibility", "contact_lives_with_pupil"):
                value = _bool(get(row, flag))
                if isinstance(value, str):
                    problems.append(Problem(line, col(flag), f"{value!r} is not Yes or No"))
                else:
                    setattr(contact, flag.removeprefix("contact_"), value)
            assert r.contacts is not None
            r.contacts.append(contact)
            contact_lines[r.line].append(line)
    except csv.Error as exc:
        problems.append(Problem(line + 1, "?", f"not valid CSV ({exc})"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(line + 1, "?", f"not UTF-8 text ({exc.reason}); save it as CSV UTF-8"))
    if problems:
        raise ImportFailed(sorted(problems, key=lambda p: p.line)[:MAX_PROBLEMS_SHOWN], len(problems))
    if rows == 0:
        raise ImportFailed([Problem(2, "?", "the file has a header but no pupils")])
    return Parsed(list(records.values()), rows, contact_lines)


def _date(text: str, fmt: str) -> datetime.date | None:
    for f in (fmt, "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text.strip(), f).date()
        except ValueError:
            continue
    return None


_CONTACT_FIELD_OF_RECORD = {"name": "contact_last_name", "relationship": "contact_relationship",
                            "mis_id": "contact_mis_id", "phone": "contact_phone", "phone_other": "contact_phone_other",
                            "email": "contact_email", "address": "contact_address"}


def _in_file_terms(problems: list[Problem], parsed: Parsed, mapping: Mapping) -> list[Problem]:
    """roster.check names record fields ("upn", "contact_2_email"); say the file's line and header."""
    out = []
    for p in problems:
        line, column = p.line, p.column
        if column.startswith("contact_") and column.split("_")[1].isdigit():
            _c, n, rest = column.split("_", 2)
            lines = parsed.contact_lines.get(p.line, [])
            if int(n) - 1 < len(lines):
                line = lines[int(n) - 1]
            name = _CONTACT_FIELD_OF_RECORD.get(rest, "contact_" + rest)
            column = mapping.header_of(name) or mapping.header_of("contact_name") or rest
        else:
            column = mapping.header_of(column) or LABELS.get(column, column)
        out.append(Problem(line, column, p.why))
    return sorted(out, key=lambda p: p.line)


def check_file(school: School, binary: IO[bytes] | Iterable[bytes], mapping: Mapping,
               on_bytes: Callable[[int], None] | None = None) -> Parsed:
    """Everything that can be wrong with the file, before anything is written."""
    parsed = parse(binary, mapping, on_bytes)
    problems = check(school, parsed.records)
    if problems:
        shown = _in_file_terms(problems, parsed, mapping)
        raise ImportFailed(shown[:MAX_PROBLEMS_SHOWN], len(shown))
    return parsed


def import_file(school: School, binary: IO[bytes] | Iterable[bytes], mapping: Mapping, *, by: Any,
                file_name: str = "", preview: bool = False,
                on_bytes: Callable[[int], None] | None = None) -> RosterCounts:
    """Check the whole file, then apply it as the school's complete roll. Raises ImportFailed
    (nothing written; the refusal is on the audit trail) if any line is bad. With
    preview=True, returns the counts the import would make and writes nothing."""
    source = f"CSV {file_name}".strip() if file_name else "CSV"
    try:
        parsed = check_file(school, binary, mapping, on_bytes)
        try:
            return apply(school, parsed.records, by=by, source=source, complete=True, preview=preview)
        except RosterRefused as clash:  # a UPN that another pupil of the school keeps
            raise ImportFailed(_in_file_terms(clash.problems, parsed, mapping)) from None
    except ImportFailed as failed:
        if not preview:
            refused(school, failed.total, by=by, source=source)
        raise
