"""The main menu on a phone is one sideways-scrolling row started at the page you are on, so
the page itself starts on the first screen; at a desk every link is in view."""
import pytest
from django.urls import reverse

from tests.browser_support import DESKTOP, PHONE, shoot, sign_in
from tests.factories import Staffed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def opened(browser, live_server, staff, viewport, path):
    page = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London").new_page()
    sign_in(page, live_server, staff.user.username)
    page.goto(live_server.url + path)
    return page


def test_on_a_phone_the_menu_is_one_row_showing_the_current_page(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    # The headteacher has the longest menu; Letters is near its end.
    page = opened(browser, live_server, school.head, PHONE, reverse("reports:letters"))
    shoot(page, "phone-menu-letters")
    menu = page.get_by_role("navigation", name="Main")
    links = menu.get_by_role("link")
    assert links.count() >= 12
    assert menu.bounding_box()["height"] < 60  # one row, not five
    here = menu.locator("[aria-current=page]").bounding_box()
    assert here["x"] >= 0 and here["x"] + here["width"] <= PHONE["width"]  # in view without scrolling
    heading = page.get_by_role("heading", name="Letters to families").bounding_box()
    assert heading["y"] < 250
    # Every link is still there to reach: scrolled to and followed.
    menu.get_by_role("link", name="Home").click()
    page.wait_for_url(live_server.url + reverse("home"))


def test_at_a_desk_every_menu_link_is_in_view(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    page = opened(browser, live_server, school.head, DESKTOP, reverse("reports:letters"))
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"], links.nth(i).inner_text()
