"""The first administrator's afternoon in Chromium, from an empty database: the trust, a school,
its headteacher invited; then the headteacher's set-up checklist and the proposal page that
says what is missing. Screenshots at phone and desk sizes (test-artifacts/setup-*.png)."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from notify.models import Channel, Message
from people.models import StaffMember
from schools.models import School, Trust
from tests.browser_support import DESKTOP, PHONE, SLOW, shoot, sign_in
from tests.pages_support import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.mark.parametrize("size, viewport", [("phone", PHONE), ("desk", DESKTOP)])
def test_first_administrator_sets_up_a_school_and_the_head_sees_what_is_missing(browser, live_server, size, viewport):
    User = get_user_model()
    assert not School.objects.exists()
    User.objects.create_superuser("admin", "admin@example.org", PASSWORD)
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London")
    page = context.new_page()
    page.set_default_timeout(SLOW)
    sign_in(page, live_server, "admin", next_url=reverse("setup:start"))
    # The home page leads an administrator with no school to the set-up page.
    page.goto(live_server.url + "/")
    page.wait_for_url(live_server.url + reverse("setup:start"))
    shoot(page, f"setup-{size}-1-trust")
    page.get_by_label("The trust's name").fill("Brook Trust")
    page.get_by_role("button", name="Set up the trust").click()
    page.wait_for_url(live_server.url + reverse("setup:school_add"))

    page.get_by_label("School name").fill("Brookside Primary School")
    page.get_by_label("URN").fill("12")
    page.get_by_label("Address").fill("1 Brook Lane, Bedford MK40 1AA")
    page.get_by_role("button", name="Add the school").click()
    summary = page.locator(".error-summary")
    assert "six-figure number" in summary.inner_text()
    assert "phone number" in summary.inner_text()
    shoot(page, f"setup-{size}-2-school-errors")
    assert not School.objects.exists()
    page.get_by_label("URN").fill("123456")
    page.get_by_label("Office phone").fill("01632 960000")
    page.get_by_role("button", name="Add the school").click()
    page.wait_for_url(re.compile(r".*/setup/schools/\d+/$"))

    page.get_by_label("Headteacher's name").fill("Helen Head")
    page.get_by_label("Their email address").fill("helen@brookside.example")
    page.get_by_label("Their mobile").fill("07700 900456")
    page.get_by_role("button", name="Add and invite the headteacher").click()
    page.get_by_text("has been sent an invitation to helen@brookside.example").wait_for()
    shoot(page, f"setup-{size}-3-head-invited")
    head = StaffMember.objects.get(full_name="Helen Head")
    assert Trust.objects.get().schools.get() == head.school
    email = Message.objects.get(recipient=head, channel=Channel.EMAIL, kind="staff.invitation")
    assert email.link.startswith("/accounts/invitation/")
    page.goto(live_server.url + reverse("setup:start"))
    assert "Helen Head (invited, not signed in yet)" in page.inner_text("main")
    shoot(page, f"setup-{size}-4-schools")
    context.close()

    # The head (their password set here, as the invitation page would) finds the checklist.
    head.user.set_password(PASSWORD)
    head.user.save()
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="Europe/London")
    page = context.new_page()
    page.set_default_timeout(SLOW)
    sign_in(page, live_server, head.user.username)
    page.get_by_role("link", name="The school's set-up checklist").click()
    page.wait_for_url(live_server.url + reverse("setup:checklist"))
    main = page.inner_text("main")
    assert "Visits cannot be proposed yet" in main
    assert "No home-visit policy has been adopted" in main
    assert page.locator("#item-policy a").get_attribute("href") == reverse("policies:show")
    shoot(page, f"setup-{size}-5-checklist")
    page.goto(live_server.url + reverse("visits:propose"))
    missing = page.locator("#missing").inner_text()
    assert "No home-visit policy" in missing and "school office" in missing and "watchdog" in missing
    shoot(page, f"setup-{size}-6-propose-not-ready")
    context.close()
