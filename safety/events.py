"""The only module that creates `VisitEvent` rows, and the checks every one of them passes:
who may record on this visit, and when.

The log is append-only (the model refuses updates and deletes): a correction is a new event.
Recording what happens on a visit (the order of events, the watch, the alerts, the audit
trail, all in one transaction) is safety.recording; an alert resolved because the office
reached the staff records its check-in here too (safety.alerting.resolve).
"""
from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from core.errors import NotAllowed
from people.models import StaffMember
from people.permissions import can
from safety import journey
from safety.checkins.models import VisitEvent
from visits.models import Visit, VisitStaff

Via = VisitEvent.Via


def create(visit: Visit, type: str, *, at: datetime.datetime, now: datetime.datetime, by: StaffMember,
           via: str = Via.PHONE, staff: StaffMember | None = None, concerns: str = "", note: str = "",
           expected_return: datetime.datetime | None = None, location: str = "", reason: str = "") -> VisitEvent:
    """Append one event, already checked, inside the caller's transaction."""
    return VisitEvent.objects.create(
        visit=visit, school_id=visit.school_id, type=type, at=at, recorded_at=now, staff=staff,
        recorded_by=by, via=via, concerns=(concerns or "").strip(), note=(note or "").strip(),
        expected_return=expected_return, location=(location or "").strip()[:200], reason=reason,
    )


def check_recorder(visit: Visit, by: StaffMember | None, via: str, staff: StaffMember | None) -> set[int]:
    """Who may record: the staff on the visit from their phone, or the office and leaders from
    a call. Returns the ids of the staff on the visit."""
    if via not in Via.values:
        raise ValidationError({"via": f"Say how this was recorded: one of {', '.join(Via.values)}."})
    if by is None or not by.active or by.school_id != visit.school_id:
        raise NotAllowed("Only this school's active staff can record what happens on its visits.")
    on_visit = set(VisitStaff.objects.filter(visit=visit).values_list("staff_id", flat=True))
    if via in journey.FROM_THE_STAFF:
        if by.pk not in on_visit or not can(by, "checkin.record", visit):
            raise NotAllowed("Only the staff on this visit can record its events from their phone; "
                             "the office records a call as an office call.")
    elif not can(by, "checkin.record_call", visit):
        raise NotAllowed("Only the office, the headteacher, the deputy or the DSL can record a call from the staff.")
    if staff is not None and staff.pk not in on_visit:
        raise ValidationError({"staff": f"{staff.full_name} is not on this visit."})
    return on_visit


def check_time(at: datetime.datetime | None, now: datetime.datetime) -> datetime.datetime:
    """When it happened: now, or earlier, never later (a minute's grace for the phone's clock)."""
    if at is None:
        return now
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    if at > now + datetime.timedelta(minutes=1):
        raise ValidationError({"at": "An event cannot be recorded in the future."})
    return at
