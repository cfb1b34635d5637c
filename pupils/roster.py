"""A school's roll of pupils and their contacts, written from its MIS: the one place a CSV
import (pupils.csv_import) and the Wonde sync write pupils.

    from pupils.roster import PupilRecord, ContactRecord, apply, check
    problems = check(school, records)          # [] or every bad record, by line and field
    counts = apply(school, records, by=staff, source="csv", complete=True)

`apply` is one transaction, takes the school's row lock (a second import of the same school
waits), writes one audit entry with the counts, and is idempotent: applying the same records
again changes nothing and reports them unchanged. Pupils are matched by the MIS's own id,
else by UPN, only ever within `school`. Pupils are never deleted: with `complete=True` a
pupil of the school who is not in `records` is marked left (off roll, `left_on` today), and
`left` names pupils (MIS ids or UPNs) to mark left explicitly (Wonde's deletions). A left
pupil who comes back in `records` is put back on roll.

A pupil's contacts are replaced by the record's: matched by the contact's MIS id, else by
name and relationship; contacts no longer in the MIS are removed (a visit that named one as
who agreed the appointment keeps the visit, without the name). A record whose `contacts` is
None leaves the pupil's contacts alone.
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import record as audit_record
from schools.models import School

from .models import YEAR_GROUPS, Contact, Pupil
from .upn import upn_problem

YEAR_CODES = {code for code, _label in YEAR_GROUPS}
BATCH_SIZE = 1000


@dataclass
class ContactRecord:
    """One contact of a pupil, as the MIS has them."""

    name: str
    relationship: str = ""
    mis_id: str = ""
    phone: str = ""
    phone_other: str = ""
    email: str = ""
    address: str = ""                      # only when it differs from the pupil's
    priority: int = 1                      # 1 = contact first
    parental_responsibility: bool | None = None   # None: keep what Doorstep has (new: yes)
    lives_with_pupil: bool | None = None          # None: keep what Doorstep has (new: yes)


@dataclass
class PupilRecord:
    """One pupil, as the MIS has them. `line` is where the record came from (a CSV line, a
    Wonde page item number) so that problems can say where to look."""

    mis_id: str
    upn: str
    first_name: str
    last_name: str
    date_of_birth: datetime.date | None
    year_group: str                        # a code of pupils.models.YEAR_GROUPS: "N", "R", "1".."13"
    address_line1: str = ""
    address_line2: str = ""
    town: str = ""
    postcode: str = ""
    admission_number: str = ""
    class_name: str = ""
    contacts: list[ContactRecord] | None = field(default_factory=list)
    line: int = 0


@dataclass(frozen=True)
class Problem:
    line: int
    column: str      # the record's field name ("upn"); a CSV import turns it into its header
    why: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.why}"


@dataclass
class RosterCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    left: int = 0
    contacts_added: int = 0
    contacts_updated: int = 0
    contacts_removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        return (f"{self.added} new, {self.updated} changed, {self.unchanged} unchanged, {self.left} marked left; "
                f"contacts: {self.contacts_added} new, {self.contacts_updated} changed, "
                f"{self.contacts_removed} removed")


class RosterRefused(ValidationError):
    """The records were not applied; `problems` lists every bad one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s); nothing was imported")


_YEAR_WORDS = {"nursery": "N", "n": "N", "nur": "N", "reception": "R", "r": "R", "rec": "R", "yr r": "R",
               "year r": "R", "fs2": "R", "f2": "R"}


def year_code(text: str) -> str | None:
    """"Year 7", "Y7", "7", "Reception", "R" -> the model's code, or None if not a year group."""
    t = " ".join((text or "").strip().lower().split())
    if t in _YEAR_WORDS:
        return _YEAR_WORDS[t]
    for prefix in ("year ", "year", "yr ", "yr", "y", "ncy "):
        if t.startswith(prefix) and t[len(prefix):].strip().isdigit():
            t = t[len(prefix):].strip()
            break
    if t.isdigit() and str(int(t)) in YEAR_CODES:
        return str(int(t))
    return None


