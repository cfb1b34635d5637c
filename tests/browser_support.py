"""Signing in through the real sign-in form in Chromium, second factor included.

Every browser test signs in with `sign_in(page, live_server, username)`: it types the
password and, when Doorstep asks for a code (headteachers, DSLs, office staff, admins;
accounts.second_factor), gives the device's current code, as the person's phone would. A
person who must use a code and has no device yet gets one made first (as if enrolled
earlier); test_two_factor's browser test enrols through the page instead."""
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import second_factor

from tests.pages_support import PASSWORD

SLOW = 90_000  # ms


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # screenshots to look at
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def shoot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def confirmed_totp(user):
    """The person's confirmed app device, made if they have none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test phone", confirmed=True)


def current_code(device):
    """A code the device will accept now: not one already used (django-otp refuses a time step
    twice), so a second sign-in within the same 30 seconds uses the next step, which is
    within the tolerance; failing that, wait for the next step."""
    for _ in range(3):
        device.refresh_from_db()
        for offset in (0, 1):
            totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + offset)
            totp.time = time.time()
            if totp.t() > device.last_t:
                return f"{totp.token():0{device.digits}d}"
        time.sleep(device.step - (time.time() % device.step) + 0.1)
    raise AssertionError("no usable TOTP code")


def sign_in(page, live_server, username, password=PASSWORD, next_url=None):
    """Sign in through the form; ends on the page after sign-in (home unless next_url)."""
    user = get_user_model().objects.get(username=username)
    if second_factor.must_use_2fa(user):
        confirmed_totp(user)
    login = live_server.url + reverse("login") + (f"?next={next_url}" if next_url else "")
    page.goto(login)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    after = live_server.url + (next_url or reverse("home"))
    try:
        # Generous: Argon2 is slow on purpose, and slower still on a busy test machine.
        page.wait_for_url(lambda url: url == after or "/accounts/two-factor/" in url, timeout=SLOW)
    except Exception as exc:  # say where it stopped instead of just "timeout"
        raise AssertionError(f"signing in as {username} stopped at {page.url}: "
                             f"{page.inner_text('main')[:300]!r}") from exc
    if "/accounts/two-factor/" in page.url:
        device = TOTPDevice.objects.get(user=user, confirmed=True)
        page.get_by_label("Code").fill(current_code(device))
        page.get_by_role("button", name="Continue").click()
    page.wait_for_url(after, timeout=SLOW)
    return page


def signed_in_page(browser, live_server, username, viewport):
    """A new page at this size (phone or desk), UK locale and time, signed in as `username`."""
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London")
    page = context.new_page()
    return sign_in(page, live_server, username)  # password, then the code if asked
