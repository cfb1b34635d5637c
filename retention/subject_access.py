"""Subject access: every record Doorstep holds about one pupil or one member of staff, as a ZIP
of one JSON file (everything, nested by kind of record) and one CSV per kind of record, for the
school to review, redact where the law allows and send within the month (UK GDPR Art. 15;
school-domain.md §4).

The export reads across every app. It includes the audit entries about the person and, for
staff, the entries they wrote. Making it is itself audited (`subject_access.exported`), with
counts and no names. Permission: `records.subject_access` (headteacher and DSL)."""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from attendance.models import AttendanceMark, ReferralCase
from audit.actions import Action
from audit.models import AuditEntry
from audit.services import record
from core import csvsafe
from notify.models import Message
from reports.models import Agreement, ChronologyNote, Concern, Filing, Letter, VisitReport
from risk.models import Hazard, RiskAssessment
from safety.alerts.models import Alert, AlertStep
from safety.checkins.models import VisitEvent
from visits.models import Override, Visit, VisitStaff

if TYPE_CHECKING:
    from django.http import HttpRequest

    from people.models import StaffMember
    from pupils.models import Pupil
    from schools.models import School

# One stored record: field name -> value as stored.
Record = dict[str, Any]


def row(obj: models.Model) -> Record:
    """Every stored field of a record, as stored (foreign keys as ids, with `_id`)."""
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def rows(queryset: models.QuerySet[Any]) -> list[Record]:
    return [row(o) for o in queryset.order_by("pk")]


def _audit_about(refs: Mapping[str, Sequence[int]]) -> models.QuerySet[AuditEntry]:
    """Audit entries whose subject is one of these records ({"visits.visit": [ids], ...})."""
    q = Q(pk__in=[])
    for label, ids in refs.items():
        if ids:
            q |= Q(object_type=label, object_id__in=[str(i) for i in ids])
    return AuditEntry.objects.filter(q)


def pupil_records(pupil: Pupil) -> dict[str, list[Record]]:
    visits = Visit.objects.filter(pupil=pupil)
    out = {
        "pupil": [row(pupil)],
        "contacts": rows(pupil.contacts.all()),
        "household_notes": rows(pupil.household_notes.all()),
        "attendance_marks": rows(AttendanceMark.objects.filter(pupil=pupil)),
        "referral_cases": rows(ReferralCase.objects.filter(pupil=pupil)),
        "home_visit_risk_assessments": rows(RiskAssessment.objects.filter(pupil=pupil)),
        "risk_assessment_hazards": rows(Hazard.objects.filter(assessment__pupil=pupil)),
        "visits": rows(visits),
        "visit_staff": rows(VisitStaff.objects.filter(visit__pupil=pupil)),
        "visit_overrides": rows(Override.objects.filter(visit__pupil=pupil)),
        "visit_events": rows(VisitEvent.objects.filter(visit__pupil=pupil)),
        "alerts": rows(Alert.objects.filter(visit__pupil=pupil)),
        "alert_steps": rows(AlertStep.objects.filter(alert__visit__pupil=pupil)),
        "reports": rows(VisitReport.objects.filter(pupil=pupil)),
        "concerns": rows(Concern.objects.filter(pupil=pupil)),
        "agreements": rows(Agreement.objects.filter(pupil=pupil)),
        "letters": rows(Letter.objects.filter(pupil=pupil)),
        "chronology_notes": rows(ChronologyNote.objects.filter(pupil=pupil)),
        "filings": rows(Filing.objects.filter(visit__pupil=pupil)),
    }
    refs = {"pupils.pupil": [pupil.pk], "visits.visit": [r["id"] for r in out["visits"]],
            "reports.visitreport": [r["id"] for r in out["reports"]],
            "reports.concern": [r["id"] for r in out["concerns"]],
            "reports.agreement": [r["id"] for r in out["agreements"]],
            "reports.letter": [r["id"] for r in out["letters"]],
            "attendance.referralcase": [r["id"] for r in out["referral_cases"]],
            "alerts.alert": [r["id"] for r in out["alerts"]],
            "risk.riskassessment": [r["id"] for r in out["home_visit_risk_assessments"]]}
    out["audit_entries_about_them"] = rows(_audit_about(refs))
    return out


