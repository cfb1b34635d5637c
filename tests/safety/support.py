"""Helpers the safety tests share: a fixed day in term, its times, a scheduled visit and PINs."""
import datetime

from people.services import set_pins
from safety.checkins.models import Watch
from visits.models import Visit

from tests.factories import VisitFactory, at

DAY = datetime.date(2026, 11, 24)  # a Tuesday in term


def local(hour, minute=0, second=0):
    return at(DAY, hour, minute) + datetime.timedelta(seconds=second)


def scheduled_visit(school, staff, start=(10, 0), minutes=45, **kwargs):
    starts = local(*start)
    return VisitFactory(school=school.school, pupil=school.pupil, staff=staff, state=Visit.State.SCHEDULED,
                        starts_at=starts, ends_at=starts + datetime.timedelta(minutes=minutes),
                        proposed_by=staff[0], **kwargs)


def with_pins(staff, safe="1234", duress="9876"):
    return set_pins(staff, safe_pin=safe, duress_pin=duress, by=staff)


def watch_of(visit):
    return Watch.objects.get(visit=visit)
