"""The office board is pushed, and its alarm cannot be missed (docs/safety-core.md, "The board is pushed"),
end to end in real processes: a throwaway Doorstep (its own database, SQLite or PostgreSQL as
the pass runs) served by `doorstep start` (gunicorn's threaded workers, and the watchdog as a
process of its own), and Chromium signed in as the office with the sound on. The watchdog
raises an alert for a missed deadline and the open board draws it without a reload; the alarm
repeats, the tab's title and icon change and a desktop notification shows; when the alert is
taken on (by another process) it all stops. Nothing on the board flashes. When the web server
dies, the board says it cannot reach Doorstep, and recovers when `doorstep start` restarts it.

The harness is bench/board_push_bench.py's (the same as the benchmark's)."""
import importlib.util
import time
from pathlib import Path

import pytest

from tests.browser_support import DESKTOP, PHONE, shoot
from playwright.sync_api import expect

# Also on PostgreSQL: the board hears of a new alert through LISTEN/NOTIFY there.
pytestmark = [pytest.mark.browser, pytest.mark.both_databases]

BENCH = Path(__file__).resolve().parent.parent / "bench" / "board_push_bench.py"


def harness():
    spec = importlib.util.spec_from_file_location("board_push_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def site(tmp_path):
    bench = harness()
    made = bench.Site(bench.target_from_environment(tmp_path), f"board_push_test_{int(time.time())}", tmp_path,
                      visits=4)
    made.build().start()
    yield made
    # Nothing is left for the web server to finish, so it goes at once, as it does mid-test (the
    # rest of `doorstep start` still stops on SIGTERM). Its graceful stop no longer waits for the
    # board's event stream (doorstep/wsgi.py ends the streams on SIGTERM: tests/test_wsgi_stop.py).
    try:
        made.kill_web_server()
    except RuntimeError:
        pass  # no web server running: the test stopped while it was down
    made.stop()
    made.drop()


def board_state(page):
    return page.evaluate("""() => ({
        beeps: window.doorstepBoard.beeps, notifications: window.doorstepBoard.notifications,
        alarming: window.doorstepBoard.alarming, loads: window.__loads, title: document.title,
        icon: document.querySelector("link[rel~='icon']").getAttribute("href"),
        keys: [...document.querySelectorAll('[data-alarm]')].map(e => e.getAttribute('data-alarm')),
        animations: document.getAnimations().length})""")


def test_a_watchdog_process_raises_an_alert_and_the_open_board_sounds_it_until_someone_takes_it_on(site, browser):
    page = site.open_board(browser, DESKTOP)
    calm = board_state(page)
    assert calm["keys"] == [] and not calm["title"].startswith("ALERT")
    assert calm["icon"] == "data:,"  # the page's own (blank) icon

    # A check-in is missed a few seconds from now; the others fall due ten minutes apart.
    site.arm(lead=4, gap=600)
    page.wait_for_selector("[data-alarm^='alert-']", timeout=30_000)
    drawn = board_state(page)
    assert drawn["loads"] == 1  # pushed, not reloaded
    assert len(drawn["keys"]) == 1 and drawn["alarming"]
    assert drawn["title"].startswith("ALERT (1) · Office board")
    assert drawn["icon"].startswith("data:image/svg+xml")
    assert drawn["notifications"] == 1  # allowed in this browser: one for the new alert
    strip = page.locator("#board-alarms")
    assert "1 alert nobody has taken on" in strip.inner_text()
    expect(strip.get_by_role("button", name="I am dealing with it")).to_be_visible()

    # The alarm repeats (a two-tone pattern every 2 seconds) while nobody takes the alert on.
    time.sleep(5)
    later = board_state(page)
    assert later["beeps"] >= drawn["beeps"] + 2
    assert later["notifications"] == 1  # the notification is for a new alert, once
    assert later["animations"] == 0  # steady colours: nothing blinks (WCAG 2.3.1)
    shoot(page, "desktop-board-pushed-alarm")
    phone = site.open_board(browser, PHONE, who=1)  # the other person in the office, on a phone
    phone.wait_for_selector("[data-alarm^='alert-']", timeout=30_000)
    shoot(phone, "phone-board-pushed-alarm")
    phone.context.close()

    # Someone takes it on elsewhere (another process): the alarm stops on this open board.
    site.acknowledge()
    page.wait_for_function("() => document.querySelectorAll('[data-alarm]').length === 0", timeout=30_000)
    page.get_by_text("is dealing with it").first.wait_for()
    quiet = board_state(page)
    assert quiet["loads"] == 1 and not quiet["alarming"]
    assert not quiet["title"].startswith("ALERT") and quiet["icon"] == "data:,"
    time.sleep(4)
    assert board_state(page)["beeps"] == quiet["beeps"]  # silent since
    shoot(page, "desktop-board-pushed-taken-on")

    # The web server dies (its whole process group, as in a crash) and stays out of reach (the
    # browser refuses the board's requests: `doorstep start` restarts the server within a
    # few seconds, and an outage shorter than 5 s is not worth a banner): the open board says
    # it cannot reach Doorstep, and recovers by itself once Doorstep answers again.
    page.route("**/board/**", lambda route: route.abort())
    site.kill_web_server()
    page.locator("#board-offline").wait_for(state="visible", timeout=20_000)
    assert page.title().startswith("NOT UPDATING")
    shoot(page, "desktop-board-pushed-offline")
    page.unroute("**/board/**")
    page.locator("#board-offline").wait_for(state="hidden", timeout=90_000)
    assert board_state(page)["loads"] == 1 and not page.title().startswith("NOT UPDATING")
