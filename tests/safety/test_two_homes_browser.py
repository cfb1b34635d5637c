"""On a phone and on a desk, in real Chromium: pressing "I have arrived at the home" on the next
visit while still recorded as in the previous home is refused in words saying which visit to
leave first, and nothing is recorded. Screenshots go to test-artifacts/."""
import pytest

from safety import recording
from safety.checkins.models import VisitEvent

from tests.browser_support import DESKTOP, PHONE, shoot
from tests.factories import Staffed
from tests.safety.test_browser_safety import sign_in, visit_today

pytestmark = [
    pytest.mark.browser,
    pytest.mark.clock("10:00"),  # a school morning, whatever the hour: "today's" visits stay today's
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_arriving_at_a_second_home_is_refused_on_the_phone_saying_which_visit_to_leave(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    me = school.officer
    first = visit_today(school, [me], start_in=-20)
    second = visit_today(school, [me], start_in=10)
    recording.record_event(first, "arrived", by=me)
    recording.record_event(first, "entered", by=me)
    for viewport, name in ((PHONE, "phone"), (DESKTOP, "desk")):
        page = sign_in(browser, live_server, me, viewport)
        page.goto(f"{live_server.url}/today/{second.pk}/")
        page.get_by_role("button", name="I have arrived at the home").click()
        refusal = page.get_by_text("You are still recorded as in the home on your visit starting")
        refusal.wait_for()
        assert "Record leaving that home first, then record arriving here." in refusal.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing off the side
        shoot(page, f"two-homes-refused-{name}")
        page.context.close()
    assert not VisitEvent.objects.filter(visit=second).exists()
