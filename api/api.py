"""Doorstep's JSON API (django-ninja), served under /api/ with its OpenAPI document at
/api/openapi.json and interactive docs at /api/docs.

Thin, like the pages: every change is a call into visits.services, which checks roles and
the school's policy and writes the audit trail. Authentication is an API token
(`Authorization: Bearer dst_…`, scoped, made on /accounts/tokens/) or the Django session (sign
in at /accounts/login/, with the second factor where the role needs one); with the session,
unsafe methods need the CSRF token in the X-CSRFToken header.
`POST /api/policy/evaluate` needs no sign-in: it reads no school data.

Errors share one shape, `{"detail": "..."}`, plus:
  400  `field` (the request field at fault) and `errors` ({field: [messages]})
  403  the reason, in words (role, the policy's approvers, or the visit's state)
  404  "Not found." for anything outside the schools you belong to, whether it exists or not
  409  `findings`: the policy engine's findings when the policy refuses the change
"""
from __future__ import annotations

import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError

from accounts.api_auth import API_AUTH
from audit.actions import Action
from audit.services import record_read, record_read_today
from core.errors import NoPolicy
from people.models import StaffMember
from pupils.models import Contact, Pupil
from people.access import staff_records
from people.permissions import can
import policy_engine as engine
from visits import services
from visits.models import PURPOSES, Visit, VisitList

api = NinjaAPI(
    title="Doorstep API",
    version="1.0.0",
    description=__doc__,
    urls_namespace="api",
    auth=API_AUTH,  # a bearer token (scoped, accounts.api_auth) or the session, on every endpoint
)

# ============================================================================ schemas


class ErrorOut(Schema):
    detail: str
    field: str | None = None
    errors: dict[str, list[str]] | None = None


class FindingOut(Schema):
    rule: str
    severity: Literal["block", "warn"]
    clause: str
    message: str


class RefusedOut(Schema):
    detail: str
    findings: list[FindingOut]


class EvaluationOut(Schema):
    policy: str
    policy_version: str | int | None = None
    allowed: bool
    findings: list[FindingOut]


class VisitEvaluationOut(EvaluationOut):
    stage: str = Field(..., description='"approve" for a proposed visit, "schedule" otherwise')


class EvaluateIn(Schema):
    policy: str = Field(..., description="A preset: coteford, potton, priory, willows or st-hughs", examples=["potton"])
    plan: dict[str, Any] = Field(..., description="A visit plan in the format of docs/policy-format.md")
    stage: Literal["propose", "approve", "schedule"] = "schedule"


class PersonOut(Schema):
    id: int
    full_name: str
    roles: list[str]


class VisitStaffOut(PersonOut):
    lead: bool


class PupilRef(Schema):
    id: int
    full_name: str
    year_group: str
    class_name: str


class OverrideOut(Schema):
    rule: str
    reason: str
    by: str
    at: datetime.datetime


class VisitOut(Schema):
    id: int
    school_id: int
    pupil: PupilRef
    purpose: str
    reason: str
    state: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    emergency: bool
    staff: list[VisitStaffOut]
    responsible_contact: PersonOut | None
    proposed_by: str | None
    proposed_at: datetime.datetime
    approved_by: str | None
    approved_at: datetime.datetime | None
    policy_version: int | None = Field(None, description="The school's policy version the visit was approved under")
    appointment_agreed: bool
    written_confirmation: bool
    appointment_notes: str
    visit_list_id: int | None
    closed_reason: str


class VisitDetailOut(VisitOut):
    evaluation: VisitEvaluationOut | None = Field(None, description="What the policy says now (null if the school has no policy)")
    overrides: list[OverrideOut]


class ProposeIn(Schema):
    pupil_id: int
    purpose: str = Field(..., description="One of: " + ", ".join(PURPOSES))
    reason: str
    starts_at: datetime.datetime = Field(..., description="Without an offset it is read as UK local time")
    ends_at: datetime.datetime
    staff_ids: list[int] = Field(..., description="Everyone going; the first leads")
    emergency: bool = False
    responsible_contact_id: int | None = None


class ApproveIn(Schema):
    note: str = ""


class ReasonIn(Schema):
    reason: str


class OverrideIn(Schema):
    rule: str = Field(..., description='A rule id the policy lets a headteacher override, e.g. "hours.outside_school_hours"')
    reason: str