def _clean(r: PupilRecord) -> None:
    for name in ("mis_id", "first_name", "last_name", "address_line1", "address_line2", "town", "admission_number",
                 "class_name"):
        setattr(r, name, " ".join((getattr(r, name) or "").split()))
    r.upn = (r.upn or "").strip().upper()
    r.postcode = " ".join((r.postcode or "").upper().split())
    code = year_code(r.year_group)
    r.year_group = code if code is not None else (r.year_group or "").strip()
    for c in r.contacts or []:
        for name in ("name", "relationship", "mis_id", "phone", "phone_other", "email", "address"):
            setattr(c, name, " ".join((getattr(c, name) or "").split()))


def _limits(model: Any) -> dict[str, int]:
    return {f.name: f.max_length for f in model._meta.concrete_fields if getattr(f, "max_length", None)}


_LIMITS = _limits(Pupil)
_CONTACT_LIMITS = _limits(Contact)


def check(school: School, records: Sequence[PupilRecord]) -> list[Problem]:
    """Every record-level problem, in line order: required fields, the UPN's check letter,
    the year group, dates, lengths, and a UPN or MIS id given twice. Normalises the records
    (spaces, upper-case UPN and postcode, year group code) as it goes."""
    problems: list[Problem] = []
    seen_upn: dict[str, int] = {}
    seen_mis: dict[str, int] = {}
    today = timezone.localdate()
    for r in records:
        _clean(r)
        bad = problems.append
        for name, label in (("first_name", "first name"), ("last_name", "last name"),
                            ("address_line1", "first line of the address"), ("postcode", "postcode")):
            if not getattr(r, name):
                bad(Problem(r.line, name, f"no {label}"))
        if not r.upn:
            bad(Problem(r.line, "upn", "no UPN"))
        else:
            why = upn_problem(r.upn)
            if why:
                bad(Problem(r.line, "upn", f"{r.upn} is not a valid UPN: {why}"))
            elif r.upn in seen_upn:
                bad(Problem(r.line, "upn", f"{r.upn} is also on line {seen_upn[r.upn]}"))
            else:
                seen_upn[r.upn] = r.line
        if r.mis_id:
            if r.mis_id in seen_mis:
                bad(Problem(r.line, "mis_id", f"{r.mis_id} is also on line {seen_mis[r.mis_id]}"))
            else:
                seen_mis[r.mis_id] = r.line
        if r.date_of_birth is None:
            bad(Problem(r.line, "date_of_birth", "no date of birth"))
        elif r.date_of_birth > today:
            bad(Problem(r.line, "date_of_birth", f"{r.date_of_birth:%d/%m/%Y} is in the future"))
        if r.year_group not in YEAR_CODES:
            bad(Problem(r.line, "year_group", f"{r.year_group!r} is not a year group (Nursery, Reception, "
                                               "Year 1 to Year 13)" if r.year_group else "no year group"))
        for name, limit in _LIMITS.items():
            if name in ("upn", "year_group"):
                continue  # checked above, in words
            value = getattr(r, name, None)
            if isinstance(value, str) and len(value) > limit:
                bad(Problem(r.line, name, f"longer than {limit} characters"))
        for n, c in enumerate(r.contacts or [], start=1):
            where = f"contact_{n}"
            if not c.name:
                if c.phone or c.email or c.relationship:
                    bad(Problem(r.line, f"{where}_name", f"contact {n} has details but no name"))
                continue
            if c.email:
                try:
                    validate_email(c.email)
                except ValidationError:
                    bad(Problem(r.line, f"{where}_email", f"{c.email!r} is not an email address"))
            for name, limit in _CONTACT_LIMITS.items():
                value = getattr(c, name, None)
                if isinstance(value, str) and len(value) > limit:
                    bad(Problem(r.line, f"{where}_{name}", f"longer than {limit} characters"))
    problems.sort(key=lambda p: p.line)
    return problems


_PUPIL_FIELDS = ["mis_id", "upn", "first_name", "last_name", "date_of_birth", "year_group", "address_line1",
                 "address_line2", "town", "postcode", "admission_number", "class_name"]
