"""A member of staff completes a visit report on a phone-sized screen, in real Chromium:
from the home page's "reports you owe", through the form, signing on the screen with
the pointer, to the report in the pupil's chronology. Screenshots go to test-artifacts/."""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from reports.models import VisitReport
from visits.models import Visit, VisitStaff

from tests.pages_support import make_person, make_pupil, make_school
from tests.browser_support import PHONE, shoot, signed_in_page as sign_in
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def sign_on(page, canvas_id):
    """Draw a squiggle on the canvas with mouse moves, as a finger would."""
    box = page.locator(f"#{canvas_id}").bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.6)
    page.mouse.down()
    for i in range(1, 13):
        page.mouse.move(x + w * (0.1 + 0.065 * i), y + h * (0.6 - 0.3 * (i % 2)), steps=3)
    page.mouse.up()


def test_a_willows_officer_writes_and_signs_a_report_on_a_phone(browser, live_server):
    school = make_school("The Willows School", "willows")
    school.address, school.phone = "Willow Road, Testford TE1 1ST", "01632 960777"
    school.save()
    head = make_person(school, "head", "headteacher")
    officer = make_person(school, "officer", "attendance_officer")
    pupil = make_pupil(school, author=head)
    day = timezone.localdate() - datetime.timedelta(days=1)
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
    visit = Visit.objects.create(
        school=school, pupil=pupil, purpose="attendance", reason="Absent for two weeks; no answer to calls.",
        starts_at=start, ends_at=start + datetime.timedelta(minutes=45), state=Visit.State.COMPLETED,
        proposed_by=officer, proposed_at=start - datetime.timedelta(days=3), approved_by=head,
        approved_at=start - datetime.timedelta(days=2), policy_version=school.current_policy(),
    )
    VisitStaff.objects.create(visit=visit, staff=officer, lead=True)

    page = sign_in(browser, live_server, "officer", PHONE)
    owed = page.locator("section", has_text="Reports you owe")
    owed.get_by_role("link", name=re.compile("Write the report")).click()
    page.wait_for_url(re.compile(r"/reports/visit/\d+/$"))
    shoot(page, "phone-report-form")

    # Submitting without the signatures The Willows asks for (W 2.3) is refused, naming the clause.
    page.get_by_label("People present at the home").fill("Dana Brown (mother) and Ava")
    page.locator("#field-child_seen").get_by_label("Yes").check()
    page.locator("#field-child_spoken_to").get_by_label("Yes").check()
    page.get_by_label("Summary of discussion").fill("Ava has been anxious about a change of class. Mum will walk her in.")
    page.get_by_label("Actions agreed").fill("Ava attends every day next week; Mum calls before 9:00 on any absence.")
    page.get_by_label("Follow-up actions").fill("Review attendance next Friday.")
    page.get_by_role("button", name="Submit the report").click()
    page.locator(".error-summary").wait_for()
    assert "W 2.3" in page.locator(".error-summary").inner_text()
    assert not VisitReport.objects.exists()
    shoot(page, "phone-report-needs-signatures")

    # The attendance figures are shown, not typed.
    assert page.locator("#attendance-figures input").count() == 0

    # Sign on the screen, both of them, and submit.
    page.locator("#field-child_seen").get_by_label("Yes").check()
    page.locator("#field-child_spoken_to").get_by_label("Yes").check()
    page.get_by_label("Summary of discussion").fill("Ava has been anxious about a change of class. Mum will walk her in.")
    page.locator("#parent-pad").scroll_into_view_if_needed()
    sign_on(page, "parent-pad")
    page.get_by_label("Name of the parent or carer signing").fill("Dana Brown")
    sign_on(page, "staff-pad")
    shoot(page, "phone-report-signed")
    page.get_by_role("button", name="Submit the report").click()
    page.get_by_text("Report submitted").wait_for()
    shoot(page, "phone-report-submitted")

    report = VisitReport.objects.get()
    assert report.parent_signature.startswith("data:image/png;base64,") and report.parent_signatory == "Dana Brown"
    assert report.staff_signature.startswith("data:image/png;base64,")
    expect(page.locator("img[alt='Signature of Dana Brown']")).to_be_visible()

    # The report is in the pupil's chronology.
    page.get_by_role("link", name="Chronology").click()
    page.wait_for_url(live_server.url + reverse("reports:chronology", args=[pupil.pk]))
    entries = page.locator("#chronology")
    assert "Report of the visit" in entries.inner_text() and "anxious about a change of class" in entries.inner_text()
    shoot(page, "phone-chronology")
    # Nothing is wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