def staff_records(staff: StaffMember) -> dict[str, list[Record]]:
    visit_ids = list(VisitStaff.objects.filter(staff=staff).values_list("visit", flat=True))
    out = {
        "staff_member": [row(staff)],
        "roles": rows(staff.roles.all()),
        "dbs_checks": rows(staff.dbs_checks.all()),
        "training": rows(staff.training.all()),
        "vehicles": rows(staff.vehicles.all()),
        "lone_working_risk_assessments": rows(RiskAssessment.objects.filter(staff=staff)),
        "visits": rows(Visit.objects.filter(pk__in=visit_ids)),
        "visit_staff": rows(VisitStaff.objects.filter(staff=staff)),
        "visit_events": rows(VisitEvent.objects.filter(Q(staff=staff) | Q(recorded_by=staff)
                                                       | Q(visit__in=visit_ids, staff__isnull=True))),
        "alerts": rows(Alert.objects.filter(Q(visit__in=visit_ids) | Q(owner=staff) | Q(resolved_by=staff))),
        "messages": rows(Message.objects.filter(recipient=staff)),
    }
    # One sign-in may be on the staff of several schools: this school answers for its own
    # records only, so the entries are this school's, not everything the account ever did.
    about = _audit_about({"people.staffmember": [staff.pk]}).filter(school=staff.school_id)
    out["audit_entries_about_them"] = rows(about)
    by_them = AuditEntry.objects.filter(actor=staff.user_id, school=staff.school_id)
    out["audit_entries_by_them"] = rows(by_them) if staff.user_id else []
    return out


README = """Subject access export from Doorstep
====================================
Subject: {subject}
School: {school}
Made: {made} by {by}

{subject_file}: every record in one file, grouped by kind of record.
csv/*.csv: the same records, one spreadsheet per kind (cells that a spreadsheet would run
as a formula start with an apostrophe).

Review before sending: the records may name other people (staff, family members, other
professionals) whose information may need redacting. Counts:
{counts}
"""


def build_zip(records: dict[str, list[Record]], *, subject: str, school: School, by: str) -> bytes:
    buffer = io.BytesIO()
    made = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("records.json", json.dumps(records, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
        for name, items in records.items():
            text = io.StringIO()
            writer = csvsafe.writer(text)
            columns = list(items[0]) if items else ["(none)"]
            writer.writerow(columns)
            for item in items:
                writer.writerow([json.dumps(v, cls=DjangoJSONEncoder, ensure_ascii=False)
                                 if isinstance(v, (dict, list)) else
                                 (v.isoformat() if hasattr(v, "isoformat") else v) for v in item.values()])
            zf.writestr(f"csv/{name}.csv", text.getvalue())
        counts = "\n".join(f"  {name}: {len(items)}" for name, items in records.items())
        zf.writestr("README.txt", README.format(subject=subject, school=school.name, made=made, by=by,
                                                subject_file="records.json", counts=counts))
    return buffer.getvalue()


def _export(kind: str, subject: Pupil | StaffMember, records: dict[str, list[Record]], *,
            actor: StaffMember | None, request: HttpRequest | None = None) -> bytes:
    total = sum(len(v) for v in records.values())
    actor_name = getattr(actor, "full_name", "") or "Doorstep (console)"
    # The entry says a subject access export was made, of whom (type and id) and how much: no name.
    record(actor=actor, school=subject.school, action=Action.SUBJECT_ACCESS_EXPORTED, obj=subject,
           summary=f"Subject access export made for {kind} #{subject.pk}: {total} records",
           data={"counts": {k: len(v) for k, v in records.items()}}, request=request)
    return build_zip(records, subject=f"{kind} #{subject.pk} ({subject.full_name})", school=subject.school,
                     by=actor_name)


def export_pupil(pupil: Pupil, *, actor: StaffMember | None, request: HttpRequest | None = None) -> bytes:
    return _export("pupil", pupil, pupil_records(pupil), actor=actor, request=request)


def export_staff(staff: StaffMember, *, actor: StaffMember | None, request: HttpRequest | None = None) -> bytes:
    return _export("staff", staff, staff_records(staff), actor=actor, request=request)
