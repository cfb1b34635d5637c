"""The phone after leaving the home, in real Chromium at a phone's size: on a pair visit the page
names who is still inside and gives the back-safe button; once the report is in, "My visits
today" shows the visit as finished and opens its report (not a page not found). One browser,
one live server, a few page loads. Screenshots go to test-artifacts/."""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from people.services import set_pins
from reports import services as report_services
from safety import recording
from safety.checkins.models import VisitEvent
from visits.models import Visit

from tests import browser_support
from tests.browser_support import PHONE, shoot
from tests.factories import Staffed, VisitFactory
from tests.records_support import report_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.clock("10:00"),  # a school morning, whatever the hour: "today's" visits stay today's
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_leaving_a_pair_visit_then_back_safe_then_the_finished_visit_opens_its_report(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    me, colleague = school.officer, school.teacher
    set_pins(me, safe_pin="2580", duress_pin="1470", by=me)
    starts = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(minutes=20)
    visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[me, colleague], state=Visit.State.SCHEDULED,
                         starts_at=starts, ends_at=starts + datetime.timedelta(minutes=45), proposed_by=me,
                         appointment_agreed=True, appointment_notes="Knock at the side door.")
    recording.record_event(visit, "arrived", by=me)
    recording.record_event(visit, "entered", by=me)

    context = browser.new_context(viewport=PHONE, locale="en-GB", timezone_id="Europe/London")
    context.clock.install(time=timezone.now())  # the page's clock on the test's
    page = browser_support.sign_in(context.new_page(), live_server, me.user.username)
    page.goto(live_server.url + reverse("checkins:visit", args=[visit.pk]))
    assert "Knock at the side door." in page.locator("#appointment").inner_text()

    page.locator("#id_leaving-pin").fill("2580")
    page.get_by_role("button", name="I have left the home").click()
    still = page.locator("#still-there")
    still.wait_for()
    assert "Still in the home:" in still.inner_text() and colleague.full_name in still.inner_text()
    assert "record back safe when you are" not in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, "phone-pair-left-home")
    page.get_by_role("button", name="I am back safe / finished for the day").click()
    page.get_by_text("You are back safe").wait_for()
    assert VisitEvent.objects.filter(visit=visit, staff=me, type="back_safe").exists()

    # The colleague leaves, the visit ends and the report is written.
    recording.record_event(visit, "left_home", by=colleague)
    visit.refresh_from_db()
    assert visit.state == Visit.State.COMPLETED
    report_services.submit_report(me, visit, report_data())

    page.goto(live_server.url + reverse("checkins:today"))
    card = page.get_by_role("link", name=re.compile("Ava Brown"))
    assert "Finished: the report is written." in card.inner_text()
    shoot(page, "phone-today-finished")
    card.click()
    page.wait_for_url(live_server.url + reverse("reports:report", args=[visit.pk]))
    assert "Visit report: Ava Brown" in page.inner_text("main")
    # The phone page kept open (or its link in a text) leads there too, and says why.
    page.goto(live_server.url + reverse("checkins:visit", args=[visit.pk]))
    assert page.url == live_server.url + reverse("reports:report", args=[visit.pk])
    assert "Page not found" not in page.inner_text("main")
    assert "This visit is finished and its report is written" in page.inner_text("main")
    shoot(page, "phone-finished-visit-report")
    context.close()
