"""The school office's day, in Chromium at a desk (1366x900), on the board and the visit pages:

1. the day's visits: the home page leads to the board, which shows the visits under way;
2. records the appointment the family agreed for an approved visit, with a note ("knock at the
   side door"); the visit joins the board as not started yet, and the note reaches the
   visiting teacher's briefing on their phone (390x844);
3. a missed check-in turns into an alert (the watchdog's pass, under the test clock): "I am
   dealing with it", a call to the visitor recorded from the board, then resolved with what
   happened;
4. the code word is heard on a call: the alarm on the board says who heard it, and the police
   card opens with the staff, their car and who raised the alarm;
5. signs out of the board.

Each step is asserted on what the page says, then on the database (states, audit entries).
Each step loads the board afresh; its live push is tested in tests/safety/test_browser_safety.py
and kept quiet here (support.QuietBoard)."""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEntry
from safety import recording
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert
from safety.checkins.models import VisitEvent
from visits import services as visit_services
from visits.models import Visit

from tests.browser_support import DESKTOP, PHONE
from tests.factories import PupilFactory, Staffed, VehicleFactory, VisitFactory, at
from tests.journeys.support import QuietBoard, main, morning_clock, open_as, shoot_both, watching

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def under_way(school, staff, start, pupil):
    """A scheduled hour-long visit this morning whose first visitor arrived and went in at `start`."""
    visit = VisitFactory(school=school.school, pupil=pupil, staff=staff, state=Visit.State.SCHEDULED,
                         starts_at=start, ends_at=start + datetime.timedelta(hours=1), proposed_by=staff[0],
                         appointment_agreed=True)
    recording.record_event(visit, "arrived", by=staff[0], location="Outside the house")
    recording.record_event(visit, "entered", by=staff[0])
    return visit


