"""What staff write at the door (the answer to "any concerns?", why they abandoned a visit) is
for those who read safeguarding concerns and for whoever wrote it. The visit page's history
and its "reason closed" once showed it to the office, the business manager and teachers not
on the visit, though the check-in form promises the office does not see it."""
import pytest
from django.test import Client

from safety import recording

from tests.safety.support import local

pytestmark = pytest.mark.django_db
CONCERN = "Bruising on the younger brother, left arm"
WHY = "Man in the hallway shouting at us"


def page(staff, visit):
    client = Client()
    client.force_login(staff.user)
    return client.get(f"/visits/{visit.pk}/").content.decode()


def at_the_door(school, visit, clock):
    clock.move_to(local(9, 50))
    recording.record_event(visit, "left_school", by=school.officer, expected_return=local(11, 0))
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=school.officer)


def test_any_concerns_at_the_door_are_on_the_visit_page_only_for_those_who_read_concerns(coteford, visit, clock):
    at_the_door(coteford, visit, clock)
    recording.record_event(visit, "check_in", by=coteford.officer, concerns=CONCERN)
    for reader in (coteford.dsl, coteford.head, coteford.deputy, coteford.officer):
        assert CONCERN in page(reader, visit), reader
    for other in (coteford.office, coteford.sbm):
        shown = page(other, visit)
        assert CONCERN not in shown, other
        assert "what was written is for the safeguarding lead" in shown


def test_an_abandoned_visits_own_words_are_kept_to_those_who_read_concerns_and_the_staff_there(coteford, visit, clock):
    at_the_door(coteford, visit, clock)
    recording.abandon(visit, "felt_unsafe", by=coteford.officer, note=WHY)
    assert WHY in page(coteford.dsl, visit) and WHY in page(coteford.teacher, visit)  # the teacher was there
    shown = page(coteford.office, visit)
    assert WHY not in shown and "Felt unsafe" in shown
