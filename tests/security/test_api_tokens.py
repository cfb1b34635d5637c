"""API tokens (docs/security.md, "API tokens"): scoped, revocable, stored hashed, with an expiry, belonging to one
member of staff at one school; accepted on every endpoint alongside the session."""
import datetime
import json
import re
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.api_auth import NO_SCOPE, scope_for
from accounts.models import ApiToken, hash_token
from accounts.services import issue_token
from audit.models import AuditEntry
from safety.checkins.models import VisitEvent
from visits.models import Visit

from tests.factories import StaffFactory, VisitFactory

pytestmark = pytest.mark.django_db


def token_for(staff, *scopes, days=30):
    return issue_token(staff, name="Test script", scopes=list(scopes or ["read"]), days=days)[1]


def bearer(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def api_get(path, raw):
    return Client().get(path, **bearer(raw))


def api_post(path, raw, data=None):
    # A fresh client that enforces CSRF: a token needs no CSRF token, and no cookie is sent.
    return Client(enforce_csrf_checks=True).post(path, json.dumps(data or {}), content_type="application/json",
                                                 **bearer(raw))


def visit_at(school, **kwargs):
    return VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, school.teacher],
                        proposed_by=school.officer, **kwargs)


# ----------------------------------------------------------------- made, shown once, kept hashed

def test_a_token_is_shown_once_and_the_database_keeps_only_its_prefix_and_hash(coteford):
    client = Client()
    client.force_login(coteford.teacher.user)
    page = client.post("/accounts/tokens/", {"name": "My phone script", "scopes": ["read", "events:write"], "days": 30})
    raw = re.search(r'id="new-token">(dst_[0-9a-f]{8}_[\w-]+)<', page.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert token.staff == coteford.teacher and token.scopes == ["events:write", "read"]
    assert token.token_hash == hash_token(raw) and raw.startswith(f"dst_{token.prefix}_")
    everything = StringIO()
    call_command("dumpdata", stdout=everything)  # every table Doorstep has
    assert raw not in everything.getvalue()
    assert raw.split("_", 2)[2] not in everything.getvalue()
    assert raw not in client.get("/accounts/tokens/").content.decode()  # never shown again
    assert api_get("/api/visits", raw).status_code == 200
    entry = AuditEntry.objects.get(action="apitoken.created")
    assert entry.actor == coteford.teacher.user and entry.school == coteford.school


def test_bad_answers_on_the_token_form_are_named_and_make_nothing(coteford):
    client = Client()
    client.force_login(coteford.teacher.user)
    page = client.post("/accounts/tokens/", {"name": "", "scopes": ["everything"], "days": 0})
    html = page.content.decode()
    assert page.status_code == 200 and "There is a problem" in html
    assert "Name" in html and "What it may do" in html and "Lasts (days)" in html
    assert not ApiToken.objects.exists()


# ----------------------------------------------------------------- refused tokens

def test_a_token_reads_its_own_school_and_the_visit_is_there(coteford):
    visit = visit_at(coteford)
    response = api_get("/api/visits", token_for(coteford.teacher, "read"))
    assert response.status_code == 200
    assert [v["id"] for v in response.json()] == [visit.pk]


def test_an_expired_token_is_401(coteford):
    raw = token_for(coteford.teacher, "read", days=1)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=1, minutes=1)):
        assert api_get("/api/visits", raw).status_code == 401


def test_a_revoked_token_is_401(coteford):
    raw = token_for(coteford.teacher, "read")
    client = Client()
    client.force_login(coteford.teacher.user)
    token = ApiToken.objects.get()
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 302
    assert api_get("/api/visits", raw).status_code == 401
    assert AuditEntry.objects.filter(action="apitoken.revoked", actor=coteford.teacher.user).count() == 1


@pytest.mark.parametrize("raw", ["dst_00000000_nothing", "not-even-a-token", "dst_", ""])
def test_an_unknown_or_garbled_token_is_401(coteford, raw):
    token_for(coteford.teacher, "read")
    assert api_get("/api/visits", raw).status_code == 401


def test_a_token_that_differs_in_one_character_is_401(coteford):
    raw = token_for(coteford.teacher, "read")
    forged = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert api_get("/api/visits", forged).status_code == 401


def test_a_bad_token_is_refused_even_beside_a_good_session(coteford):
    client = Client()
    client.force_login(coteford.teacher.user)
    assert client.get("/api/visits").status_code == 200
    assert client.get("/api/visits", **bearer("dst_00000000_nothing")).status_code == 401


def test_a_token_of_someone_who_left_the_staff_is_401(coteford):
    raw = token_for(coteford.teacher, "read")
    coteford.teacher.active = False
    coteford.teacher.save()
    assert api_get("/api/visits", raw).status_code == 401


def test_a_token_without_the_scope_an_endpoint_needs_is_403_naming_it(coteford):
    board_only = token_for(coteford.office, "board:read")
    assert api_get("/api/board", board_only).status_code == 200
    refused = api_get("/api/visits", board_only)
    assert refused.status_code == 403 and "(read)" in refused.json()["detail"]
    visit = visit_at(coteford, state=Visit.State.SCHEDULED)
    read_only = token_for(coteford.officer, "read")
    refused = api_post(f"/api/visits/{visit.pk}/events", read_only, {"type": "left_school"})
    assert refused.status_code == 403 and "events:write" in refused.json()["detail"]
    assert not VisitEvent.objects.exists()


