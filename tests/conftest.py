import datetime
import os
import threading
import time

import pytest
import time_machine
from django.test import client as django_test_client

# Playwright drives Chromium from the test thread while live_server serves Django in
# another; Django must be told that sync ORM calls from that thread are expected.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# The test client learns which templates a request drew from a signal sent by every thread. A
# browser test's live server (one per test session) can still be answering a page's last poll
# while the next test runs, and its page's context then stood first in that test's
# response.context (a form with other fields: KeyError on a field the test's own form has).
_store_rendered_templates = django_test_client.store_rendered_templates


def _store_own_renders_only(store, signal, sender, template, context, **kwargs):
    if threading.current_thread().name.endswith("(process_request_thread)"):
        return  # drawn by the live server for a browser, not for this test client's request
    _store_rendered_templates(store, signal, sender, template, context, **kwargs)


django_test_client.store_rendered_templates = _store_own_renders_only

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
def django_db_setup(django_db_setup):
    """pytest-django's test databases, and before they are dropped, the office board's
    PostgreSQL listener (safety.live, started by any board left open in a browser test) closed:
    its connection would keep the database from being dropped."""
    yield
    from safety import live  # Django is set up by now

    live.stop_listener()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A browser test's pages are closed as soon as it ends. Left open, a board page went on
    polling the live server (one per test session) through the next tests: on SQLite that
    server shares the test's in-memory connection, so its requests were counted among the next
    test's queries (and hit a database already rolled back). pytest-playwright's own `context`
    fixture closes its context itself."""
    yield
    browser = item.funcargs.get("browser")
    if browser is None:
        return
    for context in list(browser.contexts):
        if context is not item.funcargs.get("context"):
            context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    """Once a browser test has run, the office board's event streams it opened are ended, and
    the live server's requests waited for. Closing a page does not end its stream on the server
    until the stream next writes, up to 15 s later; meanwhile, on SQLite, it went on reading the
    one in-memory connection the next test was using, and the two deadlocked (CI, a form test
    that never finished). The streams are ended before the test's own fixtures end, while the
    test may still use the database: a request that ended after that met pytest-django's block
    on the database as it closed, and printed a traceback into the test run's output."""
    if "live_server" not in item.fixturenames:
        yield
        return
    from safety import live  # Django is set up by now

    live.end_waits()
    try:
        _wait_for_live_requests(5)
        yield
        _wait_for_live_requests(10)
    finally:
        live.allow_waits()


def _wait_for_live_requests(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(
            t.name.endswith("(process_request_thread)") for t in threading.enumerate()):
        time.sleep(0.05)


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
def _board_rows_read_afresh():
    """The office board keeps the rows it read, by watch id (safety.board._watches). Each test's
    database is rolled back, so the next test's watches reuse those ids under the same frozen
    clock: start every test with none kept."""
    from safety.board import forget_kept_rows  # Django is set up by now

    forget_kept_rows()


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
    real sign-in form (tests/security/test_two_factor.py, tests/browser_support.sign_in), which does
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
    tests/security/test_signin.py puts the real limits back (and checks they are the defaults)."""
    settings.DOORSTEP_IDLE_TIMEOUT = settings.DOORSTEP_VISIT_IDLE_TIMEOUT = 10 * 365 * 24 * 3600
    settings.DOORSTEP_SESSION_MAX_AGE = 10 * 365 * 24 * 3600


def parse_clock(when: str, *, today: datetime.date | None = None) -> datetime.datetime:
    """A moment for a test clock, written as people would: "19:30" (today, at that time),
    "2027-08-05" (that day, at the time it is now), "2027-08-05 10:30" or "2027-08-05T10:30",
    with or without a UTC offset. Without an offset it is UTC, as the suite's own times are."""
    text = when.strip()
    now = datetime.datetime.now(datetime.UTC)
    if len(text) <= 5 and ":" in text:
        target = datetime.datetime.combine(today or now.date(), datetime.time.fromisoformat(text))
    elif len(text) == 10:
        target = datetime.datetime.combine(datetime.date.fromisoformat(text), now.time().replace(microsecond=0))
    else:
        target = datetime.datetime.fromisoformat(text.replace(" ", "T", 1))
    return target if target.tzinfo else target.replace(tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def marked_clock(request):
    """The clock a test runs under. `@pytest.mark.clock("2026-11-23 09:00")` (tick=False to
    freeze it) puts the test *and every fixture it uses* under that clock: autouse fixtures are
    set up before the fixtures a test names, so a school, its risk assessments and its visits
    are dated by the same clock as the test's own steps. (A test that built its fixtures on
    the real clock and then travelled to a fixed date wrote a risk assessment "after" its
    visit once the real date passed that one.) Ask for `marked_clock` to move it: marked_clock.move_to(...),
    marked_clock.shift(...). Without the marker it is None and the test runs on the suite's clock."""
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        yield None
        return
    with time_machine.travel(parse_clock(marker.args[0]), tick=marker.kwargs.get("tick", True)) as traveller:
        yield traveller


def pytest_configure(config):
    """DOORSTEP_TEST_CLOCK runs the whole suite as if it were another moment, with the clock
    ticking: "19:30" (today at that time), "2027-08-05" (that day, at the time it is now) or
    "2027-08-05 10:30". CI runs at whatever hour a change lands, and `make test` also runs the
    suite on a summer-holiday day a year or more ahead, so tests must not pass only in school
    hours or only this term. Python's clock only: the database's and the browser's own clocks are not
    moved, so leave the browser tests out (-m "not browser")."""
    when = os.environ.get("DOORSTEP_TEST_CLOCK")
    if not when:
        return
    traveller = time_machine.travel(parse_clock(when), tick=True)
    traveller.start()
    config._doorstep_clock = traveller
