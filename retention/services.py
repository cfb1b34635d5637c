"""Working out what is due for removal under a school's retention schedule, and removing it.

`plan(school, today)` lists every record whose period has ended (a dry run changes nothing);
`apply(school, today, actor)` removes exactly what the plan lists, in one transaction for the
whole run (a savepoint per record type), writing one audit entry per record removed. If any
removal fails, nothing is removed and no entry is written.

A record can be due but held: a visit a kept concern still points at, or a pupil who still
has a kept visit or concern. Held records are listed with the reason and left alone; they go
when what holds them goes. With the default schedule everything about a pupil falls due on
the same day, so nothing is held.

Audit entries are the one kind of record Doorstep otherwise never deletes: the database refuses
(audit.guard). They go here, last, through audit.guard.allow_purge(), when their own period is
up and the record they describe is no longer kept; one entry per run says how many went."""
from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Model, Q, QuerySet
from django.utils import timezone

from attendance.models import AttendanceMark, ImportRun, ReferralCase
from audit.actions import Action
from audit.guard import allow_purge
from audit.models import AuditEntry
from audit.services import record
from notify.models import Message
from pupils.models import Pupil
from reports.models import Agreement, ChronologyNote, Concern, Filing, Letter, VisitReport
from schools.models import School
from visits.models import Visit

from .models import RetentionRule
from .rules import ORDER, SCHEDULES, Schedule, add_years, latest_anchor

if TYPE_CHECKING:
    from people.models import StaffMember


@dataclass
class Due:
    record_type: str
    pk: int
    due_on: datetime.date
    anchor: datetime.date
    years: int
    what: str = ""            # e.g. "120 marks" (never a name)
    held_by: str = ""          # why it is kept for now, if it is
    obj: Model | None = field(default=None, repr=False)  # the record itself (not for attendance or audit)

    @property
    def schedule(self) -> Schedule:
        return SCHEDULES[self.record_type]

    def audit_summary(self) -> str:
        """What the audit entry says: the kind of record, its id, the rule and the dates. No name,
        address or date of birth: for periods counted from a date of birth only the due date is given."""
        s = self.schedule
        counted = "" if s.personal_anchor else f", counted from {self.anchor.isoformat()}"
        extra = f" ({self.what})" if self.what else ""
        return (f"Removed under the retention schedule: {s.key} #{self.pk}{extra}; rule {self.years} years from "
                f"{s.counted_from}{counted}; due {self.due_on.isoformat()}")


def years_for(school: School) -> dict[str, int]:
    """The school's periods: its own RetentionRule rows over the defaults."""
    years = {key: s.years for key, s in SCHEDULES.items()}
    years.update(dict(RetentionRule.objects.filter(school=school).values_list("record_type", "years")))
    return years


def set_rule(school: School, record_type: str, years: int, *, actor: StaffMember | None,
             reason: str = "") -> RetentionRule | None:
    """Change one period for one school (audited). Setting the default again removes the school's own row."""
    if record_type not in SCHEDULES:
        raise ValidationError({"record_type": f"Unknown record type {record_type!r}; one of {', '.join(SCHEDULES)}."})
    if not isinstance(years, int) or not 1 <= years <= 100:
        raise ValidationError({"years": f"Give a number of years from 1 to 100, not {years!r}."})
    default = SCHEDULES[record_type].years
    with transaction.atomic():
        before = years_for(school)[record_type]
        RetentionRule.objects.filter(school=school, record_type=record_type).delete()
        rule = None
        if years != default:
            rule = RetentionRule.objects.create(school=school, record_type=record_type, years=years, reason=reason,
                                                changed_at=timezone.now())
        record(actor=actor, school=school, action=Action.RETENTION_RULE_CHANGED, obj=school,
               summary=f"Retention for {record_type}: {before} → {years} years (default {default})", reason=reason,
               data={"record_type": record_type, "before": before, "after": years, "default": default})
    return rule


# --------------------------------------------------------------------------- finding what is due

def _dob_due(school: School, model: type[Concern] | type[Visit], years: int,
             today: datetime.date) -> list[tuple[Concern | Visit, datetime.date, datetime.date]]:
    """Rows of `model` whose pupil's date of birth + years has passed: (row, date of birth, due)."""
    rows = (model.objects.filter(pupil__school=school, pupil__date_of_birth__lt=latest_anchor(today, years))
            .select_related("pupil").order_by("pk"))
    out: list[tuple[Concern | Visit, datetime.date, datetime.date]] = []
    for row in rows:
        dob = row.pupil.date_of_birth
        due = add_years(dob, years)
        if due <= today:
            out.append((row, dob, due))
    return out


def _due_from_written(record_type: str, rows: QuerySet[Message] | QuerySet[ImportRun], field: str, years: int,
                      today: datetime.date) -> list[Due]:
    """Records kept `years` from the day they were written (`field`, a datetime)."""
    out: list[Due] = []
    for row in rows.filter(**{f"{field}__date__lt": latest_anchor(today, years)}).order_by("pk"):
        anchor = timezone.localdate(getattr(row, field))
        if add_years(anchor, years) <= today:
            out.append(Due(record_type, row.pk, add_years(anchor, years), anchor, years, obj=row))
    return out


