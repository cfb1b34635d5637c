"""Two-factor sign-in (docs/security.md, "Two-factor sign-in"): headteachers, DSLs, office staff and administrators give
a code from an authenticator app (TOTP) after their password; others may choose to. Every
test here signs in through the real form, never force_login (which conftest finishes as if
the code had been given)."""
import base64
import re
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry

from tests.browser_support import confirmed_totp, current_code
from tests.factories import PASSWORD, Staffed, TrustFactory, UserFactory, _hashed_password
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The factories share one hash made on first use; make it with the shipped hasher, which
    # every other test checks it with, before this module switches to a fast one.
    _hashed_password()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def school():
    staffed = Staffed("coteford")
    get_user_model().objects.update(password=make_password(PASSWORD))
    return staffed


def superuser():
    return UserFactory(username="root", is_superuser=True, is_staff=True, password=make_password(PASSWORD))


def trust_admin(school):
    admin = UserFactory(username="trust.admin", is_staff=True, password=make_password(PASSWORD))
    trust = TrustFactory()
    school.school.trust = trust
    school.school.save()
    trust.admins.add(admin)
    return admin


def people_who_must(school):
    return {"headteacher": school.head.user, "deputy headteacher": school.deputy.user, "dsl": school.dsl.user,
            "office": school.office.user, "superuser": superuser(), "trust admin": trust_admin(school)}


def password_step(client, user, next_url=None):
    data = {"username": user.username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("login"), data)


def every_page():
    """One path for every page Doorstep serves, ids filled in with 1 (the check comes before
    the page looks anything up). The API, static files and the sign-in pages are not pages."""
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    paths = set()
    for route in walk(get_resolver().url_patterns):
        if route.startswith(("api/", "static/")) or re.search(r"[\\(\[|?*+]", route.replace("^", "").replace("$", "")):
            continue
        path = "/" + re.sub(r"<(int):\w+>", "1", re.sub(r"<(?:str|slug|path|uuid):(\w+)>|<(\w+)>", "x", route))
        path = path.replace("^", "").replace("$", "")
        if not path.startswith(("/accounts/login/", "/accounts/logout/", "/accounts/two-factor/")):
            paths.add(path)
    return sorted(paths)


# ----------------------------------------------------------------- who is asked

def test_the_page_list_covers_the_pages_people_use():
    pages = every_page()
    assert len(pages) > 40
    for expected in ["/", "/visits/", "/visits/1/", "/board/", "/pupils/1/", "/today/", "/admin/",
                     "/accounts/tokens/", "/staff/"]:
        assert expected in pages


@pytest.mark.parametrize("who", ["headteacher", "deputy headteacher", "dsl", "office", "superuser", "trust admin"])
def test_without_the_code_every_page_sends_them_on_and_the_api_answers_401(school, who):
    user = people_who_must(school)[who]
    client = Client()
    response = password_step(client, user)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/enrol/")
    for path in every_page():
        page = client.get(path)
        assert page.status_code == 302, path
        assert page["Location"].startswith("/accounts/two-factor/enrol/?next="), path
    for method, path in [("get", "/api/visits"), ("get", "/api/board"), ("get", "/api/pupils"),
                         ("post", "/api/visits"), ("post", "/api/visits/1/events")]:
        answer = getattr(client, method)(path, content_type="application/json", data={} if method == "post" else None)
        assert answer.status_code == 401, (method, path, answer.content)


def test_once_they_have_a_device_the_same_pages_send_them_to_the_code_page(school):
    confirmed_totp(school.head.user)
    client = Client()
    response = password_step(client, school.head.user, next_url="/visits/")
    assert response["Location"] == "/accounts/two-factor/?next=%2Fvisits%2F"
    assert client.get("/board/")["Location"] == "/accounts/two-factor/?next=%2Fboard%2F"


@pytest.mark.parametrize("role", ["teacher", "officer", "family", "sbm"])
def test_other_roles_are_not_asked_for_a_code(school, role):
    client = Client()
    response = password_step(client, getattr(school, role).user)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/api/visits").status_code == 200


