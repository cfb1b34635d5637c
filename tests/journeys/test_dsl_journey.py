"""The designated safeguarding lead's day at the desk (1366x900), in Chromium, at a school run
under St Hugh's policy (concerns go to the DSL, H §6¶4; anyone may write the home-visit risk
assessment, H §3¶6; the executive headteacher approves every visit, H §2). Jobs walked:

1. A safeguarding concern raised in a visit report reaches the DSL: the home page's messages
   link, the message, the concern (who raised it, when, what, who was told; opening it marks
   its message read), the pupil's chronology (who did what, in words), and its PDF export
   opens (audited); the menu's list of concerns shows it, newest first, as read by the DSL.
2. A home flagged as risky (a dangerous household note) blocks a proposed visit: the visit page
   says a risk assessment is needed and links to the form; the DSL records one with a hazard
   and its controls (audited), and the visit page no longer blocks: it waits only for the
   headteacher's approval.
3. Approving: no policy asks the DSL to approve a visit (MATRIX.md §1: the headteacher, or the
   deputy; the DSL gives input, P §3¶4); the visit page offers the DSL no Approve button and
   says who approves, citing the clause, nor a Withdraw button on a colleague's proposal.
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
from reports import services as report_services
from reports.models import Concern
from risk.models import RiskAssessment

from tests.browser_support import DESKTOP, SLOW, signed_in_page
from tests.factories import HouseholdNoteFactory, PupilFactory, Staffed, VisitFactory
from tests.journeys.support import fits, pdf_opens, shoot_both
from tests.records_support import ended_visit, report_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_the_dsl_reads_a_concern_then_assesses_a_risky_home_so_its_visit_can_be_approved(browser, live_server):
    school = Staffed("st-hughs", name="St Hugh's Catholic Primary School")
    visited = ended_visit(school)
    report_services.submit_report(school.officer, visited, report_data(
        safeguarding_concern="Ava said an older cousin hits her when her mother is at work."))
    concern = Concern.objects.get()

    risky = PupilFactory(school=school.school, first_name="Leo", last_name="Grant")
    HouseholdNoteFactory(pupil=risky, dangerous=True, recorded_at=timezone.now() - datetime.timedelta(days=3),
                         text="The father has threatened staff at the school gate.")
    blocked = VisitFactory(school=school.school, pupil=risky, staff=[school.officer, school.teacher],
                           proposed_by=school.officer, appointment_agreed=True)

    page = signed_in_page(browser, live_server, school.dsl.user.username, DESKTOP)

    # 1. The concern, from the message the DSL was sent.
    page.get_by_role("link", name=re.compile("Messages")).first.click()
    message = page.get_by_role("link", name="Safeguarding concern raised on a home visit")
    expect(message).to_be_visible(timeout=SLOW)
    message.click()
    expect(page).to_have_url(live_server.url + reverse("reports:concern", args=[concern.pk]), timeout=SLOW)
    main = page.locator("main")
    expect(main).to_contain_text("Ava said an older cousin hits her", timeout=SLOW)
    expect(main).to_contain_text(school.officer.full_name)
    shoot_both(page, "dsl-concern")

    page.get_by_role("link", name="The pupil's chronology").click()
    expect(page).to_have_url(live_server.url + reverse("reports:chronology", args=[school.pupil.pk]), timeout=SLOW)
    chronology = page.locator("#chronology")
    expect(chronology).to_contain_text("Ava said an older cousin hits her", timeout=SLOW)
    fits(page)
    shoot_both(page, "dsl-chronology")
    pdf = pdf_opens(page, page.get_by_role("link", name="Export PDF").get_attribute("href") or "")
    assert len(pdf) > 1000
    assert AuditEntry.objects.filter(actor=school.dsl.user, action=Action.CHRONOLOGY_EXPORTED).exists()
    assert AuditEntry.objects.filter(actor=school.dsl.user, action=Action.CONCERN_VIEWED).exists()
    # Opened, the concern no longer waits in Messages as unread.
    assert not Message.objects.filter(recipient=school.dsl, channel=Channel.IN_APP, read_at__isnull=True,
                                      link=reverse("reports:concern", args=[concern.pk])).exists()

    page.locator(".main-nav").get_by_role("link", name="Concerns").click()
    expect(page).to_have_url(live_server.url + reverse("reports:concerns"), timeout=SLOW)
    listed = page.locator("#concerns li")
    expect(listed).to_have_count(1, timeout=SLOW)
    expect(listed.first).to_contain_text(f"Safeguarding concern: {school.pupil.full_name}")
    expect(listed.first).to_contain_text(f"Raised by {school.officer.full_name} on "
                                         f"{timezone.localtime(concern.raised_at):%A %-d %B %Y, %H:%M}")
    expect(listed.first).to_contain_text(f"First read by {school.dsl.full_name} on ")
    shoot_both(page, "dsl-concerns")

    # 2. The risky home: the visit is blocked until its risk assessment is recorded.
    page.goto(live_server.url + reverse("visits:detail", args=[blocked.pk]))
    fix = page.get_by_role("link", name="Record the home-visit risk assessment").first
    expect(fix).to_be_visible(timeout=SLOW)
    shoot_both(page, "dsl-visit-blocked")
    fix.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("risk assessment", timeout=SLOW)
    shoot_both(page, "dsl-risk-form")
    expect(page.get_by_label("Pupil (home-visit assessment)")).to_have_value(str(risky.pk))
    page.get_by_label("Summary").fill("Father has threatened staff; visit in pairs, stay near the door.")
    page.get_by_label("What could cause harm").first.fill("Threats from the father")
    page.get_by_label("Who could be harmed").first.fill("Visiting staff")
    page.get_by_label("Severity").first.select_option("4")
    page.get_by_label("Likelihood").first.select_option("3")
    page.get_by_label("What to do about it").first.fill("Two staff; meet on the doorstep; leave if he is there.")
    page.get_by_role("button", name=re.compile("Save")).click()
    expect(page.locator("main")).to_contain_text("Threats from the father", timeout=SLOW)
    assessment = RiskAssessment.objects.get(pupil=risky)
    assert assessment.author == school.dsl
    assert AuditEntry.objects.filter(actor=school.dsl.user, action=Action.RISK_CREATE).exists()

    # The visit no longer waits for its assessment, only for the headteacher (3.).
    page.goto(live_server.url + reverse("visits:detail", args=[blocked.pk]))
    main = page.locator("main")
    expect(page.locator("#who-approves")).to_have_text(
        "Under this school's policy (H §2) visits are approved by the headteacher.", timeout=SLOW)
    expect(main).to_contain_text("The policy allows this for approval.")
    expect(page.get_by_role("link", name="Record the home-visit risk assessment")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    # The officer's proposal is theirs to withdraw (or the head's), not the DSL's.
    expect(page.get_by_text("Withdraw this visit")).to_have_count(0)
    shoot_both(page, "dsl-visit-unblocked")
