"""The policy page's editor in Chromium, at a phone's size and a desk's: the head starts a draft
from a preset, changes a check-in interval and its clause, sees an error next to the setting,
reviews the change and publishes it. Screenshots go to test-artifacts/ to be looked at."""
import pytest
from django.urls import reverse

from tests.browser_support import DESKTOP, PHONE, shoot, sign_in
from tests.factories import Staffed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.mark.parametrize("size,viewport", [("phone", PHONE), ("desk", DESKTOP)])
def test_the_head_adapts_a_preset_and_publishes_it(browser, live_server, size, viewport):
    school = Staffed("coteford", name="Coteford Junior School")
    page = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London").new_page()
    sign_in(page, live_server, school.head.user.username)
    page.goto(live_server.url + reverse("policies:show"))
    page.get_by_role("link", name="Change the policy").click()
    page.get_by_label("Start from").select_option("potton")
    page.get_by_role("button", name="Start the draft").click()
    page.wait_for_url(live_server.url + reverse("policy_draft:editor"))
    setting = page.locator('[id="setting-check_in.interval_minutes"]')
    setting.get_by_label("Value").fill("0")
    setting.get_by_label("Your clause").fill("P §9¶1")  # Potton is silent here: the school's own clause
    page.get_by_role("button", name="Save the draft and review it").click()
    error = page.locator('[id="setting-check_in.interval_minutes"] .error')
    assert "expected a whole number of minutes" in error.inner_text()
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => !e.closest('nav') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(e => e.tagName + ' ' + e.textContent.slice(0, 30))
        .slice(0, 5).concat([document.documentElement.scrollWidth])""")
    assert wide == [viewport["width"]], f"wider than the screen: {wide}"  # nothing sideways but the menu
    setting.scroll_into_view_if_needed()
    shoot(page, f"policy-editor-error-{size}")
    page.locator('[id="setting-check_in.interval_minutes"]').get_by_label("Value").fill("15")
    page.get_by_role("button", name="Save the draft and review it").click()
    page.wait_for_url(live_server.url + reverse("policy_draft:review"))
    changes = page.locator("#changes").locator("xpath=..").inner_text()
    assert "every 15 min" in changes and "P §9¶1" in changes
    shoot(page, f"policy-review-{size}")
    page.get_by_label("Why is the policy changing?").fill("We adopted Potton's policy with a shorter check-in")
    page.get_by_role("button", name="Publish the new version").click()
    page.wait_for_url(live_server.url + reverse("policies:show"))
    assert "Version 2 of the policy is published" in page.inner_text("main")
    assert school.school.current_policy().load().check_in.interval_minutes.value == 15
