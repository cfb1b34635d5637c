"""A proposed visit's page tells someone whose role never approves (the DSL, the visiting
staff) who does, citing the policy, and offers them no Approve button."""
import pytest
from django.urls import reverse

from tests.factories import Staffed, VisitFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ["dsl", "officer"])
def test_a_proposal_page_says_who_approves_to_those_who_cannot(client, who):
    school = Staffed("st-hughs", name="St Hugh's Catholic Primary School")
    visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, school.teacher],
                         proposed_by=school.officer, appointment_agreed=True)
    client.force_login(getattr(school, who).user)
    page = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert "Under this school&#x27;s policy (H §2) visits are approved by the headteacher." in page
    assert "you cannot approve" not in page and "Approve this visit" not in page
