"""Sign-in (docs/security.md, "Sign-in"): Argon2 passwords, lock-out after repeated failures, sessions that
expire, sign-out on a password change, and the audit entries each leaves."""
import datetime
import importlib
import re
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry

from tests.factories import PASSWORD, Staffed, StaffFactory, _hashed_password

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"


@pytest.fixture
def real_session_limits(settings):
    """The limits as shipped (conftest stretches them for the clock-moving tests)."""
    shipped = importlib.import_module("doorstep.settings")
    settings.DOORSTEP_IDLE_TIMEOUT = shipped.DOORSTEP_IDLE_TIMEOUT
    settings.DOORSTEP_VISIT_IDLE_TIMEOUT = shipped.DOORSTEP_VISIT_IDLE_TIMEOUT
    settings.DOORSTEP_SESSION_MAX_AGE = shipped.DOORSTEP_SESSION_MAX_AGE
    return settings


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """A fast hasher for this module's many sign-ins (Argon2 is slow on purpose); the tests of
    hashing itself put the shipped hashers back."""
    # The factories share one hash made on first use; make it with the shipped hasher, which
    # every other test checks it with, before this module switches to a fast one.
    _hashed_password()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


@pytest.fixture
def shipped_hashers(settings):
    settings.PASSWORD_HASHERS = importlib.import_module("doorstep.settings").PASSWORD_HASHERS
    return settings


def with_fast_passwords(staffed):
    get_user_model().objects.update(password=make_password(PASSWORD))
    return staffed


@pytest.fixture
def school():
    return with_fast_passwords(Staffed("coteford"))


def sign_in(client, username, password=PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


def actions():
    return list(AuditEntry.objects.order_by("id").values_list("action", flat=True))


# ----------------------------------------------------------------- passwords

def test_a_stored_password_is_an_argon2_hash_and_still_signs_in(shipped_hashers):
    user = get_user_model().objects.create_user("new.teacher", password="a fresh long password")
    assert user.password.startswith("argon2$argon2id$")
    assert "a fresh long password" not in user.password
    assert Client().login(username="new.teacher", password="a fresh long password")


def test_an_old_pbkdf2_hash_still_signs_in_and_is_upgraded_to_argon2(school, shipped_hashers):
    user = school.teacher.user
    # An old hash as Django once made them (few iterations, to keep the test quick).
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "oldsalt", iterations=1000)
    user.save()
    assert sign_in(Client(), user.username).status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$")


# ----------------------------------------------------------------- lock-out

def test_five_wrong_passwords_lock_the_name_for_thirty_minutes_even_with_the_right_one(school):
    client = Client()
    name = school.teacher.user.username
    for _ in range(4):
        response = sign_in(client, name, WRONG)
        assert response.status_code == 200 and "didn't match" in response.content.decode()
    locked = sign_in(client, name, WRONG)
    assert locked.status_code == 429
    assert "Sign-in locked for 30 minutes" in locked.content.decode()
    again = sign_in(client, name)  # the right password, during the lock-out
    assert again.status_code == 429 and "_auth_user_id" not in client.session
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=31)):
        assert sign_in(client, name).status_code == 302


def test_the_lock_out_page_is_the_same_whether_or_not_the_name_exists(school):
    pages = {}
    for name in (school.teacher.user.username, "nobody.at.all"):
        client = Client()
        for _ in range(5):
            response = sign_in(client, name, WRONG)
        pages[name] = response
    real, unknown = pages.values()
    assert real.status_code == unknown.status_code == 429
    strip = lambda r, n: r.content.decode().replace(n, "NAME")  # noqa: E731
    body_real = strip(real, school.teacher.user.username)
    body_unknown = strip(unknown, "nobody.at.all")
    # Only the CSRF tokens (64 characters, in the form and the page's htmx headers) differ.
    token = re.compile(r"\b[A-Za-z0-9]{64}\b")
    assert token.sub("", body_real) == token.sub("", body_unknown)


def test_the_lock_out_is_per_name_and_address_so_another_computer_can_still_sign_in(school):
    name = school.teacher.user.username
    for _ in range(5):
        sign_in(Client(REMOTE_ADDR="10.0.0.1"), name, WRONG)
    assert sign_in(Client(REMOTE_ADDR="10.0.0.1"), name).status_code == 429
    assert sign_in(Client(REMOTE_ADDR="10.0.0.2"), name).status_code == 302


def test_failures_and_the_lock_out_are_in_the_school_audit_trail(school):
    name = school.teacher.user.username
    for _ in range(5):
        sign_in(Client(), name, WRONG)
    entries = AuditEntry.objects.filter(action__startswith="signin.")
    assert sorted(e.action for e in entries) == ["signin.failed"] * 5 + ["signin.locked_out"]
    assert all(e.school == school.school and e.actor is None for e in entries)
    assert entries.get(action="signin.locked_out").data["username"] == name
    assert entries.filter(ip_address="127.0.0.1").count() == 6


