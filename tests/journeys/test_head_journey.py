"""The headteacher's day, in Chromium: at a desk (1366x900), then on a phone (390x844).

Hana Head is headteacher of Coteford (two staff always, C 2.10; the head signs the compiled
visit list, C 3.3) and executive head of Potton (a lone visit only if the head authorises it,
P §4¶1; out of school hours only with no reasonable alternative and a responsible contact,
P §3¶5). The jobs, each finished:

1. Coteford's approvals inbox: a proposal the policy blocks says what must be resolved, with
   no Approve button; the head opens it, follows "Add a second member of staff", adds one,
   sees the live check pass, saves the changed plan and approves it (audited).
2. Signs the compiled visit list, with each pupil's attendance on it (C 3.2, C 3.3).
3. Rewords a draft reminder letter after a broken agreement, then approves and sends it; the
   message that asked for it no longer waits in her Messages.
4. Reads the audit trail and finds the approval just made, said in words.
5. Opens the board and sees the visit under way today, and who is on it; from there, the
   written reasons she receives: a visit cancelled, why, and its written reason as a PDF.
6. Switches to Potton: a lone evening visit is authorised with a reason, the hours rule
   overridden with a reason, a responsible contact named in the plan, and the visit approved.
7. On the phone, back at Coteford: approves a proposal from the inbox.
"""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEntry
from reports import services as report_services
from reports.models import Letter
from safety import recording
from visits import services
from visits.models import Override, Visit, VisitList

from tests.browser_support import PHONE
from tests.factories import (
    PupilFactory, Staffed, StaffFactory, VisitFactory, at, home_visit_ra, lone_working_ra, next_school_day,
)
from tests.journeys.support import main, pdf_opens, shoot_both, signed_in, watching, morning_clock
from tests.records.test_agreements import agreement, old_visit
from tests.records_support import marks

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


def the_heads_morning():
    """What the staff have done before the head sits down: proposals, a compiled list, a
    broken agreement's draft letter, a visit under way; and Potton's lone evening visit."""
    cot = Staffed("coteford", name="Coteford Junior School")
    pot = Staffed("potton", name="Potton Primary School")
    # The executive head: headteacher of both schools, one sign-in.
    StaffFactory(school=pot.school, user=cot.head.user, roles=["headteacher"], full_name="Hana Head")
    day = next_school_day()

    lone = services.propose(cot.officer, **cot.visit_kwargs(staff=[cot.officer]))
    leo = PupilFactory(school=cot.school, first_name="Leo", last_name="Green")
    home_visit_ra(leo, author=cot.sbm)
    ready = services.propose(cot.teacher, **cot.visit_kwargs(
        pupil=leo, staff=[cot.teacher, cot.family], starts_at=at(day, 13, 30), ends_at=at(day, 14, 15),
        reason="Leo has missed eight sessions this half-term; mother asked for a visit."))
    listed = services.propose(cot.officer, **cot.visit_kwargs(starts_at=at(day, 15), ends_at=at(day, 15, 45),
                                                              staff=[cot.officer, cot.dsl]))
    services.approve(cot.deputy, listed)
    visit_list = services.create_visit_list(cot.office, title="Attendance visits next week", visits=[listed])
    called_off = services.propose(cot.officer, **cot.visit_kwargs(starts_at=at(day, 11, 30), ends_at=at(day, 12, 15)))
    services.approve(cot.deputy, called_off)
    services.cancel(cot.officer, called_off, reason="Mother rang the office: she is in hospital this week.")

    agreed = agreement(cot, old_visit(cot), text="Ava in school by 8.50 evry day (agreed w/ mum)")
    marks(cot.pupil, agreed.window_from, "OOOOOOOOOO")
    report_services.review_due_agreements()

    now = timezone.now()
    under_way = VisitFactory(school=cot.school, pupil=cot.pupil, staff=[cot.teacher, cot.family],
                             state=Visit.State.SCHEDULED, starts_at=now + datetime.timedelta(minutes=15),
                             ends_at=now + datetime.timedelta(minutes=60), proposed_by=cot.teacher,
                             approved_by=cot.head, policy_version=cot.school.current_policy())
    recording.record_event(under_way, "left_school", by=cot.teacher)

    lone_working_ra(pot.officer)
    evening = services.propose(pot.officer, pupil=pot.pupil, purpose="attendance",
                               reason="Mother works days and can only meet after six.",
                               starts_at=at(day, 18), ends_at=at(day, 18, 45), staff=[pot.officer])
    return cot, pot, lone, ready, visit_list, called_off, evening


def test_the_head_approves_signs_words_a_letter_checks_the_trail_and_the_board(browser, live_server):
    with morning_clock():
        walk(browser, live_server)


def walk(browser, live_server):
    cot, pot, lone, ready, visit_list, called_off, evening = the_heads_morning()
    url = live_server.url
    page = signed_in(browser, live_server, cot.head.user.username)

    # 1. The approvals inbox: the blocked proposal says why, with no Approve button.
    page.get_by_role("link", name="Approvals").first.click()
    expect(page.get_by_role("heading", name="Visits waiting for approval")).to_be_visible()
    blocked = page.locator("li.card", has=page.get_by_role("link", name="Ava Brown")).first
    expect(blocked).to_contain_text("Not ready to approve")
    expect(blocked.get_by_role("button", name="Approve")).to_have_count(0)
    shoot_both(page, "approvals")
    blocked.get_by_role("link", name="Open the visit").click()
    expect(page).to_have_url(url + reverse("visits:detail", args=[lone.pk]))
    expect(main(page)).to_contain_text("C 2.10")
    page.get_by_role("link", name="Add a second member of staff").first.click()
    expect(page).to_have_url(re.compile(re.escape(reverse("visits:edit", args=[lone.pk]))))
    page.locator("#plan-findings .verdict--block").wait_for()
    page.get_by_label("Tess Teacher").check()
    page.locator("#plan-findings .verdict--ok").wait_for()
    page.get_by_role("button", name="Save the changed plan").click()
    expect(page.get_by_text("Plan changed.")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Visit approved.")).to_be_visible()
    lone.refresh_from_db()
    assert lone.state == Visit.State.APPROVED and lone.approved_by == cot.head
    assert AuditEntry.objects.filter(action="visit.plan_changed", object_id=str(lone.pk)).exists()

    # 2. The compiled visit list, with attendance (C 3.2), signed (C 3.3).
    page.get_by_role("link", name="Visit lists").first.click()
    page.get_by_role("link", name="Attendance visits next week").click()
    expect(main(page)).to_contain_text("Attendance")
    shoot_both(page, "visit-list")
    page.get_by_role("button", name="Sign this visit list").click()
    expect(page.get_by_text("Visit list signed.")).to_be_visible()
    assert VisitList.objects.get(pk=visit_list.pk).is_signed

    # 3. The draft letter: reworded, then approved and sent as worded.
    page.get_by_role("link", name="Letters").first.click()
    page.get_by_role("link", name="Ava Brown").first.click()
    expect(page.get_by_role("heading", name="What the staff recorded")).to_be_visible()
    shoot_both(page, "letter")
    words = ("When we visited you, we agreed that Ava would be in school by 8.50 every morning.\n\n"
             "Since then Ava has missed school on five days. Please ring the office to talk about it.")
    page.get_by_role("textbox", name="The letter").fill(words)
    page.get_by_role("button", name="Approve and send this letter").click()
    expect(page.get_by_text("Letter approved and marked as sent")).to_be_visible()
    letter = Letter.objects.get()
    assert letter.status == "sent" and letter.body == words and letter.sent_by.user == cot.head.user

    # 4. The audit trail: the approval, in words.
    page.get_by_role("link", name="Audit", exact=True).first.click()
    page.get_by_label("What was done").select_option(label="Approved the visit")
    page.get_by_role("button", name="Search").click()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("Hana Head")
    expect(row).to_contain_text("Approved the visit")
    shoot_both(page, "audit")

    # 5. The board: the visit under way today, and who is on it.
    watching()
    page.get_by_role("link", name="Board").first.click()
    expect(main(page)).to_contain_text("Tess Teacher")
    shoot_both(page, "board")
    # ... and from it, the written reasons she receives: a visit cancelled, and why.
    page.get_by_role("link", name="Alerts and written reasons").click()
    cancelled = page.locator("section", has=page.get_by_role("heading", name="Visits cancelled"))
    expect(cancelled).to_contain_text("Mother rang the office: she is in hospital this week.")
    shoot_both(page, "written-reasons")
    cancelled.get_by_role("link", name="Ava Brown").click()
    page.get_by_role("link", name="Written reason for the headteacher (PDF)").first.wait_for()
    pdf_opens(page, reverse("reports:closure_reason", args=[called_off.pk]))
    # The message that asked for the letter asks no more: it was sent.
    page.get_by_role("link", name="Messages").first.click()
    expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    expect(main(page)).not_to_contain_text("A reminder letter is waiting for you")
    shoot_both(page, "messages")

    # 6. Potton: a lone evening visit, authorised and overridden with reasons, then approved.
    page.goto(url + reverse("home"))
    page.get_by_label("Working in").select_option(label="Potton Primary School")
    page.get_by_role("button", name="Switch school").click()
    page.get_by_role("link", name="Approvals").first.click()
    page.get_by_role("link", name="Open the visit").first.click()
    expect(page).to_have_url(url + reverse("visits:detail", args=[evening.pk]))
    shoot_both(page, "potton-evening")
    page.get_by_role("link", name="Authorise a lone visit, with your reason").click()
    page.get_by_label("Why is a lone visit safe and appropriate here?").fill(
        "Ali knows the family well; mother asked for one person; his lone-working assessment is current.")
    page.get_by_role("button", name="Authorise one person to go alone").click()
    expect(page.get_by_text("Lone visit authorised.")).to_be_visible()
    page.get_by_role("link", name="Override this rule, with your reason").click()
    page.get_by_label("Which rule").select_option(index=1)
    page.get_by_label("Why are you overriding this rule?").fill("Mother works until six; there is no other time.")
    page.get_by_role("button", name="Override").click()
    expect(page.get_by_text("Override recorded with your reason.")).to_be_visible()
    page.get_by_role("link", name="Name a responsible contact").first.click()
    page.get_by_label("Responsible contact (outside school hours)").select_option(label="Hana Head")
    page.locator("#plan-findings .verdict--ok").wait_for()
    page.get_by_role("button", name="Save the changed plan").click()
    expect(page.get_by_text("Plan changed.")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Visit approved.")).to_be_visible()
    evening.refresh_from_db()
    assert evening.state == Visit.State.APPROVED
    assert {o.rule for o in Override.objects.filter(visit=evening)} >= {services.LONE_VISIT_RULE,
                                                                       "hours.outside_school_hours"}

    # 7. On the phone, back at Coteford: approve from the inbox.
    page.set_viewport_size(PHONE)
    page.goto(url + reverse("home"))
    page.get_by_label("Working in").select_option(label="Coteford Junior School")
    page.get_by_role("button", name="Switch school").click()
    page.goto(url + reverse("visits:approvals"))
    card = page.locator("li.card", has=page.get_by_role("link", name="Leo Green"))
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Visit approved.")).to_be_visible()
    shoot_both(page, "approvals-after")
    ready.refresh_from_db()
    assert ready.state == Visit.State.APPROVED
    page.context.close()  # nothing of this person's left open, reading the database, into the next test