def _find(record_type: str, school: School, years: int, today: datetime.date) -> list[Due]:
    if record_type == "messages":
        rows = Message.objects.filter(school=school, status__in=[Message.Status.SENT, Message.Status.FAILED])
        return _due_from_written(record_type, rows, "created_at", years, today)
    if record_type == "import_runs":
        return _due_from_written(record_type, ImportRun.objects.filter(school=school), "at", years, today)
    if record_type == "attendance":
        per_pupil = (AttendanceMark.objects.filter(pupil__school=school).values("pupil")
                     .annotate(last=Max("date"), n=Count("pk")).filter(last__lt=latest_anchor(today, years))
                     .order_by("pupil"))
        return [Due(record_type, p["pupil"], add_years(p["last"], years), p["last"], years, what=f"{p['n']} marks")
                for p in per_pupil if add_years(p["last"], years) <= today]
    if record_type == "concerns":
        return [Due(record_type, c.pk, due, dob, years, obj=c) for c, dob, due in _dob_due(school, Concern, years, today)]
    if record_type == "visits":
        return [Due(record_type, v.pk, due, dob, years, obj=v) for v, dob, due in _dob_due(school, Visit, years, today)]
    if record_type == "pupils":
        pupils = Pupil.objects.filter(school=school, date_of_birth__lt=latest_anchor(today, years)).order_by("pk")
        return [Due(record_type, p.pk, add_years(p.date_of_birth, years), p.date_of_birth, years, obj=p)
                for p in pupils if add_years(p.date_of_birth, years) <= today]
    if record_type == "audit":
        return _audit_due(school, years, today)
    raise KeyError(record_type)


def _audit_due(school: School, years: int, today: datetime.date) -> list[Due]:
    rows = (AuditEntry.objects.filter(school=school, at__date__lt=latest_anchor(today, years))
            .order_by("pk").values_list("pk", "at", "object_type", "object_id"))
    out: list[Due] = []
    for pk, at, object_type, object_id in rows:
        anchor = timezone.localdate(at)
        if add_years(anchor, years) <= today:
            out.append(Due("audit", pk, add_years(anchor, years), anchor, years, what=f"{object_type}:{object_id}"))
    return out


# What each kind of removal takes with it, as audit object types (for holding audit entries).
REMOVES = {"messages": "notify.message", "import_runs": "attendance.importrun", "concerns": "reports.concern",
           "visits": "visits.visit", "pupils": "pupils.pupil"}


def _hold_audit(found: dict[str, list[Due]]) -> None:
    """An audit entry is held while the record it is about still exists and is not being removed
    in this run (an entry about a record that hangs off a removed one goes in the next run)."""
    removing = {(REMOVES[k], str(d.pk)) for k in REMOVES for d in found[k] if not d.held_by}
    by_type: defaultdict[str, set[str]] = defaultdict(set)
    for d in found["audit"]:
        object_type, _, object_id = d.what.partition(":")
        if object_type and object_id and (object_type, object_id) not in removing:
            by_type[object_type].add(object_id)
    existing: set[tuple[str, str]] = set()
    for object_type, ids in by_type.items():
        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):  # a type that is no model (any more): nothing holds the entry
            continue
        pks = [int(i) for i in ids if i.isdigit()]
        existing |= {(object_type, str(pk)) for pk in model._base_manager.filter(pk__in=pks).values_list("pk", flat=True)}
    for d in found["audit"]:
        object_type, _, object_id = d.what.partition(":")
        if (object_type, object_id) in existing:
            d.held_by = "the record it describes is still kept"


def _mark_held(found: dict[str, list[Due]]) -> None:
    """A visit is held while a concern that is kept points at it; a pupil while a kept visit, concern or
    attendance mark is theirs (the register's six years are statutory, whatever the pupil file's period)."""
    removing = {k: {d.pk for d in v if not d.held_by} for k, v in found.items()}
    visits = [d for d in found["visits"]]
    if visits:
        ids = [d.pk for d in visits]
        kept: defaultdict[int, int] = defaultdict(int)
        for visit_id, report_visit_id, pk in (Concern.objects.filter(Q(visit__in=ids) | Q(report__visit__in=ids))
                                              .values_list("visit", "report__visit", "pk")):
            if pk not in removing["concerns"]:
                for v in {visit_id, report_visit_id} - {None}:
                    kept[v] += 1
        for d in visits:
            if kept.get(d.pk):
                d.held_by = f"{kept[d.pk]} concern(s) about it are kept longer"
        removing["visits"] = {d.pk for d in visits if not d.held_by}
    for d in found["pupils"]:
        visits_kept = Visit.objects.filter(pupil=d.pk).exclude(pk__in=removing["visits"]).count()
        concerns_kept = Concern.objects.filter(pupil=d.pk).exclude(pk__in=removing["concerns"]).count()
        marks_kept = (AttendanceMark.objects.filter(pupil=d.pk).exists() and d.pk not in removing["attendance"])
        if visits_kept or concerns_kept or marks_kept:
            d.held_by = (f"{visits_kept} visit(s), {concerns_kept} concern(s) and "
                         f"{'the' if marks_kept else 'no'} attendance marks about the pupil are kept longer")