def test_the_office_runs_a_morning_of_visits_from_the_board(browser, live_server, monkeypatch):
    streams = QuietBoard(monkeypatch)
    with morning_clock(9, 0) as clock:
        today = timezone.localdate()
        school = Staffed("coteford", name="Coteford Junior School")
        VehicleFactory(staff=school.officer, make="Ford", model="Fiesta", colour="silver", registration="YR21 KDP")
        watching()
        # Fran and Dev went into Leo's home at 9:00 (check-in due 9:20, alert at 9:25: C 2.4).
        missed = under_way(school, [school.family, school.deputy], at(today, 9, 0),
                           PupilFactory(school=school.school, first_name="Leo", last_name="Green"))
        # Tess proposed a visit to Ava for 11:00 with Ali; the head approved it.
        planned = visit_services.propose(school.teacher, **school.visit_kwargs(
            starts_at=at(today, 11, 0), ends_at=at(today, 11, 45), staff=[school.teacher, school.officer]))
        visit_services.approve(school.head, planned)
        # Ali and Dani went into Mia's home at 9:20.
        clock.move_to(at(today, 9, 20))
        calm = under_way(school, [school.officer, school.dsl], at(today, 9, 20),
                         PupilFactory(school=school.school, first_name="Mia", last_name="Khan"))
        clock.move_to(at(today, 9, 30))
        watching()
        assert watchdog_loop.poll()["raised"] == 1  # the watchdog's pass finds Fran's missed check-in

        # 1. The day's visits: the home page, then the board.
        office = open_as(browser, live_server, school.office, DESKTOP)
        expect(main(office)).to_contain_text("2 under way · 1 overdue or in alarm · 1 open alert")
        expect(main(office)).to_contain_text("Ava Brown Approved")
        office.get_by_role("link", name="Open the office board").click()
        expect(office).to_have_url(live_server.url + reverse("alerts:board"))
        late, fine = office.locator(f"#visit-{missed.pk}"), office.locator(f"#visit-{calm.pk}")
        expect(late).to_have_attribute("data-urgency", "overdue")
        # The step's countdown, once due, says so in words (it said "the next step in now").
        expect(late).to_contain_text("nobody has taken it on: the next step is due now")
        expect(fine).to_contain_text("Ali Attendance: 07700")
        shoot_both(office, "office-board-overdue")

        # 2. The family agreed 11:00 and asked for the side door. The visit page says what it
        # still needs (Coteford: on a list the head signs, C 3.3; the appointment, C 2.6).
        office.goto(live_server.url + reverse("visits:detail", args=[planned.pk]))
        expect(main(office)).to_contain_text("this visit is not on a signed list")
        office.get_by_role("link", name="Put the visit on a list for the headteacher to sign").click()
        expect(office.get_by_role("heading", name="Compile a visit list")).to_be_visible()
        when = f"{timezone.localtime(planned.starts_at):%A %-d %B %Y, %H:%M}"
        office.get_by_label(f"Ava Brown: Attendance, {when}").check()  # dated as people write it
        shoot_both(office, "office-visit-list-form")
        office.get_by_role("button", name="Compile the list").click()
        expect(main(office)).to_contain_text("Visit list compiled. It waits for the headteacher's signature.")
        planned.refresh_from_db()
        visit_services.sign_visit_list(school.head, planned.visit_list)  # the head's job (their journey)

        office.goto(live_server.url + reverse("visits:detail", args=[planned.pk]))
        expect(main(office)).not_to_contain_text("this visit is not on a signed list")
        office.get_by_label("An appointment has been agreed with the parent or carer").check()
        office.get_by_label("Written confirmation of the appointment is held in the office").check()
        office.get_by_label("Parent or carer who agreed").select_option(value=str(school.contact.pk))
        office.get_by_label("Appointment notes (optional)").fill("Knock at the side door: the front bell is broken.")
        office.get_by_role("button", name="Record the appointment and schedule the visit").click()
        expect(main(office)).to_contain_text("Appointment recorded. The visit is scheduled.")
        expect(main(office)).to_contain_text("Knock at the side door: the front bell is broken.")
        planned.refresh_from_db()
        assert planned.state == Visit.State.SCHEDULED and planned.appointment_agreed_with == school.contact
        assert AuditEntry.objects.filter(action="visit.scheduled", object_id=str(planned.pk),
                                         actor=school.office.user).exists()

        # ...and it is in Tess's briefing on her phone.
        tess = open_as(browser, live_server, school.teacher, PHONE)
        tess.goto(live_server.url + reverse("checkins:visit", args=[planned.pk]))
        expect(tess.locator("#appointment")).to_contain_text("Knock at the side door: the front bell is broken.")
        tess.context.close()

        # 3. The missed check-in: taken on, the visitor rung, then resolved with what happened.
        office.goto(live_server.url + reverse("alerts:board"))
        expect(late).to_contain_text("nobody has taken it on")
        late.get_by_role("button", name="Acknowledge: I am dealing with it").click()
        expect(main(office)).to_contain_text("nobody else is being told while you deal with it")
        expect(late).to_contain_text(f"taken on by {school.office.full_name}")
        late.get_by_role("link", name="By phone, with a note").click()
        expect(office.get_by_role("heading", name="Checked in by phone")).to_be_visible()
        office.get_by_label("Note (optional)").fill("Rang Fran: the meeting ran over, both fine.")
        office.get_by_role("button", name="Record the check-in").click()
        expect(main(office)).to_contain_text("Check-in by phone recorded for Fran Family and Dev Deputy")
        late.get_by_role("link", name="Resolve").click()
        expect(office.get_by_role("heading", name=re.compile("Resolve"))).to_be_visible()
        office.get_by_label("Staff safe").check()
        office.get_by_label("Note").fill("Rang Fran at 09:31: the meeting ran over, both safe.")
        office.get_by_role("button", name="Resolve the alert").click()
        expect(main(office)).to_contain_text("Alert resolved.")
        alert = Alert.objects.get(visit=missed)
        assert alert.state == Alert.State.RESOLVED and alert.resolution == Alert.Resolution.STAFF_SAFE
        for action in ("alert.acknowledged", "alert.resolved"):
            assert AuditEntry.objects.filter(action=action, actor=school.office.user).exists(), action
        assert VisitEvent.objects.filter(visit=missed, type="check_in", via="office_call").exists()

        # 4. On a call to Ali, the code word: the alarm says who took it, and the police card opens.
        fine.get_by_role("link", name="Code word heard").click()
        expect(office.get_by_role("heading", name="Did you hear the code word?")).to_be_visible()
        office.get_by_role("button", name="Yes: the code word was heard. Raise the alarm").click()
        expect(main(office)).to_contain_text("Code word recorded")
        expect(fine).to_contain_text(f"Code word heard by {school.office.full_name}")
        shoot_both(office, "office-board-code-word")
        fine.get_by_role("link", name="Police card").click()
        expect(office.get_by_role("heading", name="Police card")).to_be_visible()
        card = main(office)
        expect(card).to_contain_text(f"heard by {school.office.full_name}")
        expect(card).to_contain_text("YR21 KDP")
        expect(card).to_contain_text("Dani Safeguarding")
        shoot_both(office, "office-police-card")
        assert AuditEntry.objects.filter(action="alert.police_card_read", actor=school.office.user).exists()

        # 5. Signing out of the board.
        office.goto(live_server.url + reverse("alerts:board"))
        office.get_by_role("button", name="Sign out").click()
        expect(office).to_have_url(re.compile(r"/accounts/login/"))
        expect(main(office)).to_contain_text("You have signed out.")
        shoot_both(office, "office-signed-out")
        office.goto(live_server.url + reverse("alerts:board"))
        expect(office).to_have_url(re.compile(r"/accounts/login/"))
        office.context.close()
        streams.wait_closed()
