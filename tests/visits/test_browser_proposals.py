"""A blocked proposal is not a dead end, in Chromium at a phone's size: the officer proposes a
lone visit that the policy blocks, is told what it waits for, changes the plan, sees the live
check pass, saves it, and the headteacher approves it from the inbox."""
import pytest
from django.urls import reverse

from visits.models import Visit

from tests.browser_support import PHONE, SLOW, shoot, signed_in_page
from tests.factories import Staffed, next_school_day

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_a_blocked_proposal_is_changed_checked_and_approved(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    page = signed_in_page(browser, live_server, school.officer.user.username, PHONE)

    page.goto(live_server.url + reverse("visits:propose") + f"?pupil={school.pupil.pk}")
    page.get_by_label("Purpose").select_option("attendance")
    page.get_by_label("Why is this visit needed?").fill("Absent for two weeks with no contact.")
    page.get_by_label("Date").fill(next_school_day().isoformat())
    page.get_by_label("Start time").fill("10:00")
    page.get_by_label("End time").fill("10:45")
    page.get_by_label("End time").press("Tab")  # a typed time is "changed" when the field is left
    page.locator("#plan-findings .verdict--block").wait_for(timeout=SLOW)
    page.get_by_role("button", name="Propose this visit").click()

    page.get_by_text("cannot be approved until this is put right").wait_for(timeout=SLOW)
    visit = Visit.objects.get()
    shoot(page, "proposal-blocked-phone")
    page.get_by_role("link", name="Add a second member of staff").first.click()

    page.wait_for_url(f"**{reverse('visits:edit', args=[visit.pk])}*", timeout=SLOW)
    page.locator("#plan-findings .verdict--block").wait_for(timeout=SLOW)
    page.get_by_label("Tess Teacher", exact=False).check()
    page.locator("#plan-findings .verdict--ok").wait_for(timeout=SLOW)
    shoot(page, "proposal-edit-passes-phone")
    page.get_by_role("button", name="Save the changed plan").click()
    page.get_by_text("Plan changed.").wait_for(timeout=SLOW)
    assert visit.assignments.count() == 2

    head = signed_in_page(browser, live_server, school.head.user.username, PHONE)
    head.goto(live_server.url + reverse("visits:approvals"))
    head.get_by_role("button", name="Approve").click()
    head.get_by_text("Visit approved.").wait_for(timeout=SLOW)
    visit.refresh_from_db()
    assert visit.state == Visit.State.APPROVED
