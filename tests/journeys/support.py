"""Helpers for the role journeys (no tests here).

Each person's day happens in school hours, whatever the hour the suite runs at: a journey that
depends on the time of day runs on a ticking test clock set to the next weekday morning
(time-machine moves Django's clock, the live server's thread included), and each browser's own
clock is set to the same moment, so the countdowns on the phone and the board read as they
would that morning."""
import datetime
import os
import threading
from pathlib import Path

import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from notify import delivery
from safety import live, watchdog
from safety.alerts import views as alert_views

from tests.browser_support import ARTIFACTS, DESKTOP, PHONE, SLOW, confirmed_totp, current_code, sign_in
from tests.factories import at
from tests.pages_support import PASSWORD


def next_weekday_at(hour: int, minute: int = 0) -> datetime.datetime:
    """The next weekday after today (by the clock the suite runs under), at this local time:
    always ahead of now, so the browsers' session cookies are not already out of date."""
    day = timezone.localdate() + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return at(day, hour, minute)


def morning_clock(hour: int = 9, minute: int = 0):
    """A ticking test clock at the next weekday morning (use as a context manager)."""
    return time_machine.travel(next_weekday_at(hour, minute), tick=True)


def watching() -> None:
    """The watchdog's and the delivery worker's heartbeats, as `doorstep start` keeps them: the
    board then does not warn that nobody is watching or that texts are not going out, and
    proposing is not refused for want of a watchdog."""
    watchdog.beat("journey-watchdog:1")
    delivery.beat("journey-delivery:1")


def new_page(browser, viewport=DESKTOP) -> Page:
    """A new browser at this size, its clock on the test clock; it waits generously on a loaded
    machine (DOORSTEP_BROWSER_TIMEOUT shortens that when trying a change out)."""
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London")
    context.clock.install(time=timezone.now())
    page = context.new_page()
    wait = int(os.environ.get("DOORSTEP_BROWSER_TIMEOUT", SLOW))
    page.set_default_timeout(wait)
    expect.set_options(timeout=wait)
    return page


def signed_in(browser, live_server, username: str, viewport=DESKTOP) -> Page:
    """A new browser at this size, signed in, on the home page."""
    return sign_in(new_page(browser, viewport), live_server, username)


def open_as(browser, live_server, staff, viewport) -> Page:
    """The same, for a member of staff."""
    return signed_in(browser, live_server, staff.user.username, viewport)


def signed_in_at(browser, live_server, username: str, lands_on: str) -> Page:
    """A new browser at a desk, signed in with the password and the app's code as the person
    would, from the sign-in page with no page asked for: it checks where Doorstep lands them."""
    user = get_user_model().objects.get(username=username)
    device = confirmed_totp(user)
    page = new_page(browser)
    page.goto(live_server.url + reverse("login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(live_server.url + lands_on)
    return page


def main(page: Page):
    """The page's main content, to assert on what it says."""
    return page.locator("main")


def fits(page: Page) -> None:
    """The page does not scroll sideways at the size it is open at."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways"


def shoot_both(page: Page, name: str) -> None:
    """The page at a phone's size and a desk's, checked not to scroll sideways at either; saved as
    pictures to look at when DOORSTEP_SCREENSHOTS names a folder (or is 1: test-artifacts). The
    page is left at the size it was."""
    before = page.viewport_size or DESKTOP
    wanted = os.environ.get("DOORSTEP_SCREENSHOTS", "")
    folder = ARTIFACTS if wanted == "1" else Path(wanted) if wanted else None
    for size, label in ((PHONE, "phone"), (DESKTOP, "desk")):
        page.set_viewport_size(size)
        fits(page)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"journey-{name}-{label}.png"), full_page=True)
    page.set_viewport_size(before)


def pdf_opens(page: Page, href: str) -> bytes:
    """The PDF behind a link or at a path, fetched with the page's own sign-in (a headless browser
    saves a PDF rather than showing it): its bytes, once checked to be a PDF."""
    origin = "/".join(page.url.split("/", 3)[:3])
    response = page.context.request.get(href if href.startswith("http") else origin + href)
    assert response.status == 200, f"{href}: {response.status}"
    assert response.headers["content-type"].startswith("application/pdf")
    body = response.body()
    assert body.startswith(b"%PDF")
    return body


class QuietBoard:
    """The office board's event stream (safety.alerts.views._events), kept open but quiet: it
    reads nothing and pings every second. On the tests' shared in-memory SQLite its reads, four
    times a second, can make a write made at that moment fail ("table is locked"; a file
    database in WAL mode never does this), and each step of a journey loads the board afresh
    anyway; the push itself is tested in tests/safety/test_browser_safety.py. The streams are
    counted, and `wait_closed` waits for them to end (a second after their browser has gone),
    before the test database is emptied."""

    def __init__(self, monkeypatch) -> None:
        self.open = 0
        self.changed = threading.Condition()
        self.never = threading.Event()
        original = alert_views._events

        def counted(*args, **kwargs):
            with self.changed:
                self.open += 1
            try:
                yield from original(*args, **kwargs)
            finally:
                with self.changed:
                    self.open -= 1
                    self.changed.notify_all()

        def quiet(school_ids, since, timeout):
            self.never.wait(timeout)
            return None

        monkeypatch.setattr(alert_views, "_events", counted)
        monkeypatch.setattr(alert_views, "STREAM_PING", 1.0)
        monkeypatch.setattr(live, "wait_for_change", quiet)

    def wait_closed(self, timeout: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.open == 0, timeout), f"{self.open} board stream(s) still open"