def test_every_role_that_reads_concerns_the_audit_trail_or_the_police_card_must_give_a_code():
    from accounts.second_factor import ROLES_NEEDING_2FA
    from people.permissions import ROLE_MATRIX

    for action in ("concern.view", "audit.view", "records.subject_access", "alert.police_card"):
        assert ROLE_MATRIX[action] <= ROLES_NEEDING_2FA, action
    assert "deputy_headteacher" in ROLES_NEEDING_2FA  # reads concerns
    assert not {"teacher", "attendance_officer", "family_support", "business_manager"} & ROLES_NEEDING_2FA


def test_a_teacher_who_turned_it_on_is_asked_too(school):
    confirmed_totp(school.teacher.user)
    client = Client()
    assert password_step(client, school.teacher.user)["Location"].startswith("/accounts/two-factor/")
    assert client.get("/visits/").status_code == 302


# ----------------------------------------------------------------- enrolling

def test_enrolling_shows_a_qr_code_drawn_on_the_page_and_the_key_in_text(school):
    client = Client()
    password_step(client, school.head.user)
    page = client.get("/accounts/two-factor/enrol/?next=/")
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=school.head.user, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    assert page.status_code == 200
    assert "<svg" in html and secret in html
    assert not re.search(r'(src|href)="https?://', html)  # nothing fetched from elsewhere
    client.get("/accounts/two-factor/enrol/")  # asking again keeps the same key
    assert TOTPDevice.objects.filter(user=school.head.user).count() == 1


def test_confirming_with_a_code_shows_ten_backup_codes_once_and_finishes_signing_in(school):
    client = Client()
    password_step(client, school.head.user)
    client.get("/accounts/two-factor/enrol/")
    device = TOTPDevice.objects.get(user=school.head.user)
    response = client.post("/accounts/two-factor/enrol/", {"code": current_code(device), "next": "/visits/"})
    html = response.content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]{8})</code></li>", html)
    assert response.status_code == 200 and len(codes) == 10
    assert sorted(codes) == sorted(StaticToken.objects.filter(device__user=school.head.user).values_list("token", flat=True))
    assert 'href="/visits/"' in html
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/visits/").status_code == 200
    assert client.get("/api/visits").status_code == 200
    again = client.get("/accounts/two-factor/enrol/")  # the codes are not shown a second time
    assert again.status_code == 302 and not re.search(r"<code>[a-z0-9]{8}</code>", client.get("/").content.decode())
    entry = AuditEntry.objects.get(action="signin.2fa_enrolled")
    assert entry.actor == school.head.user and entry.school == school.school


def test_a_wrong_code_does_not_confirm_the_device(school):
    client = Client()
    password_step(client, school.head.user)
    client.get("/accounts/two-factor/enrol/")
    response = client.post("/accounts/two-factor/enrol/", {"code": "000000"})
    assert "That code did not match" in response.content.decode()
    assert not TOTPDevice.objects.get(user=school.head.user).confirmed
    assert client.get("/").status_code == 302


# ----------------------------------------------------------------- the code each time

def test_the_right_code_opens_the_pages_and_the_api_and_is_audited(school):
    device = confirmed_totp(school.office.user)
    client = Client()
    password_step(client, school.office.user, next_url="/board/")
    response = client.post("/accounts/two-factor/", {"code": current_code(device), "next": "/board/"})
    assert response.status_code == 302 and response["Location"] == "/board/"
    assert client.get("/board/").status_code == 200
    assert client.get("/api/board").status_code == 200
    assert list(AuditEntry.objects.filter(actor=school.office.user).order_by("id").values_list("action", flat=True)) == [
        "signin", "signin.2fa"]


def test_a_code_once_used_cannot_be_used_again(school):
    device = confirmed_totp(school.dsl.user)
    code = current_code(device)
    first, second = Client(), Client()
    password_step(first, school.dsl.user)
    assert first.post("/accounts/two-factor/", {"code": code})["Location"] == "/"
    password_step(second, school.dsl.user)
    refused = second.post("/accounts/two-factor/", {"code": code})
    assert refused.status_code == 200 and "did not match" in refused.content.decode()


