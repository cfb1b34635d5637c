"""An agreement whose review date has come is on the home page of those who review agreements,
and once found not kept its report says what happens next, with the links to act on it."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from reports import chronology, services
from reports.models import Agreement

from tests.factories import Staffed
from tests.records_support import ended_visit, report_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def school():
    return Staffed("coteford", name="Coteford Junior School")


def _agreement(school, *, review_in_days=-1, check_kind=Agreement.Check.PERSON):
    visit = ended_visit(school)
    services.submit_report(school.officer, visit, report_data())
    return Agreement.objects.create(
        school=school.school, pupil=school.pupil, visit=visit, text="Ava is at the gate by 8:50 every day.",
        review_on=timezone.localdate() + datetime.timedelta(days=review_in_days), check_kind=check_kind,
        made_by=school.officer, made_at=timezone.now() - datetime.timedelta(days=6))


def test_the_home_page_lists_an_agreement_due_for_review_to_those_who_review_them(client, school):
    agreement = _agreement(school)
    client.force_login(school.officer.user)
    page = client.get(reverse("home")).content.decode()
    assert "Agreements to review" in page and "Review the agreement: Ava Brown" in page
    assert reverse("reports:report", args=[agreement.visit_id]) + f"#agreement-{agreement.pk}" in page
    client.force_login(school.teacher.user)  # teachers record agreements but do not review them
    assert "Agreements to review" not in client.get(reverse("home")).content.decode()


def test_an_agreement_not_yet_due_or_checked_by_the_daily_check_is_not_listed(client, school):
    _agreement(school, review_in_days=3)
    client.force_login(school.officer.user)
    assert "Agreements to review" not in client.get(reverse("home")).content.decode()


def test_a_broken_agreement_says_what_happens_next(client, school):
    agreement = _agreement(school)
    client.force_login(school.officer.user)
    response = client.post(reverse("reports:agreement_review", args=[agreement.pk]),
                           {"kept": "no", "outcome": "Late on three mornings."}, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0].endswith(f"#agreement-{agreement.pk}")
    assert "Agreement reviewed: not kept. What happens next is shown under it." in page
    letter = agreement.letters.get()
    assert f'<a href="{reverse("reports:letter", args=[letter.pk])}">A reminder letter</a> is ready for the ' \
           "headteacher to approve and send" in page
    assert f'{reverse("visits:propose")}?pupil={school.pupil.pk}">Propose a follow-up visit</a>' in page


def test_a_kept_agreement_is_said_so(client, school):
    agreement = _agreement(school)
    client.force_login(school.officer.user)
    page = client.post(reverse("reports:agreement_review", args=[agreement.pk]),
                       {"kept": "yes", "outcome": "On time every day."}, follow=True).content.decode()
    assert "Agreement reviewed: kept." in page and "What happens next" not in page


def test_the_chronology_dates_reports_and_agreements_as_people_write_them(school):
    # "02 Dec 2026" read like a form's field; a headteacher writes "2 December 2026".
    agreement = _agreement(school, review_in_days=3)
    titles = [e.title for e in chronology.entries(school.pupil, school.dsl)]
    visit_day = timezone.localdate(agreement.visit.starts_at)
    assert f"Report of the visit on {visit_day.day} {visit_day:%B %Y} by Ali Attendance" in titles
    assert (f"Agreement recorded by Ali Attendance, to review on {agreement.review_on.day} "
            f"{agreement.review_on:%B %Y}") in titles