class ScheduleIn(Schema):
    appointment_agreed: bool
    written_confirmation: bool
    agreed_with_id: int | None = Field(None, description="The pupil's contact the appointment was agreed with")
    notes: str = ""


class VisitListOut(Schema):
    id: int
    school_id: int
    title: str
    created_by: str
    created_at: datetime.datetime
    signed_by: str | None
    signed_at: datetime.datetime | None
    visit_ids: list[int]


class VisitListIn(Schema):
    title: str
    visit_ids: list[int]


class AddVisitIn(Schema):
    visit_id: int


class ContactOut(Schema):
    id: int
    name: str
    relationship: str
    phone: str
    parental_responsibility: bool
    lives_with_pupil: bool


class PupilOut(Schema):
    id: int
    school_id: int
    upn: str
    first_name: str
    last_name: str
    full_name: str
    year_group: str
    class_name: str
    on_roll: bool


class PupilDetailOut(PupilOut):
    date_of_birth: datetime.date
    address: str
    access_notes: str
    send: bool
    medical: bool
    contacts: list[ContactOut]


class DbsOut(Schema):
    level: str
    barred_list_checked: bool
    issued_on: datetime.date


class VehicleOut(Schema):
    make: str
    model: str
    colour: str
    registration: str
    insurance_expires_on: datetime.date | None


class StaffOut(PersonOut):
    school_id: int
    job_title: str
    staff_register: dict[str, Any] | None = Field(
        None, description="mobile, trained_home_visitor, dbs, vehicle: only for roles that may see the staff register",
    )


# ============================================================================ errors

API_FIELDS = {  # service field -> request field
    "pupil": "pupil_id", "staff": "staff_ids", "responsible_contact": "responsible_contact_id",
    "agreed_with": "agreed_with_id", "visits": "visit_ids", "__all__": None,
}


def _bad_request(request, errors: dict[str, list[str]]):
    field = next(iter(errors), None)
    detail = " ".join(m for msgs in errors.values() for m in msgs) or "The request is not valid."
    return api.create_response(request, {"detail": detail, "field": field, "errors": errors}, status=400)


@api.exception_handler(DjangoValidationError)
def _django_validation_error(request, exc):
    errors: dict[str, list[str]]
    if hasattr(exc, "error_dict"):
        errors = {}
        for field, messages in exc.message_dict.items():
            errors.setdefault(API_FIELDS.get(field, field) or "__all__", []).extend(messages)
    else:
        errors = {"__all__": exc.messages}
    return _bad_request(request, errors)