_CONTACT_FIELDS = ["mis_id", "name", "relationship", "phone", "phone_other", "email", "address", "priority"]


def _contact_key(c: Any) -> tuple[str, str]:
    return (c.name.casefold(), (c.relationship or "").casefold())


def apply(school: School, records: Sequence[PupilRecord], *, by: Any, source: str, complete: bool,
          left: Sequence[str] = (), preview: bool = False) -> RosterCounts:
    """Write `records` to `school`'s pupils (see the module's docstring). Raises RosterRefused
    with every problem, writing nothing, if check() finds any. `by` is the StaffMember (or
    None when Doorstep acts by itself); `source` names where the records came from ("CSV
    pupils.csv", "Wonde") for the audit trail. preview=True works out the counts and writes
    nothing (the transaction is rolled back; nothing is audited)."""
    problems = check(school, records)
    if problems:
        raise RosterRefused(problems)
    counts = RosterCounts()
    today = timezone.localdate()
    left_keys = {k.strip() for k in left if k and k.strip()}
    with transaction.atomic():
        # One roster write per school at a time: the second waits for the first.
        School.objects.select_for_update().get(pk=school.pk)
        existing = list(Pupil.objects.filter(school=school))
        by_mis = {p.mis_id: p for p in existing if p.mis_id}
        by_upn = {p.upn.upper(): p for p in existing}
        matched: dict[int, Pupil] = {}
        new_pupils: list[tuple[PupilRecord, Pupil]] = []
        changed: list[Pupil] = []
        pairs: list[tuple[PupilRecord, Pupil]] = []
        for r in records:
            pupil = by_mis.get(r.mis_id) if r.mis_id else None
            if pupil is None:
                pupil = by_upn.get(r.upn)
            if pupil is not None and pupil.pk in matched:
                pupil = None
            if pupil is None:
                p = Pupil(school=school, on_roll=True, **{f: getattr(r, f) for f in _PUPIL_FIELDS})
                new_pupils.append((r, p))
                continue
            matched[pupil.pk] = pupil
            dirty = False
            for f in _PUPIL_FIELDS:
                value = getattr(r, f)
                if f == "mis_id" and not value:
                    continue  # a file without MIS ids keeps the ids a sync wrote
                if getattr(pupil, f) != value:
                    setattr(pupil, f, value)
                    dirty = True
            if not pupil.on_roll or pupil.left_on is not None:
                pupil.on_roll, pupil.left_on = True, None
                dirty = True
            if dirty:
                changed.append(pupil)
            pairs.append((r, pupil))
        # A UPN may belong to one pupil of the school only: a record that would give a pupil the
        # UPN another pupil keeps (one not in the records, or matched by its MIS id elsewhere) is refused.
        final_upn: dict[str, PupilRecord] = {p.upn: r for r, p in pairs}
        clashes = [Problem(final_upn[p.upn].line, "upn", f"{p.upn}: another pupil of the school already has this "
                                                         f"UPN (MIS id {p.mis_id or 'not given'}); correct one of "
                                                         "them in the MIS")
                   for p in existing if p.pk not in matched and p.upn in final_upn]
        clashes += [Problem(r.line, "upn", f"{r.upn}: another pupil of the school already has this UPN "
                                           "(matched by its MIS id to another line)")
                    for r, _p in new_pupils if r.upn in final_upn]
        if clashes:
            raise RosterRefused(sorted(clashes, key=lambda x: x.line))
        # Marked left: not in a complete list, or named as gone.
        gone: list[Pupil] = []
        for p in existing:
            if p.pk in matched:
                continue
            named = bool(left_keys) and (p.mis_id in left_keys or p.upn in left_keys)
            if (complete or named) and p.on_roll:
                p.on_roll, p.left_on = False, today
                gone.append(p)
        counts.added = len(new_pupils)
        counts.updated = len(changed)
        counts.unchanged = len(pairs) - len(changed)
        counts.left = len(gone)
        if changed or gone:
            stamped = timezone.now()  # bulk_update does not stamp rows (core.stamps)
            for p in changed + gone:
                p.updated_at = stamped
            Pupil.objects.bulk_update(changed + gone, _PUPIL_FIELDS + ["on_roll", "left_on", "updated_at"],
                                      batch_size=BATCH_SIZE)
        if new_pupils:
            Pupil.objects.bulk_create([p for _r, p in new_pupils], batch_size=BATCH_SIZE)
            # SQLite and PostgreSQL both return the new ids from bulk_create.
            pairs.extend(new_pupils)
        _apply_contacts(pairs, counts)
        if preview:
            transaction.set_rollback(True)
            return counts
        audit_record(actor=by, school=school, action=Action.PUPILS_IMPORTED, obj=school,
                     summary=f"Pupils and contacts from {source}: {counts}",
                     data={"source": source, "records": len(records), "complete": complete, **counts.as_dict()})
    return counts


