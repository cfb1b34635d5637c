"""Read-only queries for the "My visits today" phone pages. Nothing here changes state: the
pages record events only through safety.recording, and where each person is on the visit
comes from safety.journey.progress().

What the phone shows is built from the member of staff's own events and the watch's next
deadline, never from the watch's status, the visit's alerts or (for a visit that has ended)
the visit's state. A duress PIN raises a silent alarm that changes exactly those, so the
phone must not read them: a safe PIN and a duress PIN give the same page.
"""
from __future__ import annotations

import datetime

from django.db.models import Q
from django.utils import timezone

from people.permissions import can
from pupils.models import HouseholdNote
from risk.models import RiskAssessment
from visits.models import Visit, VisitStaff

from .models import VisitEvent, Watch

# States of a visit the phone lists: ready to go, going, or done today.
LISTED_STATES = [Visit.State.SCHEDULED, Visit.State.UNDER_WAY, Visit.State.COMPLETED,
                 Visit.State.NOT_SEEN, Visit.State.ABANDONED]


def day_bounds(now=None):
    today = timezone.localdate(now)
    start = timezone.make_aware(datetime.datetime.combine(today, datetime.time.min))
    return start, start + datetime.timedelta(days=1)


def my_visits_today(staff, now=None):
    """The visits this person is on that start today, plus any still under way from earlier."""
    start, end = day_bounds(now)
    return (Visit.objects.filter(assignments__staff=staff, school=staff.school_id)
            .filter(Q(starts_at__gte=start, starts_at__lt=end, state__in=LISTED_STATES) | Q(state=Visit.State.UNDER_WAY))
            .select_related("pupil", "school", "policy_version").prefetch_related("assignments__staff")
            .distinct().order_by("starts_at"))


def visit_for_phone(staff, pk, now=None):
    """The visit if this person may see its briefing now (on the visit, and it is today or it
    is still under way), else None: the page answers 404 either way, giving nothing away."""
    visit = my_visits_today(staff, now).filter(pk=pk).first()
    # The rule itself lives in people.permissions ("briefing.view": on the visit, and today
    # until its report is in, or under way).
    return visit if visit is not None and can(staff, "briefing.view", visit) else None


def finished_for_phone(staff, pk, now=None):
    """A visit of this person's today whose briefing has closed because its report is in: the
    phone sends them to its summary (the report) instead of a page that is not found."""
    visit = my_visits_today(staff, now).filter(pk=pk).first()
    if visit is None or can(staff, "briefing.view", visit) or not visit.reports.exists():
        return None
    return visit


def still_at_the_home(team, events, me) -> list:
    """The colleagues on the visit who have not recorded leaving the home (nor back safe), from
    the visit's events alone, as the phone must read them: after this person leaves a pair
    visit, the page says who is still there."""
    gone = {e.staff_id for e in events if e.type in (VisitEvent.Type.LEFT_HOME, VisitEvent.Type.BACK_SAFE)}
    everyone_gone = any(e.staff_id is None and e.type in (VisitEvent.Type.LEFT_HOME, VisitEvent.Type.BACK_SAFE)
                        for e in events)
    if everyone_gone:
        return []
    return [s for s in team if s.pk != me.pk and s.pk not in gone]


def next_due(visit):
    """(what, due_at) of the watch's next deadline: the same whatever PIN was used."""
    return next_due_of(Watch.objects.filter(visit=visit).only("what", "next_kind", "due_at").first())


def next_due_by_visit(visits) -> dict[int, dict | None]:
    """next_due for several visits, from one query."""
    watches = {w.visit_id: w for w in Watch.objects.filter(visit__in=visits).order_by("pk")
               .only("visit_id", "what", "next_kind", "due_at")}
    return {v.pk: next_due_of(watches.get(v.pk)) for v in visits}


def next_due_of(watch):
    if watch is None or watch.due_at is None:
        return None
    return {"what": watch.what or watch.next_kind.replace("_", " "), "due_at": watch.due_at, "kind": watch.next_kind}


def briefing(visit, staff) -> dict:
    """What to know before knocking: the risk assessment's findings and controls, household
    risks, the pupil's needs, and the itinerary (address, times, who else, the office number)."""
    pupil = visit.pupil
    assessment = (RiskAssessment.objects.filter(school=visit.school_id, kind=RiskAssessment.Kind.HOME_VISIT, pupil=pupil)
                  .prefetch_related("hazards").order_by("-reviewed_at").first())
    notes = list(HouseholdNote.objects.filter(pupil=pupil).order_by("-dangerous", "-recorded_at"))
    team = [a for a in VisitStaff.objects.filter(visit=visit).select_related("staff").order_by("-lead", "id")]
    return {
        "assessment": assessment,
        "hazards": sorted(assessment.hazards.all(), key=lambda h: -h.score) if assessment else [],
        "stale": assessment.is_stale if assessment else False,
        "risks": [n for n in notes if n.is_risk],
        "other_notes": [n for n in notes if not n.is_risk],
        "pupil": pupil,
        "contacts": list(pupil.contacts.all()),
        "others": [a.staff for a in team if a.staff_id != staff.pk],
        "team": [a.staff for a in team],
        "school_phone": visit.school.phone,
    }
