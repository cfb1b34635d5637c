"""The school business manager's staff register, at the desk (1366x900), in Chromium, at a
school run under Coteford's policy (the business manager keeps the staff register, C 2.3;
enhanced DBS with the barred list, C 5.1; every car's make, model, colour, registration and
valid insurance, C 2.9). Jobs walked:

1. A proposed visit is blocked by a visitor's staff record (no DBS check; a car with only its
   registration and no insurance date): from the visit page's link to the register, the
   business manager records the DBS check, then the car's details with its business
   insurance and expiry (each audited), goes back to the visit from the record's "Back to the
   visit" link, and the visit page no longer blocks.
2. Inviting a new member of staff: added with their roles, the invitation queued as an
   email to them with its link (audited), their page says so.
3. A leaver: marking them as having left is refused while they are on a visit still to come
   and says why; their visit is handed to a colleague (checked against the policy, audited),
   then they are marked as having left and the register says so.
"""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from audit.actions import Action
from audit.models import AuditEntry
from notify.models import Channel, Message
from people.models import DbsCheck, StaffMember, Vehicle
from visits.models import Visit

from tests.browser_support import DESKTOP, SLOW, signed_in_page
from tests.factories import StaffFactory, Staffed, TrainingFactory, VisitFactory, compliant_staff
from tests.journeys.support import fits, shoot_both

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_the_business_manager_clears_a_register_block_invites_a_colleague_and_hands_over_a_leaver(
        browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    today = timezone.localdate()
    # A newly arrived teacher: trained, but no DBS check on record and a car known only by its plate.
    nia = StaffFactory(school=school.school, roles=["teacher"], full_name="Nia Newton")
    for course in ("home_visiting", "violence_prevention", "cultural_awareness"):
        TrainingFactory(staff=nia, course=course)
    Vehicle.objects.create(staff=nia, registration="NX21 ABC", active=True)
    blocked = VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, nia],
                           proposed_by=school.officer, appointment_agreed=True)
    # Someone leaving at half-term, still on a visit next week.
    leaver = compliant_staff(school.school, "family_support", full_name="Lee Leaving")
    handed = VisitFactory(school=school.school, pupil=school.pupil, staff=[leaver, school.family],
                          proposed_by=leaver, appointment_agreed=True)

    page = signed_in_page(browser, live_server, school.sbm.user.username, DESKTOP)

    # 1. The visit page says what on Nia's record stops the visit, and leads to it.
    page.goto(live_server.url + reverse("visits:detail", args=[blocked.pk]))
    main = page.locator("main")
    expect(main).to_contain_text("Nia Newton", timeout=SLOW)
    expect(main).to_contain_text("DBS")
    shoot_both(page, "sbm-visit-blocked")
    page.get_by_role("link", name="Update Nia Newton's record on the staff register").first.click()
    # The record carries the visit it was opened from, through each form, for the way back.
    record = live_server.url + reverse("people:staff_detail", args=[nia.pk]) + f"?next=%2Fvisits%2F{blocked.pk}%2F"
    expect(page).to_have_url(record, timeout=SLOW)

    page.get_by_role("link", name="Add a DBS check").click()
    expect(page.get_by_label("Certificate number")).to_be_visible(timeout=SLOW)
    page.get_by_label("Level").select_option("enhanced")
    page.get_by_label("Children's barred list checked").check()
    page.get_by_label("Certificate number").fill("001234567890")
    page.get_by_label("Date issued").fill((today - datetime.timedelta(days=60)).isoformat())
    shoot_both(page, "sbm-dbs-form")
    page.get_by_role("button", name=re.compile("Save")).click()
    expect(page).to_have_url(record, timeout=SLOW)
    expect(page.locator("main")).to_contain_text("001234567890", timeout=SLOW)
    assert DbsCheck.objects.filter(staff=nia, barred_list_checked=True).exists()

    page.get_by_role("link", name="Change").last.click()
    expect(page.get_by_label("Make")).to_be_visible(timeout=SLOW)
    page.get_by_label("Make").fill("Vauxhall")
    page.get_by_label("Model", exact=True).fill("Corsa")
    page.get_by_label("Colour").fill("Silver")
    page.get_by_label("Insurance expires on").fill((today + datetime.timedelta(days=300)).isoformat())
    page.get_by_label("Insured for business use").check()
    page.get_by_role("button", name=re.compile("Save")).click()
    expect(page).to_have_url(record, timeout=SLOW)
    expect(page.locator("main")).to_contain_text("Vauxhall", timeout=SLOW)
    shoot_both(page, "sbm-staff-record")
    assert AuditEntry.objects.filter(actor=school.sbm.user, action=Action.STAFF_DBSCHECK_ADDED).exists()
    assert AuditEntry.objects.filter(actor=school.sbm.user, action=Action.STAFF_VEHICLE_CHANGED).exists()

    page.get_by_role("link", name="Back to the visit").click()
    expect(page).to_have_url(live_server.url + reverse("visits:detail", args=[blocked.pk]), timeout=SLOW)
    expect(page.locator("main")).to_contain_text("The policy allows this", timeout=SLOW)
    expect(page.get_by_role("link", name=re.compile("Nia Newton's record"))).to_have_count(0)
    shoot_both(page, "sbm-visit-unblocked")

    # 2. A new member of staff, invited by email.
    page.goto(live_server.url + reverse("people:register"))
    page.get_by_role("link", name=re.compile("Add a member of staff")).first.click()
    expect(page.get_by_label("Full name")).to_be_visible(timeout=SLOW)
    page.get_by_label("Full name").fill("Ruth Rivers")
    page.get_by_label("Email address").fill("ruth.rivers@coteford.example")
    page.get_by_label("Mobile number").fill("07700 900321")
    page.get_by_label("Teacher", exact=True).check()
    page.get_by_role("button", name="Add and send the invitation").click()
    expect(page.locator("main")).to_contain_text("Ruth Rivers", timeout=SLOW)
    shoot_both(page, "sbm-invited")
    ruth = StaffMember.objects.get(full_name="Ruth Rivers")
    assert ruth.has_role("teacher")
    email = Message.objects.get(recipient=ruth, channel=Channel.EMAIL, kind="staff.invitation")
    assert email.to_address == "ruth.rivers@coteford.example" and email.link.startswith("/accounts/invitation/")
    assert AuditEntry.objects.filter(actor=school.sbm.user, action=Action.STAFF_INVITED).exists()

    # 3. The leaver: refused while a visit is ahead, the visit handed over, then marked.
    page.goto(live_server.url + reverse("people:staff_detail", args=[leaver.pk]))
    page.get_by_role("link", name="Mark as having left").click()
    expect(page.locator("main")).to_contain_text("still to come", timeout=SLOW)
    expect(page.locator("main")).to_contain_text("hand it over or withdraw it")
    shoot_both(page, "sbm-leaver-not-yet")
    page.get_by_role("link", name="Hand over Lee Leaving's visits").click()
    row = page.get_by_label("Who goes instead of Lee Leaving")
    expect(row).to_be_visible(timeout=SLOW)
    row.select_option(str(school.teacher.pk))
    page.get_by_role("button", name="Give the visit to them").click()
    expect(page.locator("main")).to_contain_text("Tess Teacher", timeout=SLOW)
    shoot_both(page, "sbm-handed-over")
    assert set(handed.assignments.values_list("staff__full_name", flat=True)) == {"Tess Teacher", "Fran Family"}
    assert AuditEntry.objects.filter(actor=school.sbm.user, action=Action.VISIT_REASSIGNED).exists()

    page.goto(live_server.url + reverse("accounts:staff_leave", args=[leaver.pk]))
    page.get_by_role("button", name="Mark as having left").click()
    expect(page.locator("main")).to_contain_text("Lee Leaving is marked as having left", timeout=SLOW)
    leaver.refresh_from_db()
    assert not leaver.active
    assert Visit.objects.get(pk=handed.pk).state == Visit.State.PROPOSED
    fits(page)