def test_wrong_codes_make_the_next_try_wait_and_five_in_a_row_sign_you_out(school):
    device = confirmed_totp(school.head.user)
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        password_step(client, school.head.user)
        assert "did not match" in client.post("/accounts/two-factor/", {"code": "000000"}).content.decode()
        # Straight away, even the right code is refused: django-otp makes the device wait.
        waiting = client.post("/accounts/two-factor/", {"code": current_code(device)})
        assert "Too many wrong codes: wait" in waiting.content.decode()
        clock.shift(5)
        for _ in range(2):  # the wait counted as the second
            client.post("/accounts/two-factor/", {"code": "000000"})
        assert "_auth_user_id" in client.session
        out = client.post("/accounts/two-factor/", {"code": "000000"})  # the fifth in a row
    assert out.status_code == 302 and out["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="signin.code_failed", actor=school.head.user).count() == 5


def test_a_backup_code_signs_in_once_and_says_so_in_the_audit_trail(school):
    client = Client()
    password_step(client, school.head.user)
    client.get("/accounts/two-factor/enrol/")
    device = TOTPDevice.objects.get(user=school.head.user)
    codes = re.findall(r"<code>([a-z0-9]{8})</code>",
                       client.post("/accounts/two-factor/enrol/", {"code": current_code(device)}).content.decode())
    other = Client()
    password_step(other, school.head.user)
    assert other.post("/accounts/two-factor/", {"code": codes[0].upper()})["Location"] == "/"  # case does not matter
    assert other.get("/visits/").status_code == 200
    entry = AuditEntry.objects.get(action="signin.backup_code_used")
    assert entry.actor == school.head.user and entry.data == {"left": 9}
    third = Client()
    password_step(third, school.head.user)
    assert "did not match" in third.post("/accounts/two-factor/", {"code": codes[0]}).content.decode()
    assert StaticDevice.objects.get(user=school.head.user).token_set.count() == 9


def test_the_code_page_cannot_be_skipped_by_going_to_the_api_docs_or_the_admin(school):
    client = Client()
    password_step(client, superuser())
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/auth/user/").status_code == 302
    assert client.get("/api/visits/1").status_code == 401


def test_a_totp_code_is_computed_the_way_authenticator_apps_do(school):
    """The key on the enrol page, read as base32 and run through RFC 6238, gives the code
    the device accepts: what a phone app does."""
    client = Client()
    password_step(client, school.head.user)
    html = client.get("/accounts/two-factor/enrol/").content.decode()
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', html).group(1)
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    response = client.post("/accounts/two-factor/enrol/", {"code": f"{totp.token():06d}"})
    assert response.status_code == 200 and "Your backup codes" in response.content.decode()


# ----------------------------------------------------------------- in Chromium, on a phone

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_in_chromium_a_headteacher_enrols_a_phone_then_signs_in_with_its_code(browser, live_server, school):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_context(viewport={"width": 375, "height": 812}, locale="en-GB").new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    head = school.head.user

    def password():
        page.goto(live_server.url + reverse("login"))
        page.get_by_label("Username").fill(head.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

    password()
    page.wait_for_url(re.compile(r"/accounts/two-factor/enrol/"))
    expect(page.locator(".qr svg")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "phone-2fa-enrol.png"), full_page=True)
    # What a person's app does: read the key (or the QR code) and compute the code.
    secret = page.locator("#totp-secret").inner_text().strip()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.get_by_label("Code from your app").fill(f"{TOTP(key, step=30, t0=0, digits=6).token():06d}")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Your backup codes").wait_for()
    codes = page.locator("#backup-codes code").all_inner_texts()
    assert len(codes) == 10
    page.screenshot(path=str(ARTIFACTS / "phone-2fa-backup-codes.png"), full_page=True)
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(live_server.url + "/")

    # Next time: password, then the code page.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    password()
    page.wait_for_url(re.compile(r"/accounts/two-factor/\?"))
    page.screenshot(path=str(ARTIFACTS / "phone-2fa-code.png"), full_page=True)
    page.get_by_label("Code").fill(current_code(TOTPDevice.objects.get(user=head)))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(live_server.url + "/")
    assert "Hana Head" in page.inner_text("header")

    # And once with a backup code, as if the phone were flat.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    password()
    page.wait_for_url(re.compile(r"/accounts/two-factor/\?"))
    page.get_by_label("Code").fill(codes[3])
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(live_server.url + "/")
    assert AuditEntry.objects.filter(action="signin.backup_code_used", actor=head).count() == 1
    assert not problems, problems
