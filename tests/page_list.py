"""Every page and every PDF of a school, with real records in their addresses, built from the
URL patterns (doorstep.permission_places.page_paths): the accessibility check
(tests/test_browser_accessibility.py) and the page-speed bench (bench/pages_bench.py) both walk it,
so a page added tomorrow is checked and timed tomorrow. A page whose address needs a record this
file does not know how to find is returned as `unknown`, and the accessibility check fails on it
until RECORDS says which record to open."""
from collections.abc import Callable
from typing import Any

from django.urls import reverse

from attendance.models import ReferralCase
from doorstep.permission_places import page_paths
from people.models import StaffMember, Vehicle
from pupils.models import Pupil
from reports.models import Agreement, Concern, Letter, VisitReport
from risk.models import RiskAssessment
from safety.alerts.models import Alert
from schools.models import School
from visits.models import Visit, VisitList

# Addresses that are not pages a person reads: data, scripts, streams, webhooks and one-time
# links. The API's documentation page is a page.
NOT_PAGES = {"alerts:stream", "service_worker", "logout", "hooks:sms_notify", "hooks:sms_twilio",
             "hooks:voice_twilio", "notify:mark_read", "notify:mark_all_read", "audit:export",
             "readiness:check", "readiness:drill_start", "readiness:drill_end", "accounts:invitation",
             "reports:calendar_feed", "reports:chronology_csv"}

# The targets of buttons (POST only): the page each button sits on is the one checked.
BUTTONS = {"visits:approve", "visits:decline", "visits:cancel", "visits:withdraw", "visits:override",
           "visits:schedule", "visits:authorise_lone", "visits:change_appointment", "visits:list_sign",
           "alerts:acknowledge", "alerts:resolve", "alerts:code_word", "alerts:office_call", "checkins:abandon",
           "checkins:not_seen", "checkins:panic", "checkins:record", "accounts:staff_invite", "accounts:staff_leave",
           "accounts:staff_reactivate", "accounts:revoke", "reports:file", "reports:letter_send",
           "attendance:decide", "term_date_remove", "risk:review", "people:staff_row_remove"}


def _visits(school: School) -> list[dict[str, Any]]:
    """One visit in each state the school has: each state draws a different visit page."""
    seen: dict[str, Visit] = {}
    for visit in Visit.objects.filter(school=school).order_by("pk"):
        seen.setdefault(visit.state, visit)
    return [{"pk": v.pk} for v in seen.values()]


def _first(queryset: Any, **extra: Any) -> list[dict[str, Any]]:
    row = queryset.order_by("pk").first()
    return [{"pk": row.pk, **extra}] if row is not None else []


def _reported(school: School) -> list[dict[str, Any]]:
    report = VisitReport.objects.filter(visit__school=school).order_by("pk").first()
    return [{"pk": report.visit_id}] if report else []


def _report_version(school: School) -> list[dict[str, Any]]:
    report = VisitReport.objects.filter(visit__school=school).order_by("pk").first()
    return [{"pk": report.visit_id, "report_id": report.pk}] if report else []


def _vehicle(school: School) -> list[dict[str, Any]]:
    vehicle = Vehicle.objects.filter(staff__school=school).order_by("pk").first()
    return [{"pk": vehicle.staff_id, "kind": "vehicle", "row_id": vehicle.pk}] if vehicle else []


def _closed(school: School, *states: str) -> list[dict[str, Any]]:
    return _first(Visit.objects.filter(school=school, state__in=states))


def _pupil_with_visits(school: School) -> list[dict[str, Any]]:
    return _first(Pupil.objects.filter(school=school, visits__isnull=False).distinct())


# URL name -> the address arguments (records at the person's school) of the pages to open.
RECORDS: dict[str, Callable[[School], list[dict[str, Any]]]] = {
    "visits:detail": _visits,
    "visits:edit": lambda s: _first(Visit.objects.filter(school=s, state=Visit.State.PROPOSED)),
    "visits:edit_check": lambda s: _first(Visit.objects.filter(school=s, state=Visit.State.PROPOSED)),
    "checkins:visit": lambda s: _first(Visit.objects.filter(school=s, state=Visit.State.UNDER_WAY)),
    "visits:list_detail": lambda s: _first(VisitList.objects.filter(school=s)),
    "visits:leaver_visits": lambda s: [{"staff_pk": p["pk"]} for p in _first(StaffMember.objects.filter(school=s))],
    "pupils:detail": lambda s: _first(Pupil.objects.filter(school=s)),
    "reports:chronology": _pupil_with_visits,
    "reports:chronology_pdf": _pupil_with_visits,
    "risk:detail": lambda s: _first(RiskAssessment.objects.filter(school=s)),
    "risk:note_new": lambda s: [{"pupil_pk": p["pk"]} for p in _first(Pupil.objects.filter(school=s))],
    "people:staff_detail": lambda s: _first(StaffMember.objects.filter(school=s)),
    "people:staff_edit": lambda s: _first(StaffMember.objects.filter(school=s)),
    "people:staff_row_add": lambda s: _first(StaffMember.objects.filter(school=s), kind="vehicle"),
    "people:staff_row_edit": _vehicle,
    "attendance:case": lambda s: _first(ReferralCase.objects.filter(school=s)),
    "attendance:pack": lambda s: _first(ReferralCase.objects.filter(school=s)),
    "alerts:police_card": lambda s: _first(Alert.objects.filter(visit__school=s)),
    "reports:report": _reported,
    "reports:report_pdf": _reported,
    "reports:report_version_pdf": _report_version,
    "reports:correct": _reported,
    "reports:agreement_new": _reported,
    "reports:not_seen_card": lambda s: _closed(s, Visit.State.NOT_SEEN),
    "reports:closure_reason": lambda s: _closed(s, Visit.State.ABANDONED, Visit.State.CANCELLED, Visit.State.NOT_SEEN),
    "reports:agreement_review": lambda s: _first(Agreement.objects.filter(pupil__school=s)),
    "reports:concern": lambda s: _first(Concern.objects.filter(pupil__school=s)),
    "reports:letter": lambda s: _first(Letter.objects.filter(pupil__school=s)),
    "reports:letter_pdf": lambda s: _first(Letter.objects.filter(pupil__school=s)),
    "reports:letter_edit": lambda s: _first(Letter.objects.filter(pupil__school=s)),
    "setup:school": lambda s: [{"pk": s.pk}],
}


def addresses(school: School, *, pdfs: bool = False) -> tuple[list[str], list[str]]:
    """(the pages to open, the URL names with a record in their address this file cannot fill).
    With pdfs=True, the PDF documents instead of the pages."""
    paths, unknown = [], []
    for name, pattern in sorted(page_paths().items()):
        if name in NOT_PAGES or name in BUTTONS or (name.startswith("api:") and name != "api:openapi-view"):
            continue
        if pattern.endswith(".pdf") != pdfs or pattern.endswith((".csv", ".ics", ".json", ".js")):
            continue
        if "<" not in pattern:
            paths.append(reverse(name))
        elif name in RECORDS:
            paths += [reverse(name, kwargs=kwargs) for kwargs in RECORDS[name](school)]
        else:
            unknown.append(name)
    return paths, unknown
