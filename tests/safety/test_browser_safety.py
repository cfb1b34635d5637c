"""The safety core in real Chromium (docs/safety-core.md, "Screens"): the office board updates by itself when a
check-in is missed and opens the police card; a phone-sized check-in flow from leaving
school to back safe, and the press-and-hold panic. Screenshots go to test-artifacts/.
A school morning whatever the hour the suite runs at (the clock mark, with the browser's own
clock set to the same moment): a visit "in ten minutes" run just before midnight would be
tomorrow's, and off the phone's list of today's visits. Deadlines are moved by updating the
watch row, as the watchdog would find it."""
import datetime
import re
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from safety import recording
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert
from safety.checkins.models import VisitEvent, Watch
from people.services import set_pins
from visits.models import Visit

from tests.factories import HouseholdNoteFactory, Staffed, VehicleFactory, VisitFactory
from tests import browser_support
from tests.browser_support import DESKTOP, PHONE, shoot
from playwright.sync_api import expect


pytestmark = [
    pytest.mark.browser,
    pytest.mark.both_databases,  # the safety loop, end to end, on both databases
    pytest.mark.clock("10:00"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def sign_in(browser, live_server, staff, viewport):
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London")
    context.clock.install(time=timezone.now())  # the page's countdowns on the test's clock
    page = context.new_page()
    return browser_support.sign_in(page, live_server, staff.user.username)  # password, then the code if asked


def visit_today(school, staff, start_in=-5, minutes=45):
    starts = timezone.now().replace(second=0, microsecond=0) + datetime.timedelta(minutes=start_in)
    return VisitFactory(school=school.school, pupil=school.pupil, staff=staff, state=Visit.State.SCHEDULED,
                        starts_at=starts, ends_at=starts + datetime.timedelta(minutes=minutes), proposed_by=staff[0])


def test_the_office_board_turns_overdue_by_itself_and_opens_the_police_card(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    VehicleFactory(staff=school.officer, make="Ford", model="Fiesta", colour="silver", registration="YR21 KDP")
    HouseholdNoteFactory(pupil=school.pupil, kind="animals", text="Two large dogs.", dangerous=True)
    calm = visit_today(school, [school.family])
    watched = visit_today(school, [school.officer, school.teacher])
    for visit, who in ((calm, school.family), (watched, school.officer)):
        recording.record_event(visit, "arrived", by=who, location="Outside number 1")
        recording.record_event(visit, "entered", by=who)
    watchdog_loop.beat("browser-test:1")

    page = sign_in(browser, live_server, school.office, DESKTOP)
    page.goto(live_server.url + reverse("alerts:board"))
    page.get_by_role("button", name="Sound is off: turn it on").click()
    page.get_by_role("button", name="Sound is on").wait_for()
    row = page.locator(f"#visit-{watched.pk}")
    assert row.get_attribute("data-urgency") == "fine"
    shoot(page, "desktop-board-calm")

    # The check-in is missed: its deadline passed and the watchdog polls. No reload.
    past = timezone.now() - datetime.timedelta(seconds=1)
    Watch.objects.filter(visit=watched).update(due_at=past - datetime.timedelta(minutes=5), alert_at=past)
    watchdog_loop.beat("browser-test:1")
    # The open board's event stream reads the safety tables every 0.25 s; on the tests' shared
    # in-memory SQLite a read can make a write fail ("table is locked"), which the watchdog
    # retries on its next pass (a file database in WAL mode never does this): so do we.
    raised = 0
    for _ in range(20):
        raised += watchdog_loop.poll()["raised"]
        if raised:
            break
        time.sleep(0.1)
    assert raised == 1
    page.wait_for_selector(f'#visit-{watched.pk}[data-urgency="overdue"]', timeout=8000)
    assert page.locator("article.board-row").first.get_attribute("id") == f"visit-{watched.pk}"  # most urgent first
    assert "nobody has taken it on" in row.inner_text()
    assert page.evaluate("window.doorstepBoard.newAlerts") >= 1
    assert page.evaluate("window.doorstepBoard.beeps") >= 2  # the toggle's test beep and the new alert
    assert page.title().startswith("ALERT")
    shoot(page, "desktop-board-overdue")

    row.get_by_role("link", name="Police card").click()
    page.wait_for_url(re.compile(r"/board/alerts/\d+/police/$"))
    assert "YR21 KDP" in page.inner_text("main")
    assert "Two large dogs." in page.inner_text("main")
    shoot(page, "desktop-police-card")

    # The same on a phone, to be looked at.
    office_phone = sign_in(browser, live_server, school.office, PHONE)
    office_phone.goto(live_server.url + reverse("alerts:board"))
    office_phone.wait_for_selector(f'#visit-{watched.pk}[data-urgency="overdue"]')
    shoot(office_phone, "phone-board-overdue")
    office_phone.goto(page.url)
    shoot(office_phone, "phone-police-card")

    # Acknowledge from the board with the keyboard: a refresh (pushed when anything changes,
    # here a check-in on the other visit) must not take the focus away from the button on its
    # way there.
    page.goto(live_server.url + reverse("alerts:board"))
    acknowledge = page.locator(f"#visit-{watched.pk}").get_by_role("button", name="Acknowledge: I am dealing with it")
    acknowledge.focus()
    updated = page.locator(".board-summary .meta").inner_text()
    page.wait_for_timeout(1100)  # the list says when it was drawn to the second
    recording.record_event(calm, "check_in", by=school.family)
    page.wait_for_function("text => document.querySelector('.board-summary .meta').innerText !== text",
                           arg=updated, timeout=8000)  # at least one refresh has replaced the button
    assert page.evaluate("document.activeElement.textContent.trim()") == "Acknowledge: I am dealing with it"
    page.keyboard.press("Enter")
    page.get_by_text(f"taken on by {school.office.full_name}").wait_for()
    assert Alert.objects.get(visit=watched).state == "acknowledged"
    # If the board cannot reach the server it says so, and recovers by itself.
    page.route("**/board/live/", lambda route: route.abort())
    recording.record_event(calm, "check_in", by=school.family)  # pushed: the board fetches its list, and cannot
    page.locator("#board-offline").wait_for(state="visible", timeout=6000)
    shoot(page, "desktop-board-offline")
    page.unroute("**/board/live/")
    page.locator("#board-offline").wait_for(state="hidden", timeout=6000)

    page.goto(live_server.url + reverse("home"))
    page.get_by_text("Visits under way").wait_for()
    shoot(page, "desktop-home-office-tile")

    # The headteacher's page of alerts and written reasons, at a desk and on a phone.
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        head = sign_in(browser, live_server, school.head, viewport)
        head.goto(live_server.url + reverse("alerts:review"))
        head.get_by_role("heading", name="Open alerts").wait_for()
        shoot(head, f"{name}-alerts-review")


def test_a_check_in_flow_on_a_phone_from_leaving_school_to_back_safe(browser, live_server):
    school = Staffed("st-hughs", name="St Hugh's School")
    me = school.officer
    set_pins(me, safe_pin="2580", duress_pin="1470", by=me)
    visit = visit_today(school, [me], start_in=10, minutes=45)

    page = sign_in(browser, live_server, me, PHONE)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    shoot(page, "phone-today")
    page.get_by_role("link", name=re.compile("Ava Brown")).click()
    page.wait_for_url(re.compile(r"/today/\d+/$"))
    shoot(page, "phone-visit-briefing")

    page.get_by_role("button", name="I am leaving school now").click()
    page.get_by_text("On the way").wait_for()
    page.get_by_role("button", name="I have arrived at the home").click()
    page.get_by_text("At the door").wait_for()
    shoot(page, "phone-at-the-door")
    page.get_by_role("button", name="I went in").click()
    page.get_by_text("In the home", exact=True).wait_for()
    page.locator("#id_checkin-pin").fill("2580")
    shoot(page, "phone-inside-check-in")
    page.get_by_role("button", name="Check in: I am OK").click()
    page.get_by_text("Check-in recorded.").wait_for()
    page.locator("#id_leaving-pin").fill("2580")
    page.get_by_role("button", name="I have left the home").click()
    page.get_by_role("button", name="I am back safe / finished for the day").click()
    page.get_by_text("You are back safe").wait_for()
    shoot(page, "phone-back-safe")

    assert list(VisitEvent.objects.filter(visit=visit).values_list("type", flat=True)) == [
        "left_school", "arrived", "entered", "check_in", "left_home", "back_safe"]
    visit.refresh_from_db()
    assert visit.state == Visit.State.COMPLETED
    assert not Alert.objects.exists()


def test_panic_on_a_phone_needs_a_press_and_hold(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    me = school.officer
    visit = visit_today(school, [me])
    recording.record_event(visit, "arrived", by=me)

    page = sign_in(browser, live_server, me, PHONE)
    page.goto(live_server.url + reverse("checkins:visit", args=[visit.pk]))
    page.get_by_role("button", name="Parent not at home").click()
    page.get_by_text("On the doorstep").wait_for()
    close = page.get_by_role("button", name="Close as not seen")
    assert close.is_disabled()  # Coteford's 20-minute wait (C 3.4) has just begun
    # The countdown is written by its script once the page is drawn: waited for, not read at once.
    expect(page.locator(".countdown--big")).to_contain_text(re.compile(r"in 1\d:\d\d min"))
    shoot(page, "phone-doorstep-wait")
    panic = page.get_by_role("button", name="PANIC: press and hold")
    panic.scroll_into_view_if_needed()
    box = panic.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(500)
    page.mouse.up()  # let go early: nothing is sent, a confirm page is shown instead
    page.get_by_text("Send the panic alarm?").wait_for()
    assert not Alert.objects.exists()
    page.go_back()
    panic = page.get_by_role("button", name="PANIC: press and hold")
    box = panic.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.get_by_text("Panic alarm sent").wait_for(timeout=6000)
    page.mouse.up()
    shoot(page, "phone-panic-sent")
    assert list(Alert.objects.values_list("kind", flat=True)) == ["panic"]