def test_the_unlock_command_lifts_the_lock_out_and_says_so_in_the_audit_trail(school):
    name = school.teacher.user.username
    for _ in range(5):
        sign_in(Client(), name, WRONG)
    out = StringIO()
    call_command("unlock", name, stdout=out)
    assert f"Unlocked “{name}”" in out.getvalue()
    assert sign_in(Client(), name).status_code == 302
    assert AuditEntry.objects.filter(action="signin.unlocked", school=school.school).exists()


def test_a_successful_sign_in_is_audited_and_clears_earlier_failures(school):
    name = school.teacher.user.username
    for _ in range(4):
        sign_in(Client(), name, WRONG)
    assert sign_in(Client(), name).status_code == 302
    assert AuditEntry.objects.filter(action="signin", actor=school.teacher.user).count() == 1
    for _ in range(4):  # a fresh count: four more failures do not lock
        sign_in(Client(), name, WRONG)
    assert sign_in(Client(), name).status_code == 302


def test_the_admin_sign_in_page_sends_people_to_doorsteps_own(school):
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/admin/"


# ----------------------------------------------------------------- sessions

def test_the_shipped_limits_are_thirty_minutes_idle_and_ten_hours_in_all(real_session_limits):
    assert real_session_limits.DOORSTEP_IDLE_TIMEOUT == 30 * 60
    assert real_session_limits.DOORSTEP_SESSION_MAX_AGE == 10 * 60 * 60
    assert real_session_limits.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_thirty_minutes_without_a_request_signs_you_out(school, real_session_limits):
    client = Client()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert sign_in(client, school.teacher.user.username).status_code == 302
        clock.shift(datetime.timedelta(minutes=29))
        assert client.get(reverse("visits:index")).status_code == 200
        clock.shift(datetime.timedelta(minutes=29))  # 58 minutes since sign-in, 29 idle: still in
        assert client.get(reverse("visits:index")).status_code == 200
        clock.shift(datetime.timedelta(minutes=31))
        response = client.get(reverse("visits:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    assert "expired=1" in response["Location"]
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"])
    assert "You were signed out because Doorstep had not been used for a while" in page.content.decode()


def test_the_api_answers_401_once_the_session_has_been_idle_too_long(school, real_session_limits):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in(client, school.teacher.user.username)
        assert client.get("/api/visits").status_code == 200
        clock.shift(datetime.timedelta(minutes=31))
        assert client.get("/api/visits").status_code == 401


def test_a_busy_session_still_ends_ten_hours_after_signing_in(school, real_session_limits):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in(client, school.teacher.user.username)
        for _ in range(23):  # a request every 25 minutes, 9 h 35 min in all
            clock.shift(datetime.timedelta(minutes=25))
            assert client.get(reverse("visits:index")).status_code == 200
        clock.shift(datetime.timedelta(minutes=26))
        assert client.get(reverse("visits:index")).status_code == 302


def test_a_visit_under_way_keeps_the_phone_pages_open_longer_but_not_the_rest(school, real_session_limits):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in(client, school.teacher.user.username)
        assert client.get(reverse("checkins:today")).status_code == 200
        clock.shift(datetime.timedelta(minutes=90))  # an hour and a half at the door
        assert client.get(reverse("checkins:today")).status_code == 200
        # ...but the phone pages do not keep the rest of Doorstep open.
        assert client.get(reverse("visits:index")).status_code == 302


def test_changing_the_password_signs_out_every_other_session(school):
    name = school.teacher.user.username
    phone, desk = Client(), Client()
    sign_in(phone, name)
    sign_in(desk, name)
    response = desk.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": "a brand new passphrase 42", "new_password2": "a brand new passphrase 42",
    })
    assert response.status_code == 302
    assert desk.get(reverse("visits:index")).status_code == 200  # the session that changed it stays
    assert phone.get(reverse("visits:index")).status_code == 302  # the other one is signed out
    assert AuditEntry.objects.filter(action="signin.password_changed", actor=school.teacher.user).exists()


def test_a_person_with_two_schools_signs_in_once_and_the_entry_goes_to_their_first_school(school):
    other = with_fast_passwords(Staffed("potton", name="Potton Test School"))
    StaffFactory(school=other.school, user=school.teacher.user, roles=["teacher"])
    sign_in(Client(), school.teacher.user.username)
    assert AuditEntry.objects.get(action="signin").school == school.school


def test_a_flood_of_sign_in_attempts_cannot_fill_the_audit_trail(school):
    locked_name = school.teacher.user.username
    for _ in range(60):  # five failures lock the name; the other 55 hammer the lock
        sign_in(Client(), locked_name, WRONG)
    for n in range(200):  # then made-up names, from the same address, within a minute
        sign_in(Client(), f"guess{n}", WRONG)
    assert AuditEntry.objects.filter(action="signin.locked_out").count() == 1
    written = AuditEntry.objects.filter(action="signin.failed").count()
    assert written <= 21  # at most 20 a minute from one address, plus one saying the rest were not
    assert AuditEntry.objects.filter(action="signin.failures_not_written").count() == 1
    # The lock-out itself still counts every attempt: the name stays locked.
    assert sign_in(Client(), locked_name).status_code == 429
    # A minute on, failures from that address are written again.
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=2)):
        sign_in(Client(), "one.more.guess", WRONG)
        assert AuditEntry.objects.filter(action="signin.failed", data__username="one.more.guess").exists()
