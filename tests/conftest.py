import os

import pytest

# Playwright drives Chromium from the test thread while live_server serves Django in
# another; Django must be told that sync ORM calls from that thread are expected.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# The preset schools most tests start from: staff in every role, a pupil, current risk
# assessments (tests/factories.Staffed). A test file may define its own to add to them.
@pytest.fixture
def coteford():
    from tests.factories import Staffed

    return Staffed("coteford", name="Coteford Junior School")


@pytest.fixture
def potton():
    from tests.factories import Staffed

    return Staffed("potton", name="Potton Primary School")


@pytest.fixture
def willows():
    from tests.factories import Staffed

    return Staffed("willows", name="The Willows School")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(autouse=True)
def _same_made_up_names_every_run(request):
    """Factories make up names with Faker. Seeded from the test's own id, each test gets
    the same names on every run and on every worker, so a name that happens to trip an
    assertion fails every time, here, not now and then on CI. (The suite passes with every
    made-up name forced to O'Brien, Seán, Zoë, May and Day: tried, not left in.)"""
    import zlib

    import factory.random

    factory.random.reseed_random(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def _plain_static(settings):
    # Hashed static names need collectstatic; tests serve files straight from the apps.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(autouse=True)
def _signed_in_tests_have_given_their_code(monkeypatch):
    """Headteachers, DSLs, office staff and admins must give a one-time code after their
    password (accounts.middleware.TwoFactorMiddleware). The many tests that sign in with
    client.force_login()/client.login() are about what a person does once signed in, so here
    those logins finish the sign-in as if the person had typed their code: a confirmed
    authenticator device is made for them and the session marked verified by it, exactly as
    django_otp.login does after a good code. The second factor itself is tested through the
    real sign-in form (tests/test_two_factor.py, tests/browser_support.sign_in), which does
    not pass through here."""
    from django.test.client import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    original = Client._login

    def _login(self, user, backend=None):
        original(self, user, backend)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="Test phone", confirmed=True)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    monkeypatch.setattr(Client, "_login", _login)


@pytest.fixture(autouse=True)
def _sessions_outlast_the_test_clock(settings):
    """Many tests move a time-machine clock hours ahead with one signed-in client (a visit's
    day, the watchdog). They are not about idle sessions, so here sessions do not time out;
    tests/test_signin.py puts the real limits back (and checks they are the defaults)."""
    settings.DOORSTEP_IDLE_TIMEOUT = settings.DOORSTEP_VISIT_IDLE_TIMEOUT = 10 * 365 * 24 * 3600
    settings.DOORSTEP_SESSION_MAX_AGE = 10 * 365 * 24 * 3600


def pytest_configure(config):
    """DOORSTEP_TEST_CLOCK=HH:MM (or a full ISO date and time) runs the suite as if it were
    that time of day, today (UTC), with the clock ticking: CI runs at whatever hour a change
    lands, so tests must not pass only in school hours. For example
    `DOORSTEP_TEST_CLOCK=19:30 make test`. Python's clock only: the database's and the
    browser's own clocks are not moved, so leave the browser tests out (-m "not browser")."""
    when = os.environ.get("DOORSTEP_TEST_CLOCK")
    if not when:
        return
    import datetime

    import time_machine

    if "T" in when:
        target = datetime.datetime.fromisoformat(when)
    else:
        target = datetime.datetime.combine(datetime.date.today(), datetime.time.fromisoformat(when))
    if target.tzinfo is None:
        target = target.replace(tzinfo=datetime.UTC)
    traveller = time_machine.travel(target, tick=True)
    traveller.start()
    config._doorstep_clock = traveller