def test_a_token_with_events_write_records_an_event_without_a_csrf_token(coteford):
    visit = visit_at(coteford, state=Visit.State.SCHEDULED, starts_at=timezone.now() + datetime.timedelta(minutes=5),
                     ends_at=timezone.now() + datetime.timedelta(minutes=50))
    response = api_post(f"/api/visits/{visit.pk}/events", token_for(coteford.officer, "events:write"),
                        {"type": "left_school", "location": "Car park"})
    assert response.status_code == 200, response.content
    assert VisitEvent.objects.get().staff == coteford.officer


# ----------------------------------------------------------------- one school only

def test_another_schools_token_cannot_touch_this_schools_records(coteford, potton):
    visit = visit_at(coteford, state=Visit.State.SCHEDULED)
    raw = token_for(potton.head, "read", "visits:write", "events:write")
    assert api_get(f"/api/visits/{visit.pk}", raw).status_code == 404
    assert api_get(f"/api/pupils/{coteford.pupil.pk}", raw).status_code == 404
    assert visit.pk not in [v["id"] for v in api_get("/api/visits", raw).json()]
    assert api_post(f"/api/visits/{visit.pk}/cancel", raw, {"reason": "Not ours to cancel"}).status_code == 404
    assert api_post(f"/api/visits/{visit.pk}/events", raw, {"type": "left_school"}).status_code == 404
    visit.refresh_from_db()
    assert visit.state == Visit.State.SCHEDULED and not VisitEvent.objects.exists()


def test_a_token_made_at_one_school_does_not_reach_the_persons_other_school(coteford, potton):
    # The teacher also works at Potton; a token made as their Coteford record stays at Coteford.
    StaffFactory(school=potton.school, user=coteford.teacher.user, roles=["teacher"])
    potton_visit = visit_at(potton)
    raw = token_for(coteford.teacher, "read")
    assert api_get(f"/api/visits/{potton_visit.pk}", raw).status_code == 404
    client = Client()
    client.force_login(coteford.teacher.user)  # signed in as the person, both schools show
    assert client.get(f"/api/visits/{potton_visit.pk}").status_code == 200


# ----------------------------------------------------------------- who may revoke

def test_a_teacher_cannot_revoke_a_colleagues_token_but_the_headteacher_can(coteford):
    token_for(coteford.officer, "read")
    token = ApiToken.objects.get()
    teacher = Client()
    teacher.force_login(coteford.teacher.user)
    assert "Test script" not in teacher.get("/accounts/tokens/").content.decode()
    assert teacher.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 403
    head = Client()
    head.force_login(coteford.head.user)
    assert "Test script" in head.get("/accounts/tokens/").content.decode()
    assert head.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_by == coteford.head.user


def test_another_schools_headteacher_cannot_see_or_revoke_the_token(coteford, potton):
    token_for(coteford.officer, "read")
    token = ApiToken.objects.get()
    head = Client()
    head.force_login(potton.head.user)
    assert "Test script" not in head.get("/accounts/tokens/").content.decode()
    assert head.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.is_live


# ----------------------------------------------------------------- every endpoint has a scope

def test_every_endpoint_that_needs_a_sign_in_names_the_scope_a_token_needs():
    document = Client().get("/api/openapi.json").json()
    for path, operations in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in operations.items():
            needs_auth = bool(operation.get("security"))
            scope = scope_for(method.upper(), concrete.removeprefix("/api/"))
            if needs_auth:
                assert scope != NO_SCOPE, f"{method.upper()} {path} has no scope in accounts.api_auth"
    assert scope_for("POST", "visits/7/events") == "events:write"
    assert scope_for("GET", "board") == "board:read"
    assert scope_for("POST", "visits/7/approve") == "visits:write"
    assert scope_for("DELETE", "visits/7") == NO_SCOPE  # a change nobody has decided about
    assert sum(bool(op.get("security")) for ops in document["paths"].values() for op in ops.values()) > 20


def test_the_openapi_document_offers_bearer_tokens():
    document = Client().get("/api/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


# ----------------------------------------------------------------- a new password ends the tokens

def test_changing_the_password_ends_every_token_of_that_sign_in_with_an_audit_entry(coteford):
    raw = token_for(coteford.teacher)
    assert api_get("/api/visits", raw).status_code == 200
    client = Client()
    client.force_login(coteford.teacher.user)
    coteford.teacher.user.set_password("old-password-for-test")
    coteford.teacher.user.save()  # (this first change ends `raw` too: checked below with a fresh token)
    raw = token_for(coteford.teacher)
    client.force_login(coteford.teacher.user)
    response = client.post("/accounts/password/", {"old_password": "old-password-for-test",
                                                   "new_password1": "a-brand-new-passphrase-9",
                                                   "new_password2": "a-brand-new-passphrase-9"})
    assert response.status_code == 302
    assert api_get("/api/visits", raw).status_code == 401
    assert {t.state for t in ApiToken.objects.filter(staff=coteford.teacher)} == {"revoked"}
    ended = AuditEntry.objects.filter(action="apitoken.revoked", summary__contains="the password was changed")
    assert ended.count() == 2 and {e.school_id for e in ended} == {coteford.school.pk}


def test_signing_in_does_not_end_tokens_even_when_the_stored_hash_is_upgraded(coteford, settings):
    user = coteford.teacher.user
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user.set_password("a-passphrase-to-upgrade")
    user.save()
    raw = token_for(coteford.teacher)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher",
                                 "django.contrib.auth.hashers.MD5PasswordHasher"]
    assert user.check_password("a-passphrase-to-upgrade")  # upgrades the stored hash and saves it
    user.refresh_from_db()
    assert user.password.startswith("argon2")
    assert api_get("/api/visits", raw).status_code == 200
