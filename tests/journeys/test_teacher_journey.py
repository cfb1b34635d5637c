"""A teacher's home visit, on a phone (390x844) in Chromium, from "My visits today" to the report:

1. today's visits: the visit with a colleague, with what is due next;
2. the briefing before knocking: the danger to visitors at the top, the appointment and the
   office's note ("knock at the side door"), who is going with them and the numbers to call
   (the office, the parent), and what to text when there is no data signal;
3. sets off, arrives, goes in, checks in with the PIN, leaves the home;
4. on the pair visit, the page says who is still inside, that this school asks nothing more
   of them, and still gives the back-safe button; back safe;
5. once the colleague has left and written the report, the visit shows as finished on
   "My visits today" and opens its report (no page not found).

Each step is asserted on what the page says, then on the events recorded."""
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from people.services import set_pins
from reports import services as report_services
from safety import recording
from safety.checkins.models import VisitEvent
from visits.models import Visit

from tests.browser_support import PHONE
from tests.factories import HouseholdNoteFactory, Staffed, VisitFactory, at
from tests.journeys.support import main, morning_clock, open_as, shoot_both, watching
from tests.records_support import report_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_a_teacher_does_a_pair_visit_from_the_briefing_to_back_safe_on_a_phone(browser, live_server, settings):
    settings.DOORSTEP_SMS_NUMBER = "+447700900999"  # texting in is set up at this school
    with morning_clock(9, 25):  # setting off for a 9:30 appointment
        today = timezone.localdate()
        school = Staffed("coteford", name="Coteford Junior School")
        tess, ali = school.teacher, school.officer
        set_pins(tess, safe_pin="2580", duress_pin="1470", by=tess)
        HouseholdNoteFactory(pupil=school.pupil, kind="animals", dangerous=True,
                             text="A large dog that has bitten before: ask for it to be shut away first.")
        visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[tess, ali], state=Visit.State.SCHEDULED,
                             starts_at=at(today, 9, 30), ends_at=at(today, 10, 15), proposed_by=tess,
                             appointment_agreed=True, appointment_agreed_with=school.contact,
                             appointment_notes="Knock at the side door: the front bell is broken.")
        watching()

        # 1. Today's visits.
        page = open_as(browser, live_server, tess, PHONE)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
        expect(page.get_by_role("heading", name="My visits today")).to_be_visible()
        card = page.get_by_role("link", name=re.compile("Ava Brown"))
        expect(card).to_contain_text("09:30–10:15")
        expect(card).to_contain_text("Not started")
        card.click()

        # 2. The briefing, before knocking.
        expect(page).to_have_url(live_server.url + reverse("checkins:visit", args=[visit.pk]))
        expect(page.locator("#danger-1")).to_contain_text("A large dog that has bitten before")
        expect(page.locator("#appointment")).to_contain_text(f"Agreed with {school.contact.name} (mother).")
        expect(page.locator("#appointment")).to_contain_text("Knock at the side door: the front bell is broken.")
        facts = page.locator("#h-trip + dl")
        expect(facts.locator("dt:text-is('Going with you') + dd")).to_have_text(f"{ali.full_name} {ali.mobile}")
        expect(facts.locator("dt:text-is('School office') + dd")).to_have_text("01632 960000")
        expect(facts.locator("dt:text-is('Mother') + dd")).to_contain_text(school.contact.phone)
        expect(page.get_by_role("heading", name="No data signal? Text instead")).to_be_visible()
        expect(main(page)).to_contain_text("07700 900999")
        shoot_both(page, "teacher-briefing")

        # 3. Sets off, arrives, goes in, checks in, leaves.
        page.get_by_role("button", name="I am leaving school now").click()
        expect(page.locator("#phase")).to_have_text("On the way")
        page.get_by_role("button", name="I have arrived at the home").click()
        expect(page.locator("#phase")).to_have_text("At the door")
        expect(page.locator("#danger-1")).to_be_visible()  # still there at the door
        page.get_by_role("button", name="I went in").click()
        expect(page.locator("#phase")).to_have_text("In the home")
        page.locator("#id_checkin-pin").fill("2580")
        page.get_by_role("button", name="Check in: I am OK").click()
        expect(main(page)).to_contain_text("Check-in recorded.")
        page.locator("#id_leaving-pin").fill("2580")
        page.get_by_role("button", name="I have left the home").click()

        # 4. Ali is still inside: the page says so and gives the back-safe button.
        still = page.locator("#still-there")
        expect(still).to_contain_text(f"Still in the home: {ali.full_name}")
        # Coteford asks nothing after leaving the home (C 3.10): the page says so, and still offers
        # "back safe" for the office's peace of mind.
        expect(main(page)).to_contain_text("You are checked out of this visit: your school asks nothing more of you on it.")
        shoot_both(page, "teacher-left-pair-visit")
        page.get_by_role("button", name="I am back safe / finished for the day").click()
        expect(main(page)).to_contain_text("You are back safe")
        assert list(VisitEvent.objects.filter(visit=visit, staff=tess).values_list("type", flat=True)) == [
            "left_school", "arrived", "entered", "check_in", "left_home", "back_safe"]

        # 5. Ali leaves and writes the report: the visit is finished, and opens its report.
        recording.record_event(visit, "left_home", by=ali)
        visit.refresh_from_db()
        assert visit.state == Visit.State.COMPLETED
        report_services.submit_report(ali, visit, report_data())
        page.get_by_role("link", name="All my visits today").click()
        card = page.get_by_role("link", name=re.compile("Ava Brown"))
        expect(card).to_contain_text("Finished: the report is written.")
        card.click()
        expect(page).to_have_url(live_server.url + reverse("reports:report", args=[visit.pk]))
        expect(main(page)).to_contain_text("Visit report: Ava Brown")
        expect(main(page)).not_to_contain_text("Page not found")
        shoot_both(page, "teacher-finished-report")
        page.context.close()
