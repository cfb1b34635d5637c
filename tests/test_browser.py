"""The proposal → approval → scheduling flow in real Chromium, on a phone and at a desk.
Screenshots go to test-artifacts/ to be looked at."""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from people.models import DbsCheck, Vehicle

from visits.models import Visit

from tests.browser_support import DESKTOP, PHONE, shoot, signed_in_page as sign_in
from tests.pages_support import make_person, make_pupil, make_school, next_school_day

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # The live server's request threads try to close the test's shared in-memory SQLite
    # connection when they finish; Django refuses (it belongs to the test thread). Harmless.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.fixture
def potton():
    school = make_school("Potton Primary School", "potton")
    head = make_person(school, "head", "headteacher")
    people = {
        "school": school,
        "head": head,
        "teacher": make_person(school, "teacher", "attendance_officer"),
        "colleague": make_person(school, "colleague", "teacher"),
        "pupil": make_pupil(school, author=head),
    }
    make_pupil(school, "Ben", "Carter", author=head)
    # Someone whose DBS recheck is due soon and whose car insurance has lapsed, for the register.
    driver = make_person(school, "sam", "family_support")
    today = timezone.localdate()
    DbsCheck.objects.filter(staff=driver).update(issued_on=today.replace(year=today.year - 3) + datetime.timedelta(days=12))
    Vehicle.objects.create(staff=driver, make="Ford", model="Focus", colour="blue", registration="AB12 CDE",
                           insurance_expires_on=today - datetime.timedelta(days=3))
    return people


def test_a_visit_goes_from_proposal_to_approval_to_schedule(browser, live_server, potton):
    day = next_school_day()

    # A teacher on a phone proposes a visit and sees what the policy says as the plan changes.
    page = sign_in(browser, live_server, "teacher", PHONE)
    shoot(page, "phone-home-teacher")
    page.get_by_role("link", name="Propose a visit").first.click()
    page.get_by_label("Pupil").select_option(label="Brown, Ava (Year 4, 4B)")
    page.get_by_label("Purpose").select_option("attendance")
    page.get_by_label("Why is this visit needed?").fill("Absent for two weeks and no answer to calls.")
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Start time").fill("10:00")
    page.get_by_label("End time").fill("10:45")
    findings = page.locator("#plan-findings")
    # One member of staff under Potton: two unless the headteacher authorises (P §4¶1 / §4¶2).
    page.get_by_label("End time").blur()
    findings.locator(".clause").first.wait_for()
    assert re.search(r"P §\d", findings.inner_text())
    shoot(page, "phone-propose-one-person")
    page.get_by_label(re.compile("Colleague Example")).check()
    page.wait_for_timeout(600)
    findings.locator(".verdict").first.wait_for()
    shoot(page, "phone-propose-two-people")
    page.get_by_role("button", name="Propose this visit").click()
    page.wait_for_url(re.compile(r"/visits/\d+/$"))
    assert page.locator("#visit-state").inner_text() == "Proposed"
    shoot(page, "phone-visit-proposed")
    visit = Visit.objects.get()
    assert visit.state == Visit.State.PROPOSED

    # The headteacher at a desk approves it from the inbox.
    head = sign_in(browser, live_server, "head", DESKTOP)
    shoot(head, "desktop-home-head")
    head.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals", exact=True).click()
    card = head.locator(".card", has_text="Ava Brown")
    card.locator(".clause").first.wait_for()
    shoot(head, "desktop-approvals")
    card.get_by_role("button", name="Approve").click()
    head.get_by_text("Visit approved.").wait_for()
    shoot(head, "desktop-approvals-after")
    visit.refresh_from_db()
    assert visit.state == Visit.State.APPROVED
    assert visit.approved_by == potton["head"]

    # Back on the phone, the teacher records the appointment.
    page.goto(live_server.url + reverse("visits:detail", args=[visit.pk]))
    page.get_by_label("An appointment has been agreed with the parent or carer").check()
    page.get_by_label("Written confirmation of the appointment is held in the office").check()
    page.get_by_label("Parent or carer who agreed").select_option(label="Dana Brown (Mother)")
    shoot(page, "phone-schedule-form")
    page.get_by_role("button", name="Record the appointment and schedule the visit").click()
    page.get_by_text("Appointment recorded. The visit is scheduled.").wait_for()
    assert page.locator("#visit-state").inner_text() == "Scheduled"
    shoot(page, "phone-visit-scheduled")
    visit.refresh_from_db()
    assert visit.state == Visit.State.SCHEDULED
    assert visit.appointment_agreed and visit.written_confirmation

    # The pages a headteacher uses most, at both sizes, to be looked at.
    head_phone = sign_in(browser, live_server, "head", PHONE)
    shoot(head_phone, "phone-home-head")
    for name, url in [("pupil", reverse("pupils:detail", args=[potton["pupil"].pk])),
                      ("register", reverse("people:register")), ("policy", reverse("policies:show")),
                      ("visit", reverse("visits:detail", args=[visit.pk]))]:
        head.goto(live_server.url + url)
        shoot(head, f"desktop-{name}")
        head_phone.goto(live_server.url + url)
        shoot(head_phone, f"phone-{name}")
