"""The office board in Chromium when nothing has changed: its regular fetch of the list of visits
is answered "304 Not Modified", and the page keeps every row (htmx alone would put the empty
answer in their place) and says when it last checked; when something changes, the list comes
again. And a duress alarm on the board says who entered the PIN. Screenshots go to
test-artifacts/."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from people.services import set_pins
from safety import recording
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert
from visits.models import Visit

from tests import browser_support
from tests.browser_support import DESKTOP, PHONE, shoot
from tests.factories import Staffed, VisitFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.clock("10:00"),  # a school morning, whatever the hour: "today's" visits stay today's
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def visit_today(school, staff):
    starts = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(minutes=5)
    return VisitFactory(school=school.school, pupil=school.pupil, staff=staff, state=Visit.State.SCHEDULED,
                        starts_at=starts, ends_at=starts + datetime.timedelta(minutes=45), proposed_by=staff[0])


def sign_in(browser, live_server, staff, viewport):
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London")
    context.clock.install(time=timezone.now())  # the page's clock on the test's
    return browser_support.sign_in(context.new_page(), live_server, staff.user.username)


def test_an_unchanged_board_keeps_its_rows_and_a_duress_alarm_says_who(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    calm = visit_today(school, [school.family])
    pair = visit_today(school, [school.officer, school.teacher])
    for visit, who in ((calm, school.family), (pair, school.officer)):
        recording.record_event(visit, "arrived", by=who, location="Outside number 1")
        recording.record_event(visit, "entered", by=who)
    watchdog_loop.beat("browser-test:1")

    page = sign_in(browser, live_server, school.office, DESKTOP)
    page.goto(live_server.url + reverse("alerts:board"))
    assert page.locator("article.board-row").count() == 2
    page.wait_for_function("() => window.doorstepBoard.streamOpen === true")
    # What the 30-second timer does: the strip, then the list, asked with the tag of what is shown.
    page.evaluate("document.body.dispatchEvent(new CustomEvent('doorstep:changed'))")
    page.wait_for_function("() => window.doorstepBoard.unchanged >= 1", timeout=15_000)
    assert page.locator("article.board-row").count() == 2
    assert page.locator("#board-offline").is_hidden()

    # A duress PIN: pushed, the list comes again, and it says who entered it.
    set_pins(school.teacher, safe_pin="1111", duress_pin="2222", by=school.teacher)
    recording.record_event(pair, "check_in", by=school.teacher, pin="2222")
    page.locator(f"#visit-{pair.pk}").get_by_text("Duress PIN entered by Tess Teacher").wait_for(timeout=15_000)
    assert "Duress PIN entered by Tess Teacher" in page.inner_text("#board-alarms")
    assert page.locator("article.board-row").count() == 2
    shoot(page, "desktop-board-duress")
    alert = Alert.objects.get(visit=pair, kind="duress")
    page.goto(live_server.url + reverse("alerts:police_card", args=[alert.pk]))
    assert "Duress PIN entered by Tess Teacher" in page.inner_text("main")
    shoot(page, "desktop-police-card-duress")

    phone = sign_in(browser, live_server, school.office, PHONE)
    phone.goto(live_server.url + reverse("alerts:board"))
    phone.get_by_text("Duress PIN entered by Tess Teacher").first.wait_for()
    shoot(phone, "phone-board-duress")
    phone.goto(live_server.url + reverse("alerts:police_card", args=[alert.pk]))
    shoot(phone, "phone-police-card-duress")