def _apply_contacts(pairs: list[tuple[PupilRecord, Pupil]], counts: RosterCounts) -> None:
    with_contacts = [(r, p) for r, p in pairs if r.contacts is not None]
    existing: dict[int, list[Contact]] = {}
    ids = [p.pk for _r, p in with_contacts]
    for i in range(0, len(ids), BATCH_SIZE):
        for c in Contact.objects.filter(pupil_id__in=ids[i:i + BATCH_SIZE]):
            existing.setdefault(c.pupil_id, []).append(c)
    to_create: list[Contact] = []
    to_update: list[Contact] = []
    to_delete: list[int] = []
    for r, pupil in with_contacts:
        have = existing.get(pupil.pk, [])
        by_mis = {c.mis_id: c for c in have if c.mis_id}
        by_key = {_contact_key(c): c for c in have}
        kept: set[int] = set()
        for n, cr in enumerate(r.contacts or [], start=1):
            if not cr.name:
                continue
            current = by_mis.get(cr.mis_id) if cr.mis_id else None
            if current is None:
                current = by_key.get(_contact_key(cr))
            if current is not None and current.pk in kept:
                current = None
            values: dict[str, Any] = {f: getattr(cr, f) for f in _CONTACT_FIELDS}
            values["priority"] = cr.priority or n
            if current is None:
                to_create.append(Contact(
                    pupil=pupil, **values,
                    parental_responsibility=True if cr.parental_responsibility is None else cr.parental_responsibility,
                    lives_with_pupil=True if cr.lives_with_pupil is None else cr.lives_with_pupil))
                continue
            kept.add(current.pk)
            if cr.parental_responsibility is not None:
                values["parental_responsibility"] = cr.parental_responsibility
            if cr.lives_with_pupil is not None:
                values["lives_with_pupil"] = cr.lives_with_pupil
            if not values["mis_id"]:
                values.pop("mis_id")
            dirty = False
            for f, v in values.items():
                if getattr(current, f) != v:
                    setattr(current, f, v)
                    dirty = True
            if dirty:
                to_update.append(current)
        to_delete.extend(c.pk for c in have if c.pk not in kept)
    counts.contacts_added = len(to_create)
    counts.contacts_updated = len(to_update)
    counts.contacts_removed = len(to_delete)
    if to_update:
        Contact.objects.bulk_update(to_update, _CONTACT_FIELDS + ["parental_responsibility", "lives_with_pupil"],
                                    batch_size=BATCH_SIZE)
    for i in range(0, len(to_delete), BATCH_SIZE):
        Contact.objects.filter(pk__in=to_delete[i:i + BATCH_SIZE]).delete()
    if to_create:
        Contact.objects.bulk_create(to_create, batch_size=BATCH_SIZE)


def refused(school: School, problems: int, *, by: Any, source: str) -> None:
    """Put a refused import on the trail: who, when, how many problems (not which pupils)."""
    audit_record(actor=by, school=school, action=Action.PUPILS_IMPORT_FAILED, obj=school,
                 summary=f"Pupils and contacts from {source} were refused: {problems} "
                         f"problem{'s' if problems != 1 else ''}; nothing was imported",
                 data={"source": source, "problems": problems})
