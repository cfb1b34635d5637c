"""The "No data signal? Text instead" box at the bottom of the briefing on a phone and on a
desk, in real Chromium (docs/safety-core.md, "Texting in: no data signal"). Screenshots go
to test-artifacts/."""
import pytest

from people.services import set_pins

from tests.browser_support import DESKTOP, PHONE, shoot
from tests.factories import Staffed
from tests.safety.test_browser_safety import sign_in, visit_today
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.clock("10:00"),  # a school morning, whatever the hour: "today's" visits stay today's
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.mark.parametrize("viewport, name", [(PHONE, "phone"), (DESKTOP, "desk")])
def test_the_briefing_shows_the_doorstep_number_and_the_keywords(browser, live_server, settings, viewport, name):
    settings.DOORSTEP_SMS_NUMBER = "+447700900999"
    school = Staffed("coteford", name="Coteford Junior School")
    school.school.phone = "0113 496 0101"
    school.school.save(update_fields=["phone"])
    me = school.officer
    set_pins(me, safe_pin="2580", duress_pin="1470", by=me)
    visit = visit_today(school, [me, school.teacher], start_in=10)
    page = sign_in(browser, live_server, me, viewport)
    page.goto(f"{live_server.url}/today/{visit.pk}/")
    box = page.get_by_role("region", name="No data signal? Text instead")
    box.scroll_into_view_if_needed()
    expect(box).to_be_visible()
    words = box.inner_text()
    assert "07700 900999" in words and "0113 496 0101" in words
    for keyword in ("ARRIVED: you are at the door", "OK and your PIN: check in", "LEFT and your PIN", "SAFE", "HELP"):
        assert keyword in words
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing runs off the side
    shoot(page, f"texts-keywords-{name}")
    box.screenshot(path=f"test-artifacts/texts-keywords-box-{name}.png")
