"""Adding staff on Doorstep's pages: one at a time, or from a CSV file (name, email, mobile,
roles), each then invited by email (accounts/invitations.py). Who may: `staff.edit` (the
headteacher and the business manager by default).

A CSV file is checked whole before anything is written; any bad line refuses the whole file
and every problem is named by line, column and why. Roles are the names people see
("Headteacher", "School office"), separated by ";". Someone whose email address is already
on the school's register (or twice in the file) is refused, not added again."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest

from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed
from people.models import ROLE_CHOICES, ROLE_LABELS, StaffMember, StaffRole, uk_mobile
from people.permissions import can
from schools.models import School

from .invitations import invite

COLUMNS = ("name", "email", "mobile", "roles")
MAX_ROWS = 2000
# A role by the name people see, or its short name, in any case.
_ROLE_BY_NAME = {label.lower(): role for role, label in ROLE_CHOICES} | {role: role for role, _ in ROLE_CHOICES}


@dataclass(frozen=True)
class Problem:
    line: int
    column: str
    why: str

    def __str__(self) -> str:
        return f"Line {self.line}, column “{self.column}”: {self.why}"


@dataclass
class NewStaff:
    full_name: str
    email: str
    mobile: str = ""
    roles: list[str] = field(default_factory=list)
    line: int = 0


class ImportRefused(ValidationError):
    """The file was refused and nothing was written; `problems` says why, line by line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__([str(p) for p in problems])


def _require(by: StaffMember, school: School) -> None:
    if not (by.active and by.school_id == school.pk and can(by, "staff.edit")):
        raise NotAllowed("Only the school's headteacher or business manager may add staff.")


def roles_from(text: str) -> tuple[list[str], list[str]]:
    """(roles, names not understood) from "Headteacher; Designated safeguarding lead"."""
    roles: list[str] = []
    unknown: list[str] = []
    for part in (text or "").split(";"):
        name = " ".join(part.split()).lower()
        if not name:
            continue
        role = _ROLE_BY_NAME.get(name) or _ROLE_BY_NAME.get(name.replace(" ", "_"))
        if role is None:
            unknown.append(part.strip())
        elif role not in roles:
            roles.append(role)
    return roles, unknown


def check_person(school: School, person: NewStaff, seen: dict[str, int] | None = None) -> list[tuple[str, str]]:
    """(column, why) for each thing wrong with one new member of staff."""
    problems: list[tuple[str, str]] = []
    if not person.full_name.strip():
        problems.append(("name", "A name is needed."))
    elif len(person.full_name) > 200:
        problems.append(("name", "The name is longer than 200 characters."))
    email = person.email.strip().lower()
    if not email:
        problems.append(("email", "An email address is needed: the invitation is sent there."))
    else:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(("email", f"“{person.email}” is not an email address."))
        else:
            if StaffMember.objects.filter(school=school, email__iexact=email).exists():
                problems.append(("email", f"{email} is already on the staff register."))
            elif seen is not None and email in seen:
                problems.append(("email", f"{email} is also on line {seen[email]} of this file."))
    if person.mobile.strip():
        try:
            uk_mobile(person.mobile.strip())
        except ValidationError:
            problems.append(("mobile", f"“{person.mobile}” is not a UK mobile number (e.g. 07700 900123)."))
    if not person.roles:
        problems.append(("roles", "Give at least one role, e.g. “Teacher”."))
    return problems


def parse_csv(school: School, text: str) -> tuple[list[NewStaff], list[Problem]]:
    """Every row of the file and every problem in it (line numbers as a spreadsheet shows them)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = list(reader)
    if not rows:
        return [], [Problem(1, "name", "The file is empty.")]
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [Problem(1, c, "This column is missing from the first line (it should read: "
                                  "name, email, mobile, roles).") for c in missing]
    if len(rows) - 1 > MAX_ROWS:
        return [], [Problem(MAX_ROWS + 2, "name", f"The file has more than {MAX_ROWS} people; split it.")]
    index = {c: header.index(c) for c in COLUMNS}
    people: list[NewStaff] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = {c: (row[i].strip() if i < len(row) else "") for c, i in index.items()}
        roles, unknown = roles_from(cell["roles"])
        person = NewStaff(full_name=cell["name"], email=cell["email"], mobile=cell["mobile"], roles=roles, line=number)
        found = check_person(school, person, seen)
        if unknown:
            found = [p for p in found if p[0] != "roles"]
            found.append(("roles", f"Not a role Doorstep knows: {', '.join(unknown)}. Roles are: "
                                   + "; ".join(ROLE_LABELS.values()) + "."))
        problems.extend(Problem(number, column, why) for column, why in found)
        if person.email.strip():
            seen.setdefault(person.email.strip().lower(), number)
        people.append(person)
    if not people and not problems:
        problems.append(Problem(2, "name", "The file has a header line but nobody in it."))
    return people, problems


def _create(school: School, person: NewStaff, by: StaffMember, request: HttpRequest | None) -> StaffMember:
    staff = StaffMember.objects.create(school=school, full_name=person.full_name.strip(),
                                       email=person.email.strip().lower(), mobile=person.mobile.strip())
    StaffRole.objects.bulk_create([StaffRole(staff=staff, role=role) for role in person.roles])
    record(actor=by, school=school, action=Action.STAFF_ADDED, obj=staff, request=request,
           summary=f"Added {staff.full_name} ({', '.join(ROLE_LABELS[r] for r in person.roles)}) to the staff register",
           data={"email": staff.email, "mobile": staff.mobile, "roles": person.roles})
    invite(staff, by=by, request=request)
    return staff


def add_staff(school: School, person: NewStaff, *, by: StaffMember, request: HttpRequest | None = None) -> StaffMember:
    """Add one member of staff and invite them. Raises NotAllowed, or ValidationError with each
    problem on its field (name, email, mobile, roles); nothing is written then."""
    _require(by, school)
    with transaction.atomic():
        School.objects.select_for_update().filter(pk=school.pk).first()  # one addition at a time per school
        problems = check_person(school, person)
        if problems:
            errors: dict[str, list[str]] = {}
            for column, why in problems:
                errors.setdefault(column, []).append(why)
            raise ValidationError(errors)
        return _create(school, person, by, request)


def import_staff(school: School, text: str, *, by: StaffMember, file_name: str = "",
                 request: HttpRequest | None = None) -> list[StaffMember]:
    """Add everyone in a CSV file and invite each, or nobody: raises ImportRefused with every
    problem (line, column, why)."""
    _require(by, school)
    with transaction.atomic():
        School.objects.select_for_update().filter(pk=school.pk).first()
        people, problems = parse_csv(school, text)
        if problems:
            raise ImportRefused(problems)
        added = [_create(school, person, by, request) for person in people]
        record(actor=by, school=school, action=Action.STAFF_IMPORTED, obj=school, request=request,
               summary=f"Added {len(added)} member(s) of staff from {file_name or 'a CSV file'} and invited each",
               data={"file": file_name, "added": [s.pk for s in added]})
    return added
