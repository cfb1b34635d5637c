"""The safety core's JSON API (docs/safety-core.md, "The JSON API"): recording what happens on a visit under way, the
office board, and answering alerts. Thin: every change is a call into safety.recording or
safety.alerting, which check roles and the policy and write the audit trail.

Registered on the main API by api/urls.py. Errors have the shared shape of api/api.py.
The answer to a recorded event is exactly what the member of staff's phone shows: it is the
same for the safe PIN and the duress PIN, so nothing on the phone gives a silent alarm away.
"""
from __future__ import annotations

import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from people.models import StaffMember
from people.permissions import can
from safety import alerting, journey, recording
from safety import board as board_data
from safety.alerts.models import Alert
from safety.police_card import police_card as read_police_card
from visits.models import Visit

from .api import ErrorOut, _memberships, _school_ids, _staff_at

router = Router(tags=["safety"])

EVENT_TYPES = sorted(journey.TIMING_TYPES)


class EventIn(Schema):
    type: Literal["left_school", "arrived", "parent_not_home", "parent_late_notice", "entered", "check_in",
                  "left_home", "back_safe", "code_word", "panic", "not_seen", "abandoned"] = Field(
        ..., description="The event; `not_seen` closes the visit as not seen after the policy's wait, "
                         "`abandoned` needs `reason` and `note`")
    via: Literal["phone", "office_call"] = "phone"
    staff_id: int | None = Field(None, description="Who it is about (pair visits); by default the caller on "
                                                    "their phone, everyone for an office call")
    pin: str | None = Field(None, description="The member of staff's PIN, where the phone asks for one")
    concerns: str = ""
    note: str = ""
    reason: Literal["felt_unsafe", "animals", "no_adult", "other"] | None = None
    expected_return: datetime.datetime | None = None
    location: str = ""
    at: datetime.datetime | None = Field(None, description="When it happened, if earlier than now")


class NextOut(Schema):
    kind: str
    due_at: str | None


class RecordedOut(Schema):
    event: dict[str, Any]
    visit: dict[str, Any]
    next: NextOut | None
    message: str
    card: bool


class ResolveIn(Schema):
    reason: Literal["false_alarm", "staff_safe", "police_called", "other"]
    note: str = ""


class AlertOut(Schema):
    id: int
    visit_id: int
    kind: str
    state: str
    raised_at: datetime.datetime
    step: int
    steps: int
    step_due_at: datetime.datetime | None
    owner: str | None
    acknowledged_at: datetime.datetime | None
    contact_at: datetime.datetime | None
    resolved_by: str | None
    resolved_at: datetime.datetime | None
    resolution: str
    note: str


def _aware(value):
    if value is None:
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _visit(request, pk) -> tuple[Visit, StaffMember]:
    visit = Visit.objects.filter(pk=pk, school__in=_school_ids(request)).select_related("school").first()
    if visit is None:
        raise Http404
    return visit, _staff_at(request, visit.school_id)


def _alert(request, pk, action) -> tuple[Alert, StaffMember]:
    alert = Alert.objects.filter(pk=pk, school__in=_school_ids(request)).select_related("visit").first()
    if alert is None:
        raise Http404
    staff = _staff_at(request, alert.school_id)
    if not can(staff, action, alert):
        # Staff of the school who are not the office or leaders: as if it did not exist.
        raise Http404
    return alert, staff


def _alert_out(alert):
    return {
        "id": alert.pk, "visit_id": alert.visit_id, "kind": alert.kind, "state": alert.state,
        "raised_at": alert.raised_at, "step": alert.step, "steps": len(alert.ladder),
        "step_due_at": alert.step_due_at, "owner": alert.owner.full_name if alert.owner_id else None,
        "acknowledged_at": alert.acknowledged_at, "contact_at": alert.contact_at,
        "resolved_by": alert.resolved_by.full_name if alert.resolved_by_id else None,
        "resolved_at": alert.resolved_at, "resolution": alert.resolution, "note": alert.note,
    }


