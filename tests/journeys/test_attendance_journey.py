"""The attendance officer's jobs, in Chromium, at a school run under Coteford's policy (below
90% over three months the authorities are told, C 4.4, and the headteacher decides; two staff
on every visit, C 2.10; reminder letters when an agreement is broken, C 4.2). At the desk
(1366x900), then on a phone (390x844) as between visits. Jobs walked:

1. The referral queue: a persistently absent pupil's case, opened by the daily check; the
   officer is told the headteacher decides (no decision form), and the referral pack PDF
   opens (audited).
2. From the case, the pupil's page: the weekly attendance chart with the threshold.
3. On the phone, proposing a home visit for that pupil: the plan's live check blocks one
   person alone (C 2.10), passes once a colleague is ticked while noting the home-visit risk
   assessment needed before the day, and proposing says it waits for the headteacher.
4. After an earlier visit: the home page lists the agreement whose review date has come; the
   officer records it as not kept, with how they judged it (audited), and the report shows what
   happens next (the reminder letter for the headteacher, a follow-up visit to propose).
"""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from attendance import services as attendance_services
from attendance.models import ReferralCase
from audit.actions import Action
from audit.models import AuditEntry
from reports import services as report_services
from reports.models import Agreement, Letter
from visits.models import Visit

from tests.browser_support import DESKTOP, PHONE, SLOW, signed_in_page
from tests.factories import PupilFactory, Staffed, next_school_day
from tests.journeys.support import fits, pdf_opens, shoot_both
from tests.records_support import ended_visit, marks, report_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def test_the_attendance_officer_follows_a_referral_proposes_a_visit_and_reviews_an_agreement(browser, live_server):
    school = Staffed("coteford", name="Coteford Junior School")
    today = timezone.localdate()
    # Mia misses about one session in three, all term.
    mia = PupilFactory(school=school.school, first_name="Mia", last_name="Shaw")
    marks(mia, today - datetime.timedelta(days=100), "//O/N/" * 22)
    attendance_services.scan_school(school.school)
    case = ReferralCase.objects.get(pupil=mia)
    # Ava's visit last week ended with an agreement whose review date has come.
    visited = ended_visit(school)
    report_services.submit_report(school.officer, visited, report_data())
    agreement = Agreement.objects.create(
        school=school.school, pupil=school.pupil, visit=visited, text="Ava is at the gate by 8:50 every day.",
        review_on=today - datetime.timedelta(days=1), made_by=school.officer,
        made_at=timezone.now() - datetime.timedelta(days=6))

    page = signed_in_page(browser, live_server, school.officer.user.username, DESKTOP)

    # 1. The referral queue and the case.
    page.get_by_role("link", name="Referrals").first.click()
    expect(page.get_by_role("heading", name="Attendance referrals")).to_be_visible(timeout=SLOW)
    expect(page.locator("main")).to_contain_text("The headteacher decides")
    expect(page.locator("main")).not_to_contain_text("You decide")
    page.get_by_role("link", name="Open").first.click()
    expect(page).to_have_url(live_server.url + reverse("attendance:case", args=[case.pk]), timeout=SLOW)
    expect(page.locator("main")).to_contain_text("Waiting for the headteacher", timeout=SLOW)
    expect(page.get_by_role("button", name="Record the decision")).to_have_count(0)
    shoot_both(page, "attendance-case")
    pdf_opens(page, page.get_by_role("link", name="Referral pack (PDF)").get_attribute("href") or "")
    assert AuditEntry.objects.filter(actor=school.officer.user, action=Action.REFERRAL_PACK_RENDERED).exists()

    # 2. The pupil's attendance chart.
    page.get_by_role("link", name="Pupil page").click()
    expect(page).to_have_url(live_server.url + reverse("pupils:detail", args=[mia.pk]), timeout=SLOW)
    expect(page.get_by_role("img", name=re.compile("Weekly attendance")).first).to_be_visible(timeout=SLOW)
    fits(page)

    # 3. On the phone: propose a visit, with the plan's live check.
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="Propose a visit").click()
    expect(page.get_by_label("Why is this visit needed?")).to_be_visible(timeout=SLOW)
    page.get_by_label("Purpose").select_option("attendance")
    page.get_by_label("Why is this visit needed?").fill("Misses a third of sessions; no answer to calls or letters.")
    page.get_by_label("Date").fill(next_school_day().isoformat())
    page.get_by_label("Start time").fill("10:00")
    page.get_by_label("End time").fill("10:45")
    page.get_by_label("End time").press("Tab")  # a typed time is "changed" when the field is left
    expect(page.locator("#plan-findings .verdict--block")).to_be_visible(timeout=SLOW)
    findings = page.locator("#plan-findings")
    expect(findings).to_contain_text("members of staff on every home visit", timeout=SLOW)
    page.get_by_label("Tess Teacher", exact=False).check()
    # The live check has answered for the pair: nothing blocks; what is needed before the day is noted.
    expect(page.locator("#plan-findings .verdict--ok")).to_be_visible(timeout=SLOW)
    expect(findings).not_to_contain_text("members of staff on every home visit")
    expect(findings).to_contain_text("risk assessment")
    page.get_by_label("Tess Teacher", exact=False).check()  # again, once the live check has settled
    shoot_both(page, "attendance-propose-checked")
    fits(page)
    page.get_by_role("button", name="Propose this visit").click()
    expect(page.get_by_text("It now waits for approval by the headteacher")).to_be_visible(timeout=SLOW)
    proposed = Visit.objects.get(pupil=mia)
    assert proposed.state == Visit.State.PROPOSED and proposed.assignments.count() == 2

    # 4. The agreement due for review, from the home page.
    page.goto(live_server.url + reverse("home"))
    due = page.get_by_role("link", name="Review the agreement: Ava Brown")
    expect(due).to_be_visible(timeout=SLOW)
    shoot_both(page, "attendance-home-agreement-due")
    due.click()
    expect(page).to_have_url(re.compile(re.escape(reverse("reports:report", args=[visited.pk]))), timeout=SLOW)
    card = page.locator(f"#agreement-{agreement.pk}")
    card.get_by_text("Review this agreement").click()
    card.get_by_label("Not kept").check()
    card.get_by_label("How you judged it").fill("Late on three mornings; mother says the bus was full.")
    card.get_by_role("button", name="Record the review").click()
    expect(page.get_by_text("Agreement reviewed: not kept.")).to_be_visible(timeout=SLOW)
    card = page.locator(f"#agreement-{agreement.pk}")
    expect(card).to_contain_text("ready for the headteacher to approve and send")
    expect(card.get_by_role("link", name="Propose a follow-up visit")).to_be_visible()
    shoot_both(page, "attendance-agreement-not-kept")
    agreement.refresh_from_db()
    assert agreement.status == Agreement.Status.BROKEN and agreement.reviewed_by == school.officer
    assert Letter.objects.filter(agreement=agreement, status=Letter.Status.DRAFT).exists()
    assert AuditEntry.objects.filter(actor=school.officer.user, action=Action.AGREEMENT_BROKEN).exists()
