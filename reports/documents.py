"""The after-visit documents, as PDF (core.pdf.render_pdf): the visit report, the "we
called and missed you" card, the reminder letter, the written reason a visit was abandoned
or cancelled, and the pupil's chronology."""
from __future__ import annotations

from django.utils import timezone

from core.pdf import render_pdf
from people.models import StaffMember
from people.permissions import can
from policies.services import recorded_policy
from policy_engine import cite
from safety.checkins.models import VisitEvent

from . import chronology


def visit_report_pdf(report) -> bytes:
    original = report.original
    policy = recorded_policy(report.visit)
    return render_pdf("reports/pdf/visit_report.html", {
        "school": report.school, "report": report, "pupil": report.pupil, "visit": report.visit,
        "original": original if report.corrects_id else None,
        "corrections": list(original.corrections.order_by("completed_at")) if not report.corrects_id else [],
        "clause": policy.after.report.clause if policy is not None else "default",
    })


def not_seen_card_pdf(visit) -> bytes:
    """The card left at the home when nobody answered (C Appendix 3, Pr 4.3). It carries no
    pupil name and no address: it goes through a letterbox or is left at a door, where anyone
    may read it. The reference lets the office find the visit when the family calls."""
    local = timezone.localtime(visit.starts_at)
    policy = recorded_policy(visit)
    return render_pdf("reports/pdf/not_seen_card.html", {
        "school": visit.school, "visit": visit, "date": local.date(), "time": local.time(),
        "reference": f"V{visit.pk:05d}", "clause": policy.doorstep.not_seen_card.clause if policy is not None else "default",
    })


def letter_pdf(letter) -> bytes:
    return render_pdf("reports/pdf/reminder_letter.html", {
        "school": letter.school, "letter": letter, "pupil": letter.pupil,
        "date": timezone.localdate(letter.sent_at or letter.prepared_at),
        "paragraphs": [p for p in letter.body.split("\n\n") if p.strip()],
        "headteacher": _headteacher(letter.school),
    })


def _headteacher(school):
    return StaffMember.objects.filter(school=school, active=True, roles__role="headteacher").first()


def abandonment_record(visit):
    """The event recorded when the visit was abandoned or closed as not seen (None if it was
    neither: a cancelled visit has no such event)."""
    return (VisitEvent.objects.filter(visit=visit, type__in=["abandoned", "not_seen"])
            .select_related("recorded_by").order_by("-at").first())


def closure_reason_pdf(visit) -> bytes:
    """The written reason a visit did not go ahead, for the headteacher: C 3.8 (felt unsafe),
    C 3.9 (animals), P §3¶7, Pr 4.5 and 4.7, W 3.5."""
    policy = recorded_policy(visit)
    event = abandonment_record(visit)
    reason_code = getattr(event, "reason", "") or ""
    clause = "default"
    if policy is not None:
        clause = (policy.doorstep.animals_written_reason if reason_code == "animals" else policy.doorstep.unsafe_report).clause
    return render_pdf("reports/pdf/closure_reason.html", {
        "school": visit.school, "visit": visit, "event": event,
        "reason_label": event.get_reason_display() if event is not None and reason_code else "",
        "clause": cite(clause),
        "assignments": list(visit.assignments.select_related("staff")),
        "local_start": timezone.localtime(visit.starts_at),
    })


def chronology_pdf(pupil, viewer) -> bytes:
    items = chronology.entries(pupil, viewer)
    return render_pdf("reports/pdf/chronology.html", {
        "school": pupil.school, "pupil": pupil, "entries": items, "viewer": viewer,
        "includes_concerns": any(e.restricted for e in items) or _may_see_concerns(viewer, pupil),
        "printed_at": timezone.localtime(),
    })


def _may_see_concerns(viewer, pupil):
    return can(viewer, "concern.view", pupil)