RESPONSES = {200: RecordedOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut}


@router.post("/visits/{int:visit_id}/events", response=RESPONSES, summary="Record an event of a visit under way")
def record_event(request, visit_id: int, payload: EventIn):
    """From the member of staff's phone (`via: "phone"`) or by the office from a call
    (`via: "office_call"`). The first `left_school` or `arrived` starts the visit; everyone
    back safe closes it. 403 for someone who may not record it or an event out of order; 400
    for bad input or a wrong PIN. The answer is what the phone shows."""
    members = _memberships(request)
    if len(members) == 1 and payload.type not in ("not_seen", "abandoned"):
        # A phone's token (or a person at one school): the visit is read once, locked, by
        # recording.record_event, at the one school the caller may see (another's is a 404).
        me = members[0]
        visit = Visit(pk=visit_id, school_id=me.school_id)
    else:
        visit, me = _visit(request, visit_id)
    staff = None
    if payload.staff_id is not None:
        staff = StaffMember.objects.filter(pk=payload.staff_id, school=visit.school_id).first()
        if staff is None:
            raise ValidationError({"staff_id": "No such member of staff on this visit."})
    if payload.type == "not_seen":
        result = recording.close_not_seen(visit, by=me, via=payload.via, note=payload.note, at=_aware(payload.at),
                                         request=request)
    elif payload.type == "abandoned":
        result = recording.abandon(visit, payload.reason or "", by=me, via=payload.via, note=payload.note,
                                  at=_aware(payload.at), request=request)
    else:
        try:
            result = recording.record_event(
                visit, payload.type, by=me, staff=staff, via=payload.via, pin=payload.pin, concerns=payload.concerns,
                note=payload.note, expected_return=_aware(payload.expected_return), location=payload.location,
                at=_aware(payload.at), request=request,
            )
        except Visit.DoesNotExist:
            raise Http404 from None
    return Status(200, result.to_phone())


@router.get("/board", response={200: dict[str, Any], 403: ErrorOut}, summary="The office board: visits under way")
def board(request):
    """Every visit under way at your schools, most urgent first (alarm, overdue, due soon,
    fine), with open alerts and whether the watchdog's heartbeat is stale. For the office,
    the headteacher, the deputy and the DSL."""
    schools = _school_ids(request, "board.view")
    if not schools and _memberships(request):
        raise PermissionDenied("Only the office, the headteacher, the deputy or the DSL can see the office board.")
    return board_data.board(schools)


@router.get("/alerts/{int:alert_id}", response={200: AlertOut, 404: ErrorOut}, summary="One alert")
def alert_detail(request, alert_id: int):
    alert, _ = _alert(request, alert_id, "board.view")
    return _alert_out(alert)


@router.post("/alerts/{int:alert_id}/acknowledge", response={200: AlertOut, 403: ErrorOut, 404: ErrorOut},
             summary="Take ownership of an alert: its pending steps are cancelled")
def acknowledge(request, alert_id: int):
    alert, me = _alert(request, alert_id, "alert.acknowledge")
    return _alert_out(alerting.acknowledge(alert, by=me, request=request))


@router.post("/alerts/{int:alert_id}/resolve", response={200: AlertOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
             summary="Close an alert with a reason")
def resolve(request, alert_id: int, payload: ResolveIn):
    """`reason`: false_alarm, staff_safe, police_called or other (then `note` is required)."""
    alert, me = _alert(request, alert_id, "alert.resolve")
    return _alert_out(alerting.resolve(alert, by=me, reason=payload.reason, note=payload.note, request=request))


@router.get("/alerts/{int:alert_id}/police-card", response={200: dict[str, Any], 404: ErrorOut},
            summary="What the police will ask: staff, mobiles, address, vehicles, household risks, last check-in")
def police_card(request, alert_id: int):
    """Reading it is written to the audit trail."""
    alert, me = _alert(request, alert_id, "alert.police_card")
    return read_police_card(alert, by=me, request=request)

