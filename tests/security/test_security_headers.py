"""Secure defaults outside development (docs/security.md, "Cookies and headers"): cookies, HSTS, the Content-Security-
Policy and the other headers; and no page needs inline script or style, checked in the
templates and in Chromium (no CSP violation in the console)."""
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from safety import recording
from safety import watchdog as watchdog_loop
from visits.models import Visit

from tests import browser_support
from tests.factories import Staffed, VisitFactory, _hashed_password

ROOT = Path(__file__).resolve().parents[2]


def csp_directives(response):
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
def test_every_page_carries_the_security_headers():
    school = Staffed("coteford")
    client = Client()
    client.force_login(school.head.user)
    for path in ["/accounts/login/", "/", "/visits/", "/api/visits"]:
        response = (Client() if path == "/accounts/login/" else client).get(path)
        assert response.status_code == 200, path
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "camera=()" in response["Permissions-Policy"] and "microphone=()" in response["Permissions-Policy"]
        csp = csp_directives(response)
        assert csp["default-src"] == ["'self'"]
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]  # no 'unsafe-inline'
        assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
        assert csp["form-action"] == ["'self'"]


@pytest.mark.django_db
def test_the_session_and_csrf_cookies_are_httponly_and_same_site_lax(settings):
    _hashed_password()  # the factories' shared hash is made with the shipped hasher (others check it)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    school = Staffed("coteford")
    from django.contrib.auth.hashers import make_password

    from tests.factories import PASSWORD
    school.teacher.user.password = make_password(PASSWORD, hasher="md5")
    school.teacher.user.save()
    client = Client()
    page = client.get(reverse("login"))
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post(reverse("login"), {"username": school.teacher.user.username, "password": PASSWORD})
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert session["max-age"] == ""  # ends with the browser, and sooner on the server


@pytest.mark.django_db
def test_hsts_is_sent_over_https_when_it_is_on(settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = Client().get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def settings_under(tmp_path, **env):
    """The settings Doorstep would start with under this environment (a fresh interpreter)."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DOORSTEP_HTTPS", "ALLOWED_HOSTS"}}
    clean.update({"DOORSTEP_VAR_DIR": str(tmp_path), "SECRET_KEY": "x" * 50, **env})
    code = ("import json, doorstep.settings as s; print(json.dumps({k: getattr(s, k, None) for k in "
            "['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_PROXY_SSL_HEADER', "
            "'SESSION_COOKIE_HTTPONLY', 'X_FRAME_OPTIONS']}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_outside_development_cookies_are_secure_and_hsts_is_on(tmp_path):
    on_a_server = settings_under(tmp_path, ALLOWED_HOSTS="doorstep.example.org")
    assert on_a_server["SESSION_COOKIE_SECURE"] and on_a_server["CSRF_COOKIE_SECURE"]
    assert on_a_server["SECURE_HSTS_SECONDS"] == 31536000
    assert on_a_server["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert settings_under(tmp_path, DOORSTEP_HTTPS="1")["SESSION_COOKIE_SECURE"]


def test_make_run_on_plain_http_at_127_0_0_1_keeps_working(tmp_path):
    local = settings_under(tmp_path)  # ALLOWED_HOSTS defaults to 127.0.0.1: `make run`
    assert not local["SESSION_COOKIE_SECURE"] and not local["SECURE_HSTS_SECONDS"]
    assert local["SESSION_COOKIE_HTTPONLY"] and local["X_FRAME_OPTIONS"] == "DENY"
    assert not settings_under(tmp_path, ALLOWED_HOSTS="doorstep.example.org", DOORSTEP_HTTPS="0")["SESSION_COOKIE_SECURE"]


INLINE = [
    # A JSON data block (type="application/json") is read by a script, never run, so the CSP
    # has nothing to refuse in it.
    (re.compile(r"<script(?![^>]*\b(?:src=|type=[\"']application/json[\"']))[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style[\s>]", re.I), "a <style> element"),
    (re.compile(r"""\sstyle=["']""", re.I), "a style= attribute"),
    (re.compile(r"\son[a-z]+=[\"']", re.I), "an on…= event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: link"),
]


def test_no_template_served_as_a_page_needs_inline_script_or_style():
    """The Content-Security-Policy refuses inline code; a template that had some would break
    in the browser. PDF templates are exempt: WeasyPrint renders them, no browser does."""
    problems = []
    for template in ROOT.glob("*/templates/**/*.html"):
        if "/pdf/" in str(template) or ".venv" in str(template):
            continue
        # Template tags and comments are not HTML ({% include … with style="ok" %} is a variable).
        text = re.sub(r"{%.*?%}|{#.*?#}", lambda m: re.sub(r"[^\n]", " ", m.group()), template.read_text(), flags=re.S)
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text[: match.start()].count("\n") + 1
                problems.append(f"{template.relative_to(ROOT)}:{line}: {what}")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------- in Chromium

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_pages_work_in_chromium_without_a_single_csp_violation(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    starts = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(minutes=5)
    visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, school.teacher],
                         state=Visit.State.SCHEDULED, starts_at=starts, ends_at=starts + datetime.timedelta(minutes=45),
                         proposed_by=school.officer)
    recording.record_event(visit, "arrived", by=school.officer, location="Outside")
    watchdog_loop.beat("csp-test:1")
    problems = []

    def watch(page):
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    watch(page)
    browser_support.sign_in(page, live_server, school.head.user.username)
    for path in ["/", "/visits/", f"/visits/{visit.pk}/", f"/pupils/{school.pupil.pk}/", "/staff/",
                 "/board/", "/accounts/tokens/", "/policy/"]:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    page.goto(live_server.url + "/accounts/tokens/")
    page.get_by_label("Name").fill("Office wall screen")
    page.get_by_label("Read the office board of visits under way").check()
    page.get_by_role("button", name="Make token").click()
    page.locator("#new-token").wait_for()
    page.screenshot(path=str(ROOT / "test-artifacts" / "phone-api-tokens.png"), full_page=True)
    page.goto(live_server.url + "/board/")
    page.get_by_role("button", name="Sound is off: turn it on").click()  # board.js runs
    page.get_by_role("button", name="Sound is on").wait_for()
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    watch(phone)
    browser_support.sign_in(phone, live_server, school.officer.user.username)
    phone.goto(live_server.url + reverse("checkins:today"))
    phone.goto(live_server.url + reverse("checkins:visit", args=[visit.pk]))
    assert "Check in" in phone.inner_text("main")
    csp = [p for p in problems if "Content Security Policy" in p or "Refused to" in p]
    assert not csp, "\n".join(csp)
    # The watch itself works: an inline style slipped into a page is refused and reported.
    phone.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">probe</p>')")
    phone.wait_for_timeout(200)
    assert any("Content Security Policy" in p for p in problems)
