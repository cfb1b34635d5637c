"""The only module that creates `VisitEvent` rows, and the checks every one of them passes:
who may record on this visit, and when.

The log is append-only (the model refuses updates and deletes): a correction is a new event.
Recording what happens on a visit (the order of events, the watch, the alerts, the audit
trail, all in one transaction) is safety.recording; an alert resolved because the office
reached the staff records its check-in here too (safety.alerting.resolve).
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.utils import timezone

from core import bulk, rows
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
    event = VisitEvent(
        visit=visit, school_id=visit.school_id, type=type, at=at, recorded_at=now, staff=staff,
        recorded_by=by, via=via, concerns=(concerns or "").strip(), note=(note or "").strip(),
        expected_return=expected_return, location=(location or "").strip()[:200], reason=reason,
    )
    bulk.insert_one(event)  # one a check-in: its INSERT made once, not built each time
    return event


def check_recorder(visit: Visit, by: StaffMember | None, via: str, staff: StaffMember | None) -> list[int]:
    """Who may record: the staff on the visit from their phone, or the office and leaders from
    a call. Returns the ids of the staff on the visit, the lead first: the order the rule engine
    names them in (journey.staff_keys), so a check-in reads its team once."""
    if via not in Via.values:
        raise ValidationError({"via": f"Say how this was recorded: one of {', '.join(Via.values)}."})
    if by is None or not by.active or by.school_id != visit.school_id:
        raise NotAllowed("Only this school's active staff can record what happens on its visits.")
    on_visit = [staff_id for (staff_id,) in _TEAM.rows([visit.pk])]
    if via in journey.FROM_THE_STAFF:
        if by.pk not in on_visit or not can(by, "checkin.record", visit):
            raise NotAllowed("Only the staff on this visit can record its events from their phone; "
                             "the office records a call as an office call.")
    elif not can(by, "checkin.record_call", visit):
        raise NotAllowed("Only the office, the headteacher, the deputy or the DSL can record a call from the staff.")
    if staff is not None and staff.pk not in on_visit:
        raise ValidationError({"staff": f"{staff.full_name} is not on this visit."})
    return on_visit


# Read with every check-in: SQL made once (core.rows), as building it through the ORM cost more
# than running it.
_TEAM = rows.Query(lambda c: (
    f"SELECT {rows.column(VisitStaff, 'staff', c)} FROM {rows.table(VisitStaff, c)}"
    f" WHERE {rows.column(VisitStaff, 'visit', c)} = %s"
    f" ORDER BY {rows.column(VisitStaff, 'lead', c)} DESC, {rows.column(VisitStaff, 'id', c)}"
))


def check_time(at: datetime.datetime | None, now: datetime.datetime) -> datetime.datetime:
    """When it happened: now, or earlier, never later (a minute's grace for the phone's clock)."""
    if at is None:
        return now
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    if at > now + datetime.timedelta(minutes=1):
        raise ValidationError({"at": "An event cannot be recorded in the future."})
    return at


def refuse_second_home(visit: Visit, staff: Sequence[StaffMember] | None, by: StaffMember,
                       now: datetime.datetime) -> None:
    """Nobody is at two homes at once: arriving at this visit is refused (NotAllowed, naming the
    other visit by its time, never by the pupil: a text's answer carries it) while someone it is
    about (`staff`, or everyone on the visit) is still recorded as at the door or in the home of
    another visit under way: arrived there, and neither left the home nor back safe. Inside the
    transaction, with this visit locked: their own rows are locked too, so one person's two
    arrivals at two visits at the same moment cannot both pass (PostgreSQL; SQLite's IMMEDIATE
    transaction already lets one writer in at a time)."""
    ids = [s.pk for s in staff] if staff is not None else list(
        VisitStaff.objects.filter(visit=visit).values_list("staff_id", flat=True))
    # NO KEY UPDATE: it queues a second arrival by the same people, and nothing else.
    list(StaffMember.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))
    rows = VisitEvent.objects.filter(
        visit__state=Visit.State.UNDER_WAY, visit__assignments__staff_id__in=ids,
        type__in=[VisitEvent.Type.ARRIVED, VisitEvent.Type.ENTERED, VisitEvent.Type.LEFT_HOME,
                  VisitEvent.Type.BACK_SAFE],
    ).exclude(visit=visit).values_list("visit_id", "visit__assignments__staff_id", "type", "staff_id", "at")
    arrived: dict[tuple[int, int], datetime.datetime] = {}
    entered: set[int] = set()
    left: set[tuple[int, int]] = set()
    for visit_id, person, kind, about, at in rows:
        if kind == VisitEvent.Type.ARRIVED:  # the party arrives together, whoever pressed it
            arrived[(visit_id, person)] = at
        elif kind == VisitEvent.Type.ENTERED:
            entered.add(visit_id)
        elif about in (None, person):
            left.add((visit_id, person))
    still = sorted((key for key in arrived if key not in left), key=lambda key: arrived[key])
    if not still:
        return
    visit_id, person = still[0]
    other = Visit.objects.only("starts_at").get(pk=visit_id)
    starts = timezone.localtime(other.starts_at)
    when = (f"{starts:%H:%M} today" if starts.date() == timezone.localdate(now)
            else f"{starts:%A} {starts.day} {starts:%B %Y}, {starts:%H:%M}")
    where = "in the home" if visit_id in entered else "at the door"
    if person == by.pk:
        who, whose = "You are", "your"
    else:
        name = StaffMember.objects.only("full_name").get(pk=person).full_name
        who, whose = f"{name} is", "their"
    raise NotAllowed(f"{who} still recorded as {where} on {whose} visit starting {when}. "
                     "Record leaving that home first, then record arriving here.")
