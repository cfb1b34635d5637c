"""Two places a member of staff met the browser's or the page's silence: the referral decision
form shows the project's own errors (no browser bubble), and a visitor is told on their home
page, with the date, what on their own staff record stops their visit."""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.models import ReferralCase
from people.models import Vehicle

from tests.factories import Staffed, VisitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def coteford():
    return Staffed("coteford", name="Coteford Junior School")


def words(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_referral_decision_form_uses_doorsteps_own_errors_not_the_browsers(coteford, client):
    today = timezone.localdate()
    case = ReferralCase.objects.create(school=coteford.school, pupil=coteford.pupil, opened_on=today,
                                       window_start=today - datetime.timedelta(days=60), window_end=today,
                                       possible=80, attended=64, authorised=6, unauthorised=10, percent=80,
                                       threshold_percent=90, clause="C 4.4")
    client.force_login(coteford.head.user)
    page = client.get(reverse("attendance:case", args=[case.pk])).content.decode()
    form = re.search(r'<form[^>]*action="%s"[^>]*>' % reverse("attendance:decide", args=[case.pk]), page).group(0)
    assert "novalidate" in form
    r = client.post(reverse("attendance:decide", args=[case.pk]), {})
    assert r.status_code == 400
    summary = r.content.decode().split('class="error-summary"')[1].split("</div>")[0]
    assert "Choose whether the pupil was referred or not." in summary
    assert "Write a note: to whom and how it was referred, or why not." in summary
    case.refresh_from_db()
    assert case.state == ReferralCase.State.OPEN


def test_a_visitor_is_told_on_their_home_page_that_their_expired_insurance_stops_their_visit(coteford, client):
    expired = timezone.localdate() - datetime.timedelta(days=3)
    Vehicle.objects.create(staff=coteford.teacher, make="Ford", model="Fiesta", colour="Blue", registration="AB12 CDE",
                           insurance_expires_on=expired)
    visit = VisitFactory(school=coteford.school, pupil=coteford.pupil, staff=[coteford.teacher, coteford.officer],
                         proposed_by=coteford.teacher)
    client.force_login(coteford.teacher.user)
    page = words(client.get(reverse("home")))
    expected_day = f"{expired.day} {expired:%B %Y}"
    assert f"Your car insurance expired on {expected_day}, so your visit to Ava Brown on" in page
    assert f"{timezone.localtime(visit.starts_at):%A} {timezone.localtime(visit.starts_at).day}" in page
    assert "Give the business manager the new details" in page
    # The colleague on the same visit is not told about someone else's car on their home page.
    client.force_login(coteford.officer.user)
    assert "Your staff record stops" not in words(client.get(reverse("home")))
