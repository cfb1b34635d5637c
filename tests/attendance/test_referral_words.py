"""The referral queue and case as those who may not decide read them: told who decides (not
"You decide"), and led from the case to the pupil's page and to proposing a visit."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance import services
from attendance.models import ReferralCase

from tests.factories import PupilFactory, Staffed
from tests.records_support import marks

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    school = Staffed("coteford", name="Coteford Junior School")
    mia = PupilFactory(school=school.school, first_name="Mia", last_name="Shaw")
    marks(mia, timezone.localdate() - datetime.timedelta(days=100), "//O/N/" * 22)
    services.scan_school(school.school)
    return school, ReferralCase.objects.get(pupil=mia)


def test_the_attendance_officer_is_told_the_headteacher_decides(client, case):
    school, _ = case
    client.force_login(school.officer.user)
    page = client.get(reverse("attendance:queue")).content.decode()
    assert "The headteacher decides; Doorstep never refers anyone by itself." in page
    assert "You decide" not in page
    client.force_login(school.head.user)
    assert "You decide; Doorstep never refers anyone by itself." in client.get(reverse("attendance:queue")).content.decode()


def test_the_case_leads_to_the_pupil_and_to_proposing_a_visit(client, case):
    school, item = case
    client.force_login(school.officer.user)
    page = client.get(reverse("attendance:case", args=[item.pk])).content.decode()
    assert f'href="{reverse("pupils:detail", args=[item.pupil_id])}">Pupil page</a>' in page
    assert f'href="{reverse("visits:propose")}?pupil={item.pupil_id}">Propose a home visit</a>' in page
