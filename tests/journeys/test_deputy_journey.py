"""The deputy headteacher's jobs, in Chromium at a desk (1366x900).

Dev Deputy is deputy head of Coteford, whose policy lets the headteacher or the deputy agree a
visit (C 2.1), and also works at Potton, where only the headteacher authorises visits (P §3¶4).
The jobs, each finished:

1. Coteford's approvals inbox: approves a proposal the policy allows (audited with the deputy's
   name), and declines another with a reason, which the visit's history then shows.
2. Potton: the home page, the inbox and the visit page say plainly that Potton's headteacher
   approves visits, and why (the clause); a proposal the policy would otherwise allow is not
   offered to the deputy to approve.
3. Reads a visit that has happened, then its report (what was agreed; the attendance, here
   that no marks are recorded yet, in words) and opens the report's PDF.
"""
import pytest
from django.urls import reverse
from playwright.sync_api import expect

from audit.models import AuditEntry
from reports import services as report_services
from visits import services
from visits.models import Visit

from tests.factories import PupilFactory, Staffed, StaffFactory, at, home_visit_ra, next_school_day
from tests.journeys.support import main, pdf_opens, shoot_both, signed_in, morning_clock
from tests.records_support import ended_visit, report_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def the_deputys_morning():
    cot = Staffed("coteford", name="Coteford Junior School")
    pot = Staffed("potton", name="Potton Primary School")
    StaffFactory(school=pot.school, user=cot.deputy.user, roles=["deputy_headteacher"], full_name="Dev Deputy")
    day = next_school_day()
    allowed = services.propose(cot.officer, **cot.visit_kwargs())
    leo = PupilFactory(school=cot.school, first_name="Leo", last_name="Green")
    home_visit_ra(leo, author=cot.sbm)
    declined = services.propose(cot.teacher, **cot.visit_kwargs(
        pupil=leo, staff=[cot.teacher, cot.family], starts_at=at(day, 13, 30), ends_at=at(day, 14, 15),
        reason="Leo was late three times this week."))
    potton_visit = services.propose(pot.officer, **pot.visit_kwargs())
    done = ended_visit(cot)
    report_services.submit_report(cot.officer, done, report_data(
        summary="Mother says mornings are hard since the baby was born; Ava wants to come to school."))
    return cot, pot, allowed, declined, potton_visit, done


def test_the_deputy_approves_where_the_policy_allows_is_told_who_approves_where_not_and_reads_a_report(
        browser, live_server):
    with morning_clock():
        walk(browser, live_server)


def walk(browser, live_server):
    cot, pot, allowed, declined, potton_visit, done = the_deputys_morning()
    url = live_server.url
    page = signed_in(browser, live_server, cot.deputy.user.username)

    # 1. Coteford: approve one, decline another with a reason.
    page.get_by_role("link", name="Approvals").first.click()
    expect(page.get_by_role("heading", name="Visits waiting for approval")).to_be_visible()
    card = page.locator("li.card", has=page.get_by_role("link", name="Ava Brown"))
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Visit approved.")).to_be_visible()
    allowed.refresh_from_db()
    assert allowed.state == Visit.State.APPROVED and allowed.approved_by == cot.deputy
    assert AuditEntry.objects.filter(action="visit.approved", object_id=str(allowed.pk),
                                     actor=cot.deputy.user).exists()
    card = page.locator("li.card", has=page.get_by_role("link", name="Leo Green"))
    card.get_by_text("Decline with a reason").click()
    card.get_by_label("Why are you declining this visit?").fill(
        "Talk to Leo's mother at the gate first; a visit is not needed for lateness yet.")
    card.get_by_role("button", name="Decline the visit").click()
    expect(page.get_by_text("Visit declined.")).to_be_visible()
    declined.refresh_from_db()
    assert declined.state == Visit.State.DECLINED
    page.goto(url + reverse("visits:detail", args=[declined.pk]))
    expect(main(page)).to_contain_text("a visit is not needed for lateness yet")

    # 2. Potton: the deputy is told who approves, and why.
    page.goto(url + reverse("home"))
    page.get_by_label("Working in").select_option(label="Potton Primary School")
    page.get_by_role("button", name="Switch school").click()
    expect(page.get_by_role("heading", name="Waiting for approval")).to_be_visible()
    expect(main(page)).to_contain_text("visits are approved by the headteacher")
    page.get_by_role("link", name="Approvals").first.click()
    card = page.locator("li.card", has=page.get_by_role("link", name="Ava Brown"))
    expect(card).to_contain_text("headteacher")
    expect(card.get_by_role("button", name="Approve")).to_have_count(0)
    shoot_both(page, "deputy-potton-approvals")
    card.get_by_role("link", name="Open the visit").click()
    expect(main(page)).to_contain_text("P §3¶4")
    shoot_both(page, "deputy-potton-visit")
    potton_visit.refresh_from_db()
    assert potton_visit.state == Visit.State.PROPOSED

    # 3. Back at Coteford: a visit that has happened, its report and the PDF.
    page.goto(url + reverse("home"))
    page.get_by_label("Working in").select_option(label="Coteford Junior School")
    page.get_by_role("button", name="Switch school").click()
    page.goto(url + reverse("visits:detail", args=[done.pk]))
    expect(main(page)).to_contain_text("Completed")
    page.get_by_role("link", name="Visit report").first.click()
    expect(page.get_by_role("heading", name="Visit report: Ava Brown")).to_be_visible()
    expect(main(page)).to_contain_text("Ava wants to come to school")
    expect(main(page)).to_contain_text("No attendance marks recorded from")
    shoot_both(page, "deputy-report")
    pdf_opens(page, reverse("reports:report_pdf", args=[done.pk]))
    assert AuditEntry.objects.filter(actor=cot.deputy.user, action__startswith="report.").exists()
    page.context.close()  # nothing of this person's left open, reading the database, into the next test