def plan(school: School, today: datetime.date | None = None) -> dict[str, list[Due]]:
    """Everything of this school's whose retention period has ended by `today`, by record type
    (in removal order). Held records are included with `held_by` set."""
    today = today or timezone.localdate()
    years = years_for(school)
    found = {key: _find(key, school, years[key], today) for key in ORDER}
    _mark_held(found)
    _hold_audit(found)
    return found


# --------------------------------------------------------------------------- removing it

def _remove_visit(visit: Visit) -> None:
    """A visit and what hangs off it. Rows that PROTECT the visit go first, newest first (a
    correction points at the report it corrects); check-in events, the watch, alerts and
    assignments go with the visit itself (CASCADE)."""
    ChronologyNote.objects.filter(agreement__visit=visit).delete()
    Letter.objects.filter(agreement__visit=visit).delete()
    Agreement.objects.filter(visit=visit).delete()
    for report in VisitReport.objects.filter(visit=visit).order_by("-pk"):
        report.delete()
    Filing.objects.filter(visit=visit).delete()
    visit.delete()


def _remove_pupil(pupil: Pupil) -> None:
    ChronologyNote.objects.filter(pupil=pupil).delete()
    Letter.objects.filter(pupil=pupil).delete()
    Agreement.objects.filter(pupil=pupil).delete()
    ReferralCase.objects.filter(pupil=pupil).delete()
    pupil.delete()  # contacts, household notes, attendance marks and risk assessments go with it (CASCADE)


def _remove(due: Due) -> None:
    if due.record_type == "attendance":
        AttendanceMark.objects.filter(pupil=due.pk).delete()
    elif due.record_type == "visits":
        assert isinstance(due.obj, Visit)  # _find puts the visit itself on its Due
        _remove_visit(due.obj)
    elif due.record_type == "pupils":
        assert isinstance(due.obj, Pupil)  # and the pupil on a pupil's
        _remove_pupil(due.obj)
    else:  # messages (with their delivery attempts), import runs, concerns
        assert due.obj is not None  # found with the record itself
        due.obj.delete()


def _remove_audit(school: School, items: list[Due], today: datetime.date, actor: StaffMember | None) -> None:
    """Audit entries past their period, through the trail's guarded path, in chunks; then one
    entry saying how many went and the span of their ids and dates (the entries themselves are
    what would otherwise be listed)."""
    if not items:
        return
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    ids = [d.pk for d in items]
    with allow_purge(), connection.cursor() as cursor:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))})", chunk)
    years = items[0].years
    record(actor=actor, school=school, action=Action.RETENTION_REMOVED, obj=school,
           summary=(f"Removed under the retention schedule: {len(items)} audit entries (#{min(ids)}–#{max(ids)}), "
                    f"written {min(d.anchor for d in items).isoformat()} to {max(d.anchor for d in items).isoformat()}; "
                    f"rule {years} years from the day each was written"),
           data={"record_type": "audit", "count": len(items), "first_id": min(ids), "last_id": max(ids),
                 "rule_years": years, "run_on": today})


def _subject(due: Due) -> Model:
    """The model instance the audit entry is about (its type and id); for attendance, the pupil."""
    if due.obj is not None:
        return due.obj
    return Pupil(pk=due.pk)


def apply(school: School, today: datetime.date | None = None, *,
          actor: StaffMember | None = None) -> dict[str, list[Due]]:
    """Remove what `plan` lists as due and not held. All or nothing for the run: the school row is
    locked so two runs for one school take turns, and the plan is worked out again inside the
    transaction so the second run finds nothing left to remove."""
    today = today or timezone.localdate()
    with transaction.atomic():
        School.objects.select_for_update().get(pk=school.pk)
        found = plan(school, today)
        for key in ORDER:
            if key == "audit":
                _remove_audit(school, [d for d in found[key] if not d.held_by], today, actor)
                continue
            with transaction.atomic():  # one savepoint per record type
                for due in found[key]:
                    if due.held_by:
                        continue
                    # The entry is written first, while the record still has its id; both are in
                    # this transaction, so neither exists without the other.
                    record(actor=actor, school=school, action=Action.RETENTION_REMOVED, obj=_subject(due),
                           summary=due.audit_summary(),
                           data={"record_type": key, "id": due.pk, "rule_years": due.years,
                                 "counted_from": due.schedule.counted_from, "due_on": due.due_on,
                                 "run_on": today, **({} if due.schedule.personal_anchor else {"anchor": due.anchor}),
                                 **({"what": due.what} if due.what else {})})
                    _remove(due)
    return found
