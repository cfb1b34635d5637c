"""Helpers for the headteacher, deputy and trust administrator journeys (no tests here)."""
import datetime
import os
from pathlib import Path

import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from notify import delivery
from safety import watchdog

from tests.pages_support import PASSWORD
from tests.browser_support import ARTIFACTS, DESKTOP, PHONE, SLOW, confirmed_totp, current_code, sign_in


def weekday_morning(hour: int = 9):
    """A ticking test clock at the coming weekday's morning, server and browser alike (use as a
    context manager): the school day these people work in, whenever the suite runs."""
    day = timezone.localdate() + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return time_machine.travel(timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour))), tick=True)


def watching() -> None:
    """The watchdog's and the delivery worker's heartbeats, as `doorstep start` keeps them, so
    the board shows the day rather than warn that nobody is watching."""
    watchdog.beat("journey-J1-watchdog:1")
    delivery.beat("journey-J1-delivery:1")


def new_page(browser, viewport=DESKTOP) -> Page:
    """A new browser at this size, its clock on the test clock; it waits generously on a loaded
    machine."""
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


def fits(page: Page) -> None:
    """The page does not scroll sideways at the size it is open at."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways"


def shoot_both(page: Page, name: str) -> None:
    """The page at a phone's size and a desk's, checked not to scroll sideways at either; saved
    as pictures to look at when DOORSTEP_SCREENSHOTS names a folder (or is 1: test-artifacts).
    The page is left at the size it was."""
    before = page.viewport_size or DESKTOP
    wanted = os.environ.get("DOORSTEP_SCREENSHOTS", "")
    folder = ARTIFACTS if wanted == "1" else Path(wanted) if wanted else None
    for size, label in ((PHONE, "phone"), (DESKTOP, "desk")):
        page.set_viewport_size(size)
        fits(page)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"J1-{name}-{label}.png"), full_page=True)
    page.set_viewport_size(before)


def main(page: Page):
    """The page's main content, to assert on what it says."""
    return page.locator("main")


def pdf_opens(page: Page, path: str) -> bytes:
    """The PDF at this address, fetched with the page's own sign-in (a headless browser saves
    a PDF rather than showing it): its bytes, once checked to be a PDF."""
    origin = "/".join(page.url.split("/", 3)[:3])
    response = page.context.request.get(origin + path)
    assert response.status == 200, f"{path}: {response.status}"
    assert response.headers["content-type"].startswith("application/pdf")
    body = response.body()
    assert body.startswith(b"%PDF")
    return body
