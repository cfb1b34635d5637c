"""The pupil's attendance chart and the referral queue in real Chromium, on a phone and at a
desk. Screenshots go to test-artifacts/ to be looked at."""

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.services import scan_school

from tests.pages_support import make_person, make_pupil, make_school
from tests.attendance.test_attendance_pages import term_of_marks
from tests.browser_support import DESKTOP, PHONE, shoot, signed_in_page as sign_in
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_the_chart_and_the_queue_fit_a_phone_and_a_desk(browser, live_server):
    school = make_school()
    make_person(school, "head", "headteacher")
    pupil = make_pupil(school)
    term_of_marks(pupil, end=timezone.localdate())
    scan_school(school, timezone.localdate())
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = sign_in(browser, live_server, "head", viewport)
        page.goto(live_server.url + reverse("pupils:detail", args=[pupil.pk]))
        chart = page.locator(".att-chart svg:visible").first
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box["width"] <= viewport["width"] and box["height"] > 80
        # Nothing on the page is wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        shoot(page, f"attendance-{name}-pupil")
        page.get_by_role("link", name="Referrals").click()
        expect(page.get_by_role("heading", name="Attendance referrals")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        shoot(page, f"attendance-{name}-referral-queue")
        page.get_by_role("link", name="Decide").click()
        shoot(page, f"attendance-{name}-referral-case")
        page.context.close()
