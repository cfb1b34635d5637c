"""The pupils' pages: the list leads those who bring pupils in to the import and the MIS sync; a
pupil an import or a sync marked as left is off the list, found by a search, and their page says
so instead of offering a visit the proposal form would not let anyone plan."""
import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pupils.models import Pupil
from tests.factories import PupilFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def left(coteford):
    pupil = PupilFactory(school=coteford.school, first_name="Priya", last_name="Shah")
    day = timezone.localdate() - datetime.timedelta(days=3)
    Pupil.objects.filter(pk=pupil.pk).update(on_roll=False, left_on=day)  # as pupils.roster.apply does
    return pupil, day


def signed_in(staff):
    client = Client()
    client.force_login(staff.user)
    return client


def test_the_roll_leaves_out_a_pupil_who_has_left_but_a_search_finds_them_marked_as_left(coteford, left):
    pupil, day = left
    client = signed_in(coteford.head)
    roll = client.get(reverse("pupils:index")).content.decode()
    assert "Shah, Priya" not in roll and "Brown, Ava" in roll
    found = client.get(reverse("pupils:index") + "?q=Shah").content.decode()
    assert "Shah, Priya" in found and "1 pupil matches “Shah”" in found
    assert f"Left {day.day} {day:%b %Y}" in found


def test_a_pupil_who_has_left_says_so_on_their_page_with_no_visit_to_propose(coteford, left):
    pupil, day = left
    page = signed_in(coteford.officer).get(reverse("pupils:detail", args=[pupil.pk])).content.decode()
    assert f"Priya has left the school (marked as left on {day:%A} {day.day} {day:%B %Y})" in page
    assert reverse("visits:propose") + f"?pupil={pupil.pk}" not in page
    on_roll = signed_in(coteford.officer).get(reverse("pupils:detail", args=[coteford.pupil.pk])).content.decode()
    assert reverse("visits:propose") + f"?pupil={coteford.pupil.pk}" in on_roll
    assert "has left the school" not in on_roll


def test_the_pupils_list_leads_whoever_brings_pupils_in_to_the_import_and_the_sync(coteford):
    import_link, sync_link = f'href="{reverse("pupils:import")}"', f'href="{reverse("mis:wonde")}"'
    for person in (coteford.head, coteford.sbm):
        page = signed_in(person).get(reverse("pupils:index")).content.decode()
        assert import_link in page and sync_link in page, person
    office = signed_in(coteford.office).get(reverse("pupils:index")).content.decode()
    assert import_link in office and sync_link not in office  # the office imports, does not run the sync
    teacher = signed_in(coteford.teacher).get(reverse("pupils:index")).content.decode()
    assert import_link not in teacher and sync_link not in teacher


def test_a_pupil_who_has_left_is_offered_no_new_risk_assessment(coteford, left):
    pupil, _ = left
    head = signed_in(coteford.head)
    new_assessment = reverse("risk:new") + "?kind=home_visit&amp;pupil={}"
    assert new_assessment.format(coteford.pupil.pk) in head.get(reverse("pupils:detail", args=[coteford.pupil.pk])).content.decode()
    assert new_assessment.format(pupil.pk) not in head.get(reverse("pupils:detail", args=[pupil.pk])).content.decode()
