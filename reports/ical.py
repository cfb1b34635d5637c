"""A member of staff's scheduled visits as an iCalendar feed (RFC 5545).

Calendar apps copy events to phones, laptops and cloud services the school does not
control, so an event says only "Home visit (attendance)", the time, and a link into
Doorstep (which asks the person to sign in). No pupil name, no address, no notes."""
from __future__ import annotations

import datetime

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from visits.models import PURPOSE_CHOICES, Visit

if TYPE_CHECKING:
    from people.models import StaffMember

# Visits worth a place in someone's diary: agreed and not yet over.
FEED_STATES = (Visit.State.APPROVED, Visit.State.SCHEDULED, Visit.State.UNDER_WAY)
PURPOSES = dict(PURPOSE_CHOICES)
# Purposes named in the event title. The others (safeguarding, child protection, early help,
# suspected holiday...) would tell whoever sees the diary something about a family, so those
# events say only "Home visit".
NAMED_PURPOSES = {"attendance", "long_absence", "deliver_work", "collect_or_drop_off", "tuition", "meeting_at_home"}
HISTORY_DAYS = 14


def visits_for(staff: StaffMember) -> QuerySet[Visit]:
    since = timezone.now() - datetime.timedelta(days=HISTORY_DAYS)
    return (Visit.objects.filter(school=staff.school, assignments__staff=staff, state__in=FEED_STATES,
                                 ends_at__gte=since)
            .select_related("school").order_by("starts_at").distinct())


def summary(visit: Visit) -> str:
    if visit.purpose in NAMED_PURPOSES:
        return f"Home visit ({PURPOSES[visit.purpose].lower()})"
    return "Home visit"


def feed(staff: StaffMember, base_url: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Doorstep//Home visits//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Home visits, {staff.school.name}")
    now = timezone.now()
    for visit in visits_for(staff):
        event = Event()
        event.add("uid", f"visit-{visit.pk}@doorstep")
        event.add("dtstamp", now)
        event.add("dtstart", visit.starts_at)
        event.add("dtend", visit.ends_at)
        event.add("summary", summary(visit))
        link = base_url.rstrip("/") + reverse("visits:detail", args=[visit.pk])
        event.add("url", link)
        event.add("description", f"Open Doorstep for the briefing: {link}")
        event.add("status", "CONFIRMED" if visit.state != Visit.State.APPROVED else "TENTATIVE")
        cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical
