"""Who may approve is the school's policy's to say: a deputy approves at Coteford (C 2.1) but not
at Potton, where the headteacher authorises every visit (P §3¶4). Where they may not, the inbox
and the visit page offer no Approve button (it could only be refused) and say who approves."""
import html as html_text

import pytest
from django.urls import reverse
from django.utils import timezone

from visits import services


pytestmark = pytest.mark.django_db

WHO = "Under this school's policy (P §3¶4) visits are approved by the headteacher."


def _pages(client, staff, visit):
    client.force_login(staff.user)
    inbox = html_text.unescape(client.get(reverse("visits:approvals")).content.decode())
    page = html_text.unescape(client.get(reverse("visits:detail", args=[visit.pk])).content.decode())
    return inbox, page


def test_a_potton_deputy_is_told_the_headteacher_approves_and_offered_no_approve_button(potton, client):
    visit = services.propose(potton.officer, **potton.visit_kwargs())
    inbox, page = _pages(client, potton.deputy, visit)
    for html in (inbox, page):
        assert WHO in html and "As deputy headteacher you cannot approve this visit." in html
        assert ">Approve</button>" not in html and reverse("visits:approve", args=[visit.pk]) not in html
    # Not the blocked-plan words: the plan itself is fine.
    assert "Not ready to approve" not in inbox and "cannot be approved until each item" not in page


def test_a_coteford_deputy_may_approve_and_is_offered_the_button(coteford, client):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    inbox, page = _pages(client, coteford.deputy, visit)
    for html in (inbox, page):
        assert reverse("visits:approve", args=[visit.pk]) in html and "you cannot approve" not in html


def test_the_potton_headteacher_is_offered_the_button(potton, client):
    visit = services.propose(potton.officer, **potton.visit_kwargs())
    inbox, page = _pages(client, potton.head, visit)
    assert reverse("visits:approve", args=[visit.pk]) in inbox and reverse("visits:approve", args=[visit.pk]) in page


def test_the_potton_deputys_home_page_says_who_approves_not_waiting_for_your_approval(potton, client):
    services.propose(potton.officer, **potton.visit_kwargs())
    client.force_login(potton.deputy.user)
    home = html_text.unescape(client.get(reverse("home")).content.decode())
    assert "Waiting for approval" in home and "Waiting for your approval" not in home
    assert WHO in home
    client.force_login(potton.head.user)
    home = html_text.unescape(client.get(reverse("home")).content.decode())
    assert "Waiting for your approval" in home and WHO not in home


def test_the_visits_history_and_the_audit_trail_date_it_as_people_write_it(coteford, client):
    """'on Monday 14 December 2026, 10:00', not 'on 14 Dec 2026 10:00', in what was proposed
    and approved (the visit's history, the audit trail)."""
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    when = f"{timezone.localtime(visit.starts_at):%A %-d %B %Y, %H:%M}"
    client.force_login(coteford.head.user)
    page = html_text.unescape(client.get(reverse("visits:detail", args=[visit.pk])).content.decode())
    assert f"for Ava Brown on {when}" in page
    assert f"approved the visit for Ava Brown on {when}" in page
    trail = html_text.unescape(client.get(reverse("audit:trail")).content.decode())
    assert f"approved the visit for Ava Brown on {when}" in trail
