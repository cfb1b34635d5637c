"""Risk assessments on screen: written by the right roles, scored, made stale by a new risk, reviewed."""
import datetime
import re

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from audit.models import AuditEntry
from people.models import StaffMember, StaffRole
from pupils.models import HouseholdNote, Pupil
from pupils.upn import make_upn
from risk.models import RiskAssessment
from schools.models import School

pytestmark = pytest.mark.django_db


def _person(school, username, *roles):
    user = User.objects.create_user(username, password="a-long-test-password")
    staff = StaffMember.objects.create(school=school, user=user, full_name=username.title(), mobile="07700 900111")
    for role in roles:
        StaffRole.objects.create(staff=staff, role=role)
    return staff


def _pupil(school, n=1):
    return Pupil.objects.create(
        school=school, upn=make_upn(f"80120011{n:04d}"), first_name="Ava", last_name=f"Pupil{n}",
        date_of_birth=datetime.date(2016, 5, 1), year_group="4", address_line1=f"{n} Mill Lane", postcode="UB10 0AA",
    )


@pytest.fixture
def school():
    return School.objects.create(name="Coteford Junior School")


@pytest.fixture
def sbm_client(client, school):
    _person(school, "sbm", "business_manager")
    client.login(username="sbm", password="a-long-test-password")
    return client


def _hazard_post(pupil_obj, **extra):
    data = {
        "kind": "home_visit", "pupil": pupil_obj.pk, "assessed_on": "2026-11-20", "summary": "Two adults, one dog",
        "hazards-TOTAL_FORMS": "1", "hazards-INITIAL_FORMS": "0", "hazards-MIN_NUM_FORMS": "1", "hazards-MAX_NUM_FORMS": "1000",
        "hazards-0-hazard": "Dog not shut away", "hazards-0-people_at_risk": "Visiting staff",
        "hazards-0-severity": "4", "hazards-0-likelihood": "3", "hazards-0-controls": "Ask for the dog to be shut in another room",
    }
    data.update(extra)
    return data


def test_the_business_manager_writes_a_scored_assessment_and_it_is_audited(sbm_client, school):
    pupil = _pupil(school)
    response = sbm_client.post("/risk/new/", _hazard_post(pupil))
    ra = RiskAssessment.objects.get()
    assert response.status_code == 302 and response.url == f"/risk/{ra.pk}/"
    assert ra.author.full_name == "Sbm" and ra.highest_risk == "high"
    page = sbm_client.get(f"/risk/{ra.pk}/").content.decode()
    assert "4 × 3 = 12" in page and "Current" in page
    assert AuditEntry.objects.filter(action="risk.create", object_id=str(ra.pk)).exists()


def test_a_home_visit_assessment_without_a_pupil_is_refused_with_a_clear_error_and_nothing_saved(sbm_client, school):
    pupil = _pupil(school)
    response = sbm_client.post("/risk/new/", _hazard_post(pupil, pupil=""))
    assert response.status_code == 200
    assert "choose the pupil" in response.content.decode()
    assert RiskAssessment.objects.count() == 0


def test_a_hazard_scored_outside_one_to_five_is_refused(sbm_client, school):
    pupil = _pupil(school)
    response = sbm_client.post("/risk/new/", _hazard_post(pupil, **{"hazards-0-severity": "9"}))
    assert response.status_code == 200 and RiskAssessment.objects.count() == 0
    assert "Select a valid choice" in response.content.decode()


def test_office_staff_cannot_write_a_risk_assessment(client, school):
    _person(school, "office", "office")
    client.login(username="office", password="a-long-test-password")
    assert client.get("/risk/new/").status_code == 403


def test_another_schools_pupil_cannot_be_chosen_or_read(sbm_client, school):
    other = School.objects.create(name="Potton Primary School")
    theirs = _pupil(other, 2)
    author = _person(other, "potton.head", "headteacher")
    their_ra = RiskAssessment.objects.create(school=other, kind="home_visit", pupil=theirs, author=author,
                                             assessed_on=datetime.date(2026, 11, 1), reviewed_at=timezone.now())
    response = sbm_client.post("/risk/new/", _hazard_post(theirs))
    assert response.status_code == 200 and RiskAssessment.objects.filter(school=school).count() == 0
    assert sbm_client.get(f"/risk/{their_ra.pk}/").status_code == 404
    assert sbm_client.get(f"/risk/pupil/{theirs.pk}/note/").status_code == 404


def test_a_new_risk_makes_the_assessment_out_of_date_until_it_is_reviewed(sbm_client, school):
    pupil = _pupil(school)
    sbm_client.post("/risk/new/", _hazard_post(pupil))
    ra = RiskAssessment.objects.get()
    response = sbm_client.post(f"/risk/pupil/{pupil.pk}/note/", {"kind": "risk", "text": "Father's new partner was aggressive to the postman", "dangerous": "on"}, follow=True)
    assert "out of date" in response.content.decode()
    assert HouseholdNote.objects.get().recorded_by.username == "sbm"
    assert RiskAssessment.objects.get().is_stale
    assert "Out of date" in sbm_client.get(f"/risk/{ra.pk}/").content.decode()
    sbm_client.post(f"/risk/{ra.pk}/review/")
    assert not RiskAssessment.objects.get().is_stale
    review = AuditEntry.objects.get(action="risk.review")
    assert review.data["new_risks_considered"] == ["Father's new partner was aggressive to the postman"]


def test_a_form_claiming_thousands_of_hazards_is_refused_plainly_and_drawn_with_at_most_forty(sbm_client, school):
    pupil = _pupil(school)
    response = sbm_client.post("/risk/new/", _hazard_post(pupil, **{"hazards-TOTAL_FORMS": "100000"}))
    page = response.content.decode()
    assert response.status_code == 200 and RiskAssessment.objects.count() == 0
    assert "An assessment can list at most 40 hazards" in page
    assert len(re.findall(r'name="hazards-\d+-controls"', page)) == 40  # not 100,000, nor Django's 1,000