@api.exception_handler(NinjaValidationError)
def _request_validation_error(request, exc):
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = [str(p) for p in error.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[2:] if len(loc) > 2 else loc[1:]  # drop "body" and the payload's name
        elif loc:
            loc = loc[1:] or loc
        errors.setdefault(".".join(loc) or "__all__", []).append(error.get("msg", "invalid"))
    return _bad_request(request, errors)


@api.exception_handler(services.Refused)
def _refused(request, exc):
    return api.create_response(
        request, {"detail": exc.message, "findings": [_finding(f) for f in exc.findings]}, status=409,
    )


@api.exception_handler(PermissionDenied)
def _not_allowed(request, exc):
    return api.create_response(request, {"detail": str(exc) or "You may not do this."}, status=403)


@api.exception_handler(Http404)
def _not_found(request, exc):
    # Never say whether the thing exists in another school.
    return api.create_response(request, {"detail": "Not found."}, status=404)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return api.create_response(request, {"detail": "Sign in first (POST /accounts/login/)."}, status=401)


def _finding(f):
    return {"rule": f.rule, "severity": f.severity, "clause": f.clause, "message": f.message}


# ============================================================================ who is asking


def _memberships(request) -> list[StaffMember]:
    cached = getattr(request, "_doorstep_staff", None)
    if cached is None:
        token = getattr(request, "api_token", None)
        # A token acts as one staff record at one school, never as the person's other schools.
        records = [token.staff] if token is not None else staff_records(request.user)
        cached = request._doorstep_staff = list(records)
    return cached


def _school_ids(request, action=None) -> list[int]:
    return [s.school_id for s in _memberships(request) if action is None or can(s, action)]


def _staff_at(request, school_id) -> StaffMember:
    for staff in _memberships(request):
        if staff.school_id == school_id:
            return staff
    raise Http404


def _require(staff, action, obj=None):
    services._require(staff, action, obj)


def _get_visit(request, pk) -> tuple[Visit, StaffMember]:
    visit = _visits().filter(school__in=_school_ids(request), pk=pk).first()
    if visit is None:
        raise Http404
    staff = _staff_at(request, visit.school_id)
    _require(staff, "visit.view", visit)
    return visit, staff


def _visits():
    return Visit.objects.select_related(
        "pupil", "proposed_by", "approved_by", "responsible_contact", "policy_version",
    ).prefetch_related("assignments__staff__roles", "responsible_contact__roles")


# ============================================================================ output


def _person(staff):
    if staff is None:
        return None
    return {"id": staff.pk, "full_name": staff.full_name, "roles": staff.role_names}


def _visit_out(visit):
    assignments = sorted(visit.assignments.all(), key=lambda a: (not a.lead, a.pk))
    return {
        "id": visit.pk,
        "school_id": visit.school_id,
        "pupil": {"id": visit.pupil.pk, "full_name": visit.pupil.full_name, "year_group": visit.pupil.year_group,
                  "class_name": visit.pupil.class_name},
        "purpose": visit.purpose,
        "reason": visit.reason,
        "state": visit.state,
        "starts_at": visit.starts_at,
        "ends_at": visit.ends_at,
        "emergency": visit.emergency,
        "staff": [{**_person(a.staff), "lead": a.lead} for a in assignments],
        "responsible_contact": _person(visit.responsible_contact),
        "proposed_by": visit.proposed_by.full_name if visit.proposed_by_id else None,
        "proposed_at": visit.proposed_at,
        "approved_by": visit.approved_by.full_name if visit.approved_by_id else None,
        "approved_at": visit.approved_at,
        "policy_version": visit.policy_version.version if visit.policy_version_id else None,
        "appointment_agreed": visit.appointment_agreed,
        "written_confirmation": visit.written_confirmation,
        "appointment_notes": visit.appointment_notes,
        "visit_list_id": visit.visit_list_id,
        "closed_reason": visit.closed_reason,
    }


def _visit_detail(visit):
    visit = _visits().get(pk=visit.pk)  # fresh, after any change
    stage = "approve" if visit.state == Visit.State.PROPOSED else "schedule"
    try:
        evaluation = services.evaluate_visit(visit, stage=stage)
    except NoPolicy:
        evaluation_out = None
    else:
        evaluation_out = {**evaluation.to_dict(), "stage": stage}
    return {
        **_visit_out(visit),
        "evaluation": evaluation_out,
        "overrides": [
            {"rule": o.rule, "reason": o.reason, "by": o.by.full_name, "at": o.at}
            for o in visit.overrides.select_related("by").order_by("at")
        ],
    }


def _list_out(visit_list):
    return {
        "id": visit_list.pk,
        "school_id": visit_list.school_id,
        "title": visit_list.title,
        "created_by": visit_list.created_by.full_name,
        "created_at": visit_list.created_at,
        "signed_by": visit_list.signed_by.full_name if visit_list.signed_by_id else None,
        "signed_at": visit_list.signed_at,
        "visit_ids": sorted(visit_list.visits.values_list("pk", flat=True)),
    }


def _pupil_out(pupil):
    return {
        "id": pupil.pk, "school_id": pupil.school_id, "upn": pupil.upn, "first_name": pupil.first_name,
        "last_name": pupil.last_name, "full_name": pupil.full_name, "year_group": pupil.year_group,
        "class_name": pupil.class_name, "on_roll": pupil.on_roll,
    }


# ============================================================================ policy

policy_router = Router(tags=["policy"])


@policy_router.post(
    "/evaluate", auth=None, response={200: EvaluationOut, 400: ErrorOut},
    summary="Evaluate a visit plan against a preset policy",
)
def evaluate_plan(request, payload: EvaluateIn):
    """Runs the rule engine on a plan, exactly as `doorstep policy evaluate` does. Needs no
    sign-in: it reads no school data. Body: `{"policy": "potton", "plan": {...}, "stage":
    "schedule"}`. 200 with the engine's result whether or not the plan is allowed; 400
    `{"detail", "field"}` for an unknown policy (field `policy`) or an invalid plan (field
    names the place in the plan, e.g. `staff[0].dbs.issued_on`)."""
    if payload.policy not in engine.PRESETS:
        return Status(400, {"detail": f"Unknown policy {payload.policy!r}: choose one of {', '.join(engine.PRESETS)}.",
                            "field": "policy"})
    policy = engine.Policy.preset(payload.policy)
    try:
        evaluation = engine.evaluate(policy, payload.plan, stage=payload.stage)
    except engine.PlanError as exc:
        return Status(400, {"detail": str(exc), "field": exc.field})
    return Status(200, evaluation.to_dict())


api.add_router("/policy", policy_router)

# ============================================================================ visits

visits_router = Router(tags=["visits"])


class VisitFilters(Schema):
    state: Visit.State | None = Field(None, description="Only visits in this state")
    school_id: int | None = None
    pupil_id: int | None = None


@visits_router.get("", response=list[VisitOut], summary="Visits at your schools")
def list_visits(request, filters: Query[VisitFilters]):
    visits = _visits().filter(school__in=_school_ids(request, "visit.view")).order_by("starts_at", "pk")
    if filters.state:
        visits = visits.filter(state=filters.state)
    if filters.school_id:
        visits = visits.filter(school=filters.school_id)
    if filters.pupil_id:
        visits = visits.filter(pupil=filters.pupil_id)
    return [_visit_out(v) for v in visits]


@visits_router.post("", response={201: VisitDetailOut, 400: ErrorOut, 403: ErrorOut},
                    summary="Propose a visit")
def propose_visit(request, payload: ProposeIn):
    pupil = Pupil.objects.filter(pk=payload.pupil_id, school__in=_school_ids(request)).first()
    if pupil is None:
        raise DjangoValidationError({"pupil": "No such pupil at your school."})
    actor = _staff_at(request, pupil.school_id)
    colleagues = {s.pk: s for s in StaffMember.objects.filter(school=pupil.school_id, pk__in=payload.staff_ids)}
    unknown = [i for i in payload.staff_ids if i not in colleagues]
    if unknown:
        raise DjangoValidationError({"staff": f"No such member of staff at this school: {', '.join(map(str, unknown))}."})
    contact = None
    if payload.responsible_contact_id is not None:
        contact = StaffMember.objects.filter(school=pupil.school_id, pk=payload.responsible_contact_id).first()
        if contact is None:
            raise DjangoValidationError({"responsible_contact": "No such member of staff at this school."})
    visit = services.propose(
        actor, pupil=pupil, purpose=payload.purpose, reason=payload.reason,
        starts_at=_aware(payload.starts_at), ends_at=_aware(payload.ends_at),
        staff=[colleagues[i] for i in payload.staff_ids], emergency=payload.emergency,
        responsible_contact=contact, request=request,
    )
    return Status(201, _visit_detail(visit))


def _aware(value):
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@visits_router.get("/{int:visit_id}", response=VisitDetailOut, summary="One visit, with what the policy says now")
def visit_detail(request, visit_id: int):
    visit, _ = _get_visit(request, visit_id)
    return _visit_detail(visit)


ACTION_RESPONSES = {200: VisitDetailOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: RefusedOut}


@visits_router.post("/{int:visit_id}/approve", response=ACTION_RESPONSES, summary="Approve a proposed visit")
def approve_visit(request, visit_id: int, payload: ApproveIn):
    visit, me = _get_visit(request, visit_id)
    services.approve(me, visit, note=payload.note, request=request)
    return Status(200, _visit_detail(visit))


@visits_router.post("/{int:visit_id}/decline", response=ACTION_RESPONSES, summary="Decline a proposed visit")
def decline_visit(request, visit_id: int, payload: ReasonIn):
    visit, me = _get_visit(request, visit_id)
    services.decline(me, visit, reason=payload.reason, request=request)
    return Status(200, _visit_detail(visit))


@visits_router.post("/{int:visit_id}/schedule", response=ACTION_RESPONSES,
                    summary="Record the appointment and schedule an approved visit")
def schedule_visit(request, visit_id: int, payload: ScheduleIn):
    visit, me = _get_visit(request, visit_id)
    agreed_with = None
    if payload.agreed_with_id is not None:
        agreed_with = Contact.objects.filter(pk=payload.agreed_with_id, pupil=visit.pupil_id).first()
        if agreed_with is None:
            raise DjangoValidationError({"agreed_with": "Choose one of this pupil's parents, carers or contacts."})
    services.schedule(
        me, visit, appointment_agreed=payload.appointment_agreed, written_confirmation=payload.written_confirmation,
        agreed_with=agreed_with, notes=payload.notes, request=request,
    )
    return Status(200, _visit_detail(visit))


@visits_router.post("/{int:visit_id}/withdraw", response=ACTION_RESPONSES,
                    summary="Withdraw a visit (a scheduled visit is cancelled)")
def withdraw_visit(request, visit_id: int, payload: ReasonIn):
    visit, me = _get_visit(request, visit_id)
    services.withdraw(me, visit, reason=payload.reason, request=request)
    return Status(200, _visit_detail(visit))


@visits_router.post("/{int:visit_id}/cancel", response=ACTION_RESPONSES, summary="Cancel an approved or scheduled visit")
def cancel_visit(request, visit_id: int, payload: ReasonIn):
    visit, me = _get_visit(request, visit_id)
    services.cancel(me, visit, reason=payload.reason, request=request)
    return Status(200, _visit_detail(visit))


@visits_router.post("/{int:visit_id}/authorise-lone-visit", response=ACTION_RESPONSES,
                    summary="Headteacher: authorise one member of staff to go alone, with a reason")
def authorise_lone_visit(request, visit_id: int, payload: ReasonIn):
    visit, me = _get_visit(request, visit_id)
    services.authorise_lone_visit(me, visit, reason=payload.reason, request=request)
    return Status(200, _visit_detail(visit))


@visits_router.post("/{int:visit_id}/overrides", response=ACTION_RESPONSES,
                    summary="Headteacher: override a rule the policy lets you override, with a reason")
def override_rule(request, visit_id: int, payload: OverrideIn):
    visit, me = _get_visit(request, visit_id)
    services.override(me, visit, rule=payload.rule, reason=payload.reason, request=request)
    return Status(200, _visit_detail(visit))


api.add_router("/visits", visits_router)

# ============================================================================ visit lists

lists_router = Router(tags=["visit lists"])


def _get_list(request, pk) -> tuple[VisitList, StaffMember]:
    visit_list = VisitList.objects.select_related("created_by", "signed_by").filter(
        pk=pk, school__in=_school_ids(request)).first()
    if visit_list is None:
        raise Http404
    staff = _staff_at(request, visit_list.school_id)
    _require(staff, "visit.view", visit_list)
    return visit_list, staff


@lists_router.get("", response=list[VisitListOut], summary="Visit lists at your schools")
def list_visit_lists(request):
    lists = VisitList.objects.filter(school__in=_school_ids(request, "visit.view")).select_related("created_by", "signed_by")
    return [_list_out(v) for v in lists]


@lists_router.get("/{int:list_id}", response=VisitListOut)
def visit_list_detail(request, list_id: int):
    return _list_out(_get_list(request, list_id)[0])


@lists_router.post("", response={201: VisitListOut, 400: ErrorOut, 403: ErrorOut},
                   summary="Compile a visit list for the headteacher to sign")
def create_visit_list(request, payload: VisitListIn):
    visits = list(Visit.objects.filter(pk__in=payload.visit_ids, school__in=_school_ids(request)))
    found = {v.pk for v in visits}
    unknown = [i for i in payload.visit_ids if i not in found]
    if unknown:
        raise DjangoValidationError({"visits": f"No such visit at your school: {', '.join(map(str, unknown))}."})
    schools = {v.school_id for v in visits} or set(_school_ids(request)[:1])
    if len(schools) != 1:
        raise DjangoValidationError({"visits": "A visit list holds one school's visits."})
    actor = _staff_at(request, schools.pop())
    visit_list = services.create_visit_list(actor, title=payload.title, visits=visits, request=request)
    return Status(201, _list_out(visit_list))


@lists_router.post("/{int:list_id}/visits", response={200: VisitListOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
                   summary="Add a visit to a list that is not yet signed")
def add_to_visit_list(request, list_id: int, payload: AddVisitIn):
    visit_list, me = _get_list(request, list_id)
    visit = Visit.objects.filter(pk=payload.visit_id, school=visit_list.school_id).first()
    if visit is None:
        raise DjangoValidationError({"visits": "No such visit at your school."})
    services.add_to_visit_list(me, visit_list, visit, request=request)
    return Status(200, _list_out(visit_list))


@lists_router.post("/{int:list_id}/sign", response={200: VisitListOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
                   summary="Headteacher: sign the visit list")
def sign_visit_list(request, list_id: int):
    visit_list, me = _get_list(request, list_id)
    services.sign_visit_list(me, visit_list, request=request)
    visit_list.refresh_from_db()
    return Status(200, _list_out(visit_list))


api.add_router("/visit-lists", lists_router)

# ============================================================================ pupils and staff

people_router = Router(tags=["pupils and staff"])


@people_router.get("/pupils", response=list[PupilOut], summary="Pupils at your schools")
def list_pupils(request, school_id: int | None = None, on_roll: bool | None = True):
    allowed = _school_ids(request, "pupil.view")
    if not allowed and _memberships(request):
        raise PermissionDenied("Your role does not include seeing pupils' records.")
    pupils = Pupil.objects.filter(school__in=allowed)
    if school_id:
        pupils = pupils.filter(school=school_id)
    if on_roll is not None:
        pupils = pupils.filter(on_roll=on_roll)
    return [_pupil_out(p) for p in pupils]


@people_router.get("/pupils/{int:pupil_id}", response=PupilDetailOut, summary="One pupil, with contacts")
def pupil_detail(request, pupil_id: int):
    pupil = Pupil.objects.filter(pk=pupil_id, school__in=_school_ids(request)).prefetch_related("contacts").first()
    if pupil is None:
        raise Http404
    me = _staff_at(request, pupil.school_id)
    _require(me, "pupil.view", pupil)
    record_read(request, pupil, "pupil details (API)", action=Action.PUPIL_VIEWED, actor=me)
    return {
        **_pupil_out(pupil),
        "date_of_birth": pupil.date_of_birth, "address": pupil.address, "access_notes": pupil.access_notes,
        "send": pupil.send, "medical": pupil.medical,
        "contacts": [
            {"id": c.pk, "name": c.name, "relationship": c.relationship, "phone": c.phone,
             "parental_responsibility": c.parental_responsibility, "lives_with_pupil": c.lives_with_pupil}
            for c in pupil.contacts.all()
        ],
    }


@people_router.get("/staff", response=list[StaffOut], summary="Staff at your schools")
def list_staff(request, school_id: int | None = None):
    """Everyone at your school sees names and roles (to choose who goes on a visit); the staff
    register (mobile, DBS, vehicle, training) is shown only to the roles that keep it."""
    register_schools = set(_school_ids(request, "staff.view_register"))
    for keeper in (s for s in _memberships(request) if s.school_id in register_schools):
        # Mobiles, vehicles and checks of a whole staff: who fetched them is on the trail, daily.
        record_read_today(request, keeper.school, "the staff register (API)", action=Action.STAFF_REGISTER_VIEWED,
                          actor=keeper)
    staff = (StaffMember.objects.filter(school__in=_school_ids(request, "visit.view"), active=True)
             .prefetch_related("roles", "dbs_checks", "vehicles"))
    if school_id:
        staff = staff.filter(school=school_id)
    out = []
    for member in staff:
        row = {**_person(member), "school_id": member.school_id, "job_title": member.job_title, "staff_register": None}
        if member.school_id in register_schools:
            dbs, vehicle = member.current_dbs(), member.current_vehicle()
            row["staff_register"] = {
                "mobile": member.mobile,
                "trained_home_visitor": member.trained_home_visitor,
                "dbs": None if dbs is None else {"level": dbs.level, "barred_list_checked": dbs.barred_list_checked,
                                                 "issued_on": dbs.issued_on.isoformat()},
                "vehicle": None if vehicle is None else {
                    "make": vehicle.make, "model": vehicle.model, "colour": vehicle.colour,
                    "registration": vehicle.registration,
                    "insurance_expires_on": vehicle.insurance_expires_on.isoformat() if vehicle.insurance_expires_on else None,
                },
            }
        out.append(row)
    return out


api.add_router("", people_router)
