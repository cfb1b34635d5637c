"""The JSON API: the same operations as the pages, scoped to the caller's schools."""
import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from visits import services
from visits.models import Visit

from tests.factories import next_school_day

pytestmark = pytest.mark.django_db


def client_for(staff, csrf=False):
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(staff.user)
    return client


def post(client, url, data=None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


def lone_plan(**changes):
    plan = {
        "purpose": "attendance", "starts_at": "2026-11-30T10:00", "ends_at": "2026-11-30T10:45",
        "staff": [{"name": "Sam Ali", "roles": ["attendance_officer"],
                   "dbs": {"level": "enhanced", "barred_list_checked": True, "issued_on": "2025-09-01"},
                   "trained_home_visitor": True, "mobile": "07700 900123"}],
        "approvals": [{"role": "headteacher", "on": "2026-11-20"}],
        "visit_list_signed_by_headteacher": True,
        "risk_assessment": {"home_visit_done_on": "2026-11-20", "lone_working_done_on": None, "new_risk_since": False},
        "appointment": {"agreed_with_parent": True, "written_confirmation": True},
        "emergency": False, "lone_visit_authorised_by_headteacher": False, "responsible_contact": None,
        "household": {"dangerous_animals": False},
    }
    plan.update(changes)
    return plan


# ----------------------------------------------------------------------------- the document and the engine

def test_the_openapi_document_is_at_api_openapi_json():
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Doorstep API"
    for path in ("/api/policy/evaluate", "/api/visits", "/api/visits/{visit_id}/approve", "/api/visit-lists/{list_id}/sign",
                 "/api/pupils", "/api/staff"):
        assert path in document["paths"]


def test_anyone_can_evaluate_a_plan_against_a_preset_without_signing_in():
    response = post(Client(enforce_csrf_checks=True), "/api/policy/evaluate", {"policy": "coteford", "plan": lone_plan()})
    assert response.status_code == 200
    body = response.json()
    assert body["policy"] == "coteford" and body["allowed"] is False
    assert {"rule": "staffing.minimum", "clause": "C 2.10"}.items() <= next(
        f for f in body["findings"] if f["rule"] == "staffing.minimum").items()


def test_potton_allows_the_authorised_lone_visit_with_a_lone_working_assessment_through_the_api():
    plan = lone_plan(lone_visit_authorised_by_headteacher=True,
                     risk_assessment={"home_visit_done_on": "2026-11-20", "lone_working_done_on": "2026-11-20",
                                      "new_risk_since": False})
    response = post(Client(), "/api/policy/evaluate", {"policy": "potton", "plan": plan})
    assert response.status_code == 200 and response.json()["allowed"] is True


def test_an_invalid_plan_is_a_400_naming_the_field():
    plan = lone_plan()
    plan["staff"][0]["dbs"]["issued_on"] = "last year"
    response = post(Client(), "/api/policy/evaluate", {"policy": "potton", "plan": plan})
    assert response.status_code == 400
    assert response.json()["field"] == "staff[0].dbs.issued_on"


def test_an_unknown_policy_is_a_400_naming_the_policy_field():
    response = post(Client(), "/api/policy/evaluate", {"policy": "../../etc/passwd", "plan": lone_plan()})
    assert response.status_code == 400 and response.json()["field"] == "policy"


# ----------------------------------------------------------------------------- signing in

def test_school_data_needs_a_signed_in_user():
    for url in ("/api/visits", "/api/pupils", "/api/staff", "/api/visit-lists"):
        assert Client().get(url).status_code == 401


def test_changes_need_the_csrf_token_with_a_session(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    client = client_for(coteford.head, csrf=True)
    assert post(client, f"/api/visits/{visit.pk}/approve").status_code == 403
    client.get("/api/visits")  # any page sets the CSRF cookie only when a template asks; fetch one explicitly
    from django.middleware.csrf import _get_new_csrf_string
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    response = client.post(f"/api/visits/{visit.pk}/approve", "{}", content_type="application/json",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content


# ----------------------------------------------------------------------------- visits

def test_a_visit_is_proposed_approved_and_scheduled_through_the_api(potton):
    day = next_school_day()
    officer, head = client_for(potton.officer), client_for(potton.head)
    response = post(officer, "/api/visits", {
        "pupil_id": potton.pupil.pk, "purpose": "attendance", "reason": "Attendance is 68%.",
        "starts_at": f"{day}T10:00", "ends_at": f"{day}T10:45", "staff_ids": [potton.officer.pk, potton.teacher.pk],
    })
    assert response.status_code == 201, response.content
    visit = response.json()
    assert visit["state"] == "proposed" and [s["id"] for s in visit["staff"]] == [potton.officer.pk, potton.teacher.pk]
    assert visit["staff"][0]["lead"] is True
    assert visit["evaluation"]["stage"] == "approve" and visit["evaluation"]["allowed"] is True
    # Naive times are read as UK local time: 10:00 is 10:00Z in winter and 09:00Z in summer time.
    starts = datetime.datetime.fromisoformat(visit["starts_at"].replace("Z", "+00:00"))
    assert timezone.localtime(starts).replace(tzinfo=None) == datetime.datetime.combine(day, datetime.time(10))

    response = post(head, f"/api/visits/{visit['id']}/approve", {"note": "Fine."})
    assert response.status_code == 200 and response.json()["state"] == "approved"
    assert response.json()["approved_by"] == "Hana Head" and response.json()["policy_version"] == 1

    response = post(officer, f"/api/visits/{visit['id']}/schedule", {
        "appointment_agreed": True, "written_confirmation": True, "agreed_with_id": potton.contact.pk,
    })
    assert response.status_code == 200 and response.json()["state"] == "scheduled"
    assert AuditEntry.objects.filter(object_id=str(visit["id"]), action="visit.scheduled").get().ip_address == "127.0.0.1"

    listed = officer.get("/api/visits", {"state": "scheduled"}).json()
    assert [v["id"] for v in listed] == [visit["id"]]
    assert officer.get("/api/visits", {"state": "proposed"}).json() == []


def test_a_refusal_is_a_409_with_the_findings_and_their_clauses(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs(staff=[coteford.officer]))
    response = post(client_for(coteford.head), f"/api/visits/{visit.pk}/approve")
    assert response.status_code == 409
    body = response.json()
    assert "C 2.10" in body["detail"]
    assert {"rule": "staffing.minimum", "severity": "block", "clause": "C 2.10"}.items() <= body["findings"][0].items() \
        or any(f["clause"] == "C 2.10" and f["severity"] == "block" for f in body["findings"])


def test_office_staff_approving_get_a_403_saying_why(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    response = post(client_for(coteford.office), f"/api/visits/{visit.pk}/approve")
    assert response.status_code == 403 and "cannot approve" in response.json()["detail"]


def test_a_missing_reason_is_a_400_naming_the_field(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    client = client_for(coteford.head)
    response = post(client, f"/api/visits/{visit.pk}/decline", {"reason": " "})
    assert response.status_code == 400 and response.json()["field"] == "reason"
    response = post(client, f"/api/visits/{visit.pk}/decline", {})
    assert response.status_code == 400 and response.json()["field"] == "reason"


def test_a_proposal_ending_before_it_starts_is_a_400_naming_ends_at(coteford):
    day = next_school_day()
    response = post(client_for(coteford.officer), "/api/visits", {
        "pupil_id": coteford.pupil.pk, "purpose": "attendance", "reason": "r",
        "starts_at": f"{day}T11:00", "ends_at": f"{day}T10:00", "staff_ids": [coteford.officer.pk, coteford.teacher.pk],
    })
    assert response.status_code == 400 and response.json()["field"] == "ends_at"


def test_withdraw_cancel_and_the_lone_visit_authorisation_work_through_the_api(potton):
    lone = services.propose(potton.officer, **potton.visit_kwargs(staff=[potton.officer]))
    response = post(client_for(potton.head), f"/api/visits/{lone.pk}/authorise-lone-visit",
                    {"reason": "Ali knows the family."})
    assert response.status_code == 200
    assert response.json()["overrides"][0]["rule"] == "staffing.lone_visit"
    assert response.json()["evaluation"]["allowed"] is True
    response = post(client_for(potton.officer), f"/api/visits/{lone.pk}/withdraw", {"reason": "Not needed."})
    assert response.json()["state"] == "withdrawn" and response.json()["closed_reason"] == "Not needed."

    other = services.propose(potton.officer, **potton.visit_kwargs())
    services.approve(potton.head, other)
    response = post(client_for(potton.office), f"/api/visits/{other.pk}/cancel", {"reason": "Family away."})
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


# ----------------------------------------------------------------------------- nobody sees another school

def test_nobody_sees_another_schools_visits_or_pupils(coteford, potton):
    theirs = services.propose(potton.officer, **potton.visit_kwargs())
    client = client_for(coteford.head)
    assert client.get("/api/visits").json() == []
    for response in (
        client.get(f"/api/visits/{theirs.pk}"),
        post(client, f"/api/visits/{theirs.pk}/approve"),
        post(client, f"/api/visits/{theirs.pk}/cancel", {"reason": "x"}),
        client.get(f"/api/pupils/{potton.pupil.pk}"),
        client.get("/api/visits/999999"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    assert [p["id"] for p in client.get("/api/pupils").json()] == [coteford.pupil.pk]
    assert {s["school_id"] for s in client.get("/api/staff").json()} == {coteford.school.pk}
    theirs.refresh_from_db()
    assert theirs.state == Visit.State.PROPOSED


def test_proposing_a_visit_for_another_schools_pupil_is_refused_without_saying_whether_it_exists(coteford, potton):
    day = next_school_day()
    response = post(client_for(coteford.officer), "/api/visits", {
        "pupil_id": potton.pupil.pk, "purpose": "attendance", "reason": "r",
        "starts_at": f"{day}T10:00", "ends_at": f"{day}T10:45", "staff_ids": [coteford.officer.pk],
    })
    assert response.status_code == 400 and response.json()["field"] == "pupil_id"
    assert not Visit.objects.exists()


def test_a_pupils_detail_includes_contacts(coteford):
    body = client_for(coteford.officer).get(f"/api/pupils/{coteford.pupil.pk}").json()
    assert body["full_name"] == "Ava Brown" and body["contacts"][0]["id"] == coteford.contact.pk


def test_the_staff_register_details_are_shown_only_to_roles_that_keep_the_register(coteford):
    teacher_view = client_for(coteford.teacher).get("/api/staff").json()
    assert teacher_view and all(s["staff_register"] is None for s in teacher_view)
    office_view = {s["id"]: s for s in client_for(coteford.office).get("/api/staff").json()}
    officer = office_view[coteford.officer.pk]["staff_register"]
    assert officer["dbs"]["level"] == "enhanced" and officer["mobile"]


# ----------------------------------------------------------------------------- visit lists

def test_a_visit_list_is_compiled_signed_and_then_closed_through_the_api(coteford):
    first = services.propose(coteford.officer, **coteford.visit_kwargs())
    second = services.propose(coteford.officer, **coteford.visit_kwargs())
    response = post(client_for(coteford.office), "/api/visit-lists", {"title": "Week 1", "visit_ids": [first.pk]})
    assert response.status_code == 201
    list_id = response.json()["id"]
    assert post(client_for(coteford.deputy), f"/api/visit-lists/{list_id}/sign").status_code == 403
    response = post(client_for(coteford.head), f"/api/visit-lists/{list_id}/sign")
    assert response.status_code == 200 and response.json()["signed_by"] == "Hana Head"
    response = post(client_for(coteford.office), f"/api/visit-lists/{list_id}/visits", {"visit_id": second.pk})
    assert response.status_code == 400 and "signed by Hana Head" in response.json()["detail"]
    assert response.json()["field"] == "visit_list"
