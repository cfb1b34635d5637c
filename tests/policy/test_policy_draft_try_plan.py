"""Trying the policy draft on an example plan typed on the review page: the current policy's
verdict and the draft's side by side, each finding with its clause; nothing is written."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from tests.factories import Staffed, next_school_day
from visits.models import Visit, VisitStaff

pytestmark = pytest.mark.django_db

TRY = reverse("policy_draft:try_plan")


def signed_in(staff) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(staff.user)
    return client


def plan(school: Staffed, *staff, **extra) -> dict:  # type: ignore[no-untyped-def]
    data = {"try-pupil": school.pupil.pk, "try-purpose": "attendance", "try-date": next_school_day().isoformat(),
            "try-start_time": "10:00", "try-end_time": "10:45", "try-staff": [s.pk for s in staff]}
    data.update(extra)
    return data


def test_a_lone_visit_is_judged_by_the_current_policy_and_the_draft_side_by_side(coteford: Staffed) -> None:
    head = signed_in(coteford.head)
    assert head.post(reverse("policy_draft:start"), {"source": "potton"}).status_code == 302
    review = head.get(reverse("policy_draft:review")).content.decode()
    assert "Try the draft on a plan" in review and 'name="try-pupil"' in review
    audit_before = AuditEntry.objects.count()

    response = head.post(TRY, plan(coteford, coteford.officer), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    now, draft = html.split('id="try-draft"')
    assert "The current policy (version 1)" in now and "Blocked by the policy" in now
    # Coteford's clauses under the current policy, Potton's under the draft.
    assert '<span class="clause" title="Policy clause">C ' in now
    assert '<span class="clause" title="Policy clause">P ' in draft
    assert "Blocked by the policy" in draft or "The policy allows this" in draft
    # Nothing was written: no visit, no assignment, no audit entry.
    assert not Visit.objects.exists() and not VisitStaff.objects.exists()
    assert AuditEntry.objects.count() == audit_before


def test_a_pair_with_an_agreed_appointment_is_allowed_by_both(coteford: Staffed) -> None:
    head = signed_in(coteford.head)
    head.post(reverse("policy_draft:start"), {"source": "current"})
    html = head.post(TRY, plan(coteford, coteford.officer, coteford.teacher, **{
        "try-appointment_agreed": "on", "try-written_confirmation": "on"}), HTTP_HX_REQUEST="true").content.decode()
    now, draft = html.split('id="try-draft"')
    assert "The policy allows this" in now and "The policy allows this" in draft


def test_an_incomplete_plan_says_what_to_fill_in_and_without_javascript_the_page_comes_back(coteford: Staffed) -> None:
    head = signed_in(coteford.head)
    head.post(reverse("policy_draft:start"), {"source": "coteford"})
    html = head.post(TRY, {"try-purpose": "attendance"}, HTTP_HX_REQUEST="true").content.decode()
    assert "To try the plan, fill in:" in html and "Pupil" in html and "Who is going" in html
    page = head.post(TRY, plan(coteford, coteford.officer, coteford.teacher))
    assert page.status_code == 200
    assert "Review the draft before publishing" in page.content.decode()
    assert 'id="try-draft"' in page.content.decode()


def test_only_those_who_change_the_policy_try_it_and_only_on_their_own_school(coteford: Staffed,
                                                                              potton: Staffed) -> None:
    assert signed_in(coteford.teacher).post(TRY, plan(coteford, coteford.officer)).status_code == 403
    head = signed_in(coteford.head)
    head.post(reverse("policy_draft:start"), {"source": "coteford"})
    # Another school's pupil and staff are not choices: the plan is incomplete, nothing judged.
    html = head.post(TRY, plan(potton, potton.officer), HTTP_HX_REQUEST="true").content.decode()
    assert "Pupil: Select a valid choice" in html and "Who is going: Select a valid choice" in html
    assert 'id="try-draft"' not in html
    assert potton.pupil.full_name not in html
