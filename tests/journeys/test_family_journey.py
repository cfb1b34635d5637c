"""A family support worker's visit, in Chromium: on a phone (390x844) from the proposal to the
report, then at a desk (1366x900):

1. proposes a visit with a colleague: the policy's own reasons for a visit come first, and the
   page then says what the visit waits for;
2. (the head approves it and signs the list; the office records the appointment)
3. does the visit on the phone: sets off, arrives, goes in, checks in, leaves the home;
4. writes and submits the visit report on the phone, then records an agreement made with the
   parent (attendance every day for a week, reviewed on a date);
5. at a desk: finds the visit in the list of visits, opens its report and the report's PDF,
   and reads the agreement's review date;
6. on the review date the daily check finds the agreement not kept: the report says a reminder
   letter is drafted for the headteacher to approve and send.

Each step is asserted on what the page says, then on the database (states, report, agreement,
letter, audit entries)."""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEntry
from people.services import set_pins
from reports import services as report_services
from reports.models import Agreement, Letter, VisitReport
from safety import recording
from visits import services as visit_services
from visits.models import Visit

from tests.browser_support import DESKTOP, PHONE
from tests.factories import Staffed, at
from tests.journeys.support import main, morning_clock, open_as, shoot_both, watching
from tests.records_support import marks

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_a_family_support_worker_proposes_does_and_reports_a_visit(browser, live_server):
    with morning_clock(9, 0) as clock:
        today = timezone.localdate()
        school = Staffed("coteford", name="Coteford Junior School")
        fran, tess = school.family, school.teacher
        set_pins(fran, safe_pin="2580", duress_pin="1470", by=fran)
        watching()

        # 1. The proposal, on the phone.
        page = open_as(browser, live_server, fran, PHONE)
        page.goto(live_server.url + reverse("visits:propose"))
        purpose = page.get_by_label("Purpose")
        # Coteford's policy names one reason for a visit (C 3.1): it comes first, the others after.
        expect(purpose.locator("optgroup").first).to_have_attribute("label", "Reasons the school's policy names")
        expect(purpose.locator("optgroup").first.locator("option")).to_have_text(["Attendance"])
        page.get_by_label("Pupil").select_option(str(school.pupil.pk))
        purpose.select_option("attendance")
        page.get_by_label("Why is this visit needed?").fill("Ava has missed eight sessions this fortnight; "
                                                             "mum has asked for help with mornings.")
        page.get_by_label("Date").fill(today.isoformat())
        page.get_by_label("Start time").fill("09:30")
        page.get_by_label("End time").fill("10:15")
        page.get_by_label("End time").press("Tab")
        page.locator("#plan-findings .verdict").first.wait_for()
        page.get_by_label(re.compile(fran.full_name)).check()
        page.get_by_label(re.compile(tess.full_name)).check()
        # The live check has settled on the plan with both of them (before it, one of its
        # requests could still be running when the proposal is sent).
        expect(page.locator("#plan-findings")).to_contain_text("The policy allows this for approval.")
        expect(page.locator("#checking")).not_to_have_class(re.compile("htmx-request"))
        expect(page.get_by_label(re.compile(tess.full_name))).to_be_checked()
        page.get_by_role("button", name="Propose this visit").click()
        expect(main(page)).to_contain_text("Visit proposed. It now waits for approval by the headteacher or deputy headteacher.")
        expect(main(page)).to_contain_text("The office puts the visit on a list for the headteacher to sign")
        visit = Visit.objects.get(proposed_by=fran)
        assert visit.state == Visit.State.PROPOSED and {a.staff for a in visit.assignments.all()} == {fran, tess}

        # 2. The head approves and signs the list; the office records the appointment.
        visit_services.approve(school.head, visit)
        visit_list = visit_services.create_visit_list(school.office, title="This week", visits=[visit])
        visit_services.sign_visit_list(school.head, visit_list)
        visit_services.schedule(school.office, visit, appointment_agreed=True, written_confirmation=True,
                                agreed_with=school.contact, notes="Mum works nights: ring, do not knock.")

        # 3. The visit, on the phone, at its time.
        clock.move_to(at(today, 9, 25))
        page.clock.set_system_time(timezone.now())
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
        page.get_by_role("link", name=re.compile("Ava Brown")).click()
        expect(page.locator("#appointment")).to_contain_text("Mum works nights: ring, do not knock.")
        page.get_by_role("button", name="I am leaving school now").click()
        expect(page.locator("#phase")).to_have_text("On the way")
        page.get_by_role("button", name="I have arrived at the home").click()
        expect(page.locator("#phase")).to_have_text("At the door")
        page.get_by_role("button", name="I went in").click()
        expect(page.locator("#phase")).to_have_text("In the home")
        page.locator("#id_checkin-pin").fill("2580")
        page.get_by_role("button", name="Check in: I am OK").click()
        expect(main(page)).to_contain_text("Check-in recorded.")
        recording.record_event(visit, "left_home", by=tess)  # Tess leaves first, to fetch the car
        page.locator("#id_leaving-pin").fill("2580")
        page.get_by_role("button", name="I have left the home").click()
        expect(main(page)).to_contain_text("You are checked out of this visit")
        visit.refresh_from_db()
        assert visit.state == Visit.State.COMPLETED

        # 4. The report, on the phone, then the agreement made with mum.
        page.get_by_role("link", name="Write the visit report").click()
        expect(page.get_by_role("heading", name="Visit report: Ava Brown")).to_be_visible()
        page.get_by_label("People present at the home").fill("Mum and Ava")
        page.locator("#id_child_seen_0").check()
        page.locator("#id_child_spoken_to_0").check()
        page.get_by_label("Summary of discussion").fill("Mornings are hard since mum started nights. "
                                                        "We talked about a breakfast club place.")
        page.get_by_label("Actions agreed").fill("Ava to come to breakfast club every day next week.")
        page.get_by_role("button", name="Submit the report").click()
        expect(main(page)).to_contain_text("Report submitted. It is now in the pupil's chronology.")
        report = VisitReport.objects.get(visit=visit)
        assert report.completed_by == fran
        page.get_by_role("link", name="Record an agreement").click()
        expect(page.get_by_role("heading", name="Record an agreement: Ava Brown")).to_be_visible()
        week_from = today + datetime.timedelta(days=7 - today.weekday())  # next Monday
        week_to = week_from + datetime.timedelta(days=4)
        review_on = week_to + datetime.timedelta(days=3)  # the Monday after
        page.get_by_label("What was agreed").fill("Ava comes to school every day next week, via breakfast club.")
        page.get_by_label("Review date").fill(review_on.isoformat())
        page.get_by_label("Attendance at least a percentage over the window").check()
        page.get_by_label("Window starts").fill(week_from.isoformat())
        page.get_by_label("Window ends").fill(week_to.isoformat())
        page.get_by_label("Attendance at least (%)").fill("100")
        shoot_both(page, "family-agreement-form")
        page.get_by_role("button", name="Record the agreement").click()
        expect(main(page)).to_contain_text("Agreement recorded in the pupil's record.")
        agreement = Agreement.objects.get(visit=visit)
        assert agreement.review_on == review_on and agreement.made_by == fran
        shown = page.locator(f"#agreement-{agreement.pk}")
        expect(shown).to_contain_text(f"attendance of at least 100% from {week_from:%-d %B %Y} to {week_to:%-d %B %Y}")
        expect(shown).to_contain_text(f"Review {review_on:%-d %b %Y}")
        page.context.close()

        # 5. At a desk: the visit, its report and PDF, the agreement's review date.
        desk = open_as(browser, live_server, fran, DESKTOP)
        desk.get_by_role("navigation", name="Main").get_by_role("link", name="Visits").click()
        desk.get_by_role("link", name=re.compile("Ava Brown")).click()
        expect(desk).to_have_url(live_server.url + reverse("visits:detail", args=[visit.pk]))
        expect(main(desk)).to_contain_text("Mum works nights: ring, do not knock.")
        desk.get_by_role("link", name="Visit report", exact=True).click()
        expect(desk).to_have_url(live_server.url + reverse("reports:report", args=[visit.pk]))
        expect(main(desk)).to_contain_text("Mornings are hard since mum started nights.")
        pdf_link = desk.get_by_role("link", name="Visit report (PDF)")
        pdf = desk.request.get(live_server.url + pdf_link.get_attribute("href"))
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"
        shown = desk.locator(f"#agreement-{agreement.pk}")
        expect(shown).to_contain_text(f"Review {review_on:%-d %b %Y}")
        expect(shown).to_contain_text("Open")
        shoot_both(desk, "family-report-desk")
        for action in ("report.submitted", "agreement.recorded", "report.printed"):
            assert AuditEntry.objects.filter(action=action, actor=fran.user).exists(), action

        # 6. The week is missed; on the review date Doorstep's daily check finds the agreement not
        # kept and drafts a reminder letter for the headteacher.
        marks(school.pupil, week_from, "//NNNN//NN//")
        desk.context.close()
        clock.move_to(at(review_on, 7, 30))
        assert report_services.review_due_agreements()["broken"] == 1
        clock.move_to(at(review_on, 9, 0))
        desk = open_as(browser, live_server, fran, DESKTOP)  # a week on: she signs in again
        desk.goto(live_server.url + reverse("reports:report", args=[visit.pk]))
        shown = desk.locator(f"#agreement-{agreement.pk}")
        expect(shown).to_contain_text("Broken")
        expect(shown).to_contain_text("A reminder letter is ready for the headteacher to approve and send")
        shoot_both(desk, "family-agreement-broken")
        letter = Letter.objects.get(agreement=agreement)
        assert letter.status == Letter.Status.DRAFT and letter.pupil == school.pupil
        desk.context.close()
