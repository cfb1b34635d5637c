"""The check-in path reads its token, visit, watch, team and events by SQL written once (core.rows)
instead of the ORM's querysets. What it reads must be exactly what the ORM would have read: the
same values of the same types in every column (SQLite keeps times as text and true/false as
numbers, JSON as text), on both databases, or a check-in would act on a wrong deadline, a wrong
role or a wrong time."""
import datetime
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken
from accounts.services import issue_token
from safety import events as visit_events
from safety import journey, recording
from safety import watch as watches
from safety.checkins.models import VisitEvent, Watch
from schools.models import School
from visits.models import Visit, VisitStaff

from tests.factories import Staffed
from tests.safety.support import local, scheduled_visit
from tests.safety.test_texts import DURESS, SAFE, staffed  # noqa: F401

pytestmark = pytest.mark.django_db


def columns(obj: Model) -> dict[str, tuple[type, Any]]:
    """Every column's value and its type: a time read back as text, or an aware time as a naive
    one, differs here even where the two would compare equal."""
    return {f.attname: (type(getattr(obj, f.attname)), getattr(obj, f.attname))
            for f in obj._meta.concrete_fields}


@pytest.fixture
def under_way(clock):
    school = staffed()
    visit = scheduled_visit(school, [school.officer, school.teacher], policy_version=school.school.current_policy())
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=school.officer, location="Outside the house")
    recording.record_event(visit, "entered", by=school.officer)
    clock.move_to(local(10, 10))
    recording.record_event(visit, "check_in", by=school.officer, pin=SAFE, location="Kitchen, upstairs",
                           concerns="Dog in the hall")
    clock.move_to(local(10, 12))
    recording.record_event(visit, "check_in", by=school.office, via="office_call", staff=school.teacher,
                           note="Rang the office")
    return school, visit


def test_a_tokens_row_its_staff_record_login_and_roles_are_read_as_the_orm_reads_them(under_way):
    school, _ = under_way
    _, raw = issue_token(school.officer, name="Phone", scopes=["events:write", "read"], days=30)
    found = ApiToken.find(raw)
    assert found is not None
    expected = ApiToken.objects.select_related("staff__user").get(pk=found.pk)
    assert columns(found) == columns(expected)
    assert columns(found.staff) == columns(expected.staff)
    assert columns(found.staff.user) == columns(expected.staff.user)
    assert found.scopes == ["events:write", "read"]
    assert isinstance(found.expires_at, datetime.datetime) and found.expires_at.tzinfo is not None
    # The roles came with it: every permission check of the request asks them without a query.
    with CaptureQueriesContext(connection) as read:
        roles = found.staff.role_names
        assert found.staff.has_role(*roles)
    assert len(read) == 0
    assert roles == sorted(r.role for r in expected.staff.roles.all()) and roles


def test_a_token_that_is_not_there_or_does_not_match_is_not_found(under_way):
    school, _ = under_way
    _, raw = issue_token(school.officer, name="Phone", scopes=["events:write"], days=30)
    assert ApiToken.find(raw) is not None
    assert ApiToken.find(raw[:-2] + ("xy" if not raw.endswith("xy") else "zz")) is None
    assert ApiToken.find("dst_00000000_nothing") is None


def test_a_login_less_staff_record_comes_with_no_user(under_way):
    school, _ = under_way
    _, raw = issue_token(school.officer, name="Phone", scopes=["events:write"], days=30)
    type(school.officer).objects.filter(pk=school.officer.pk).update(user=None)
    found = ApiToken.find(raw)
    assert found is not None and found.staff.user is None


def test_the_locked_visit_its_school_and_watch_are_read_as_the_orm_reads_them(under_way):
    _, visit = under_way
    with transaction.atomic():
        locked, watch = watches.lock(Visit(pk=visit.pk, school_id=visit.school_id))
    assert watch is not None
    assert columns(locked) == columns(Visit.objects.get(pk=visit.pk))
    assert columns(locked.school) == columns(School.objects.get(pk=visit.school_id))
    assert columns(watch) == columns(Watch.objects.get(visit=visit))
    assert watch.last_location and watch.due_at.tzinfo is not None


def test_a_visit_asked_for_at_another_school_is_not_found(under_way):
    _, visit = under_way
    other = Staffed("coteford", name="Another School").school
    with pytest.raises(Visit.DoesNotExist), transaction.atomic():
        watches.lock(Visit(pk=visit.pk, school_id=other.pk))


def test_the_visits_events_and_team_are_read_in_order_as_the_orm_reads_them(under_way):
    school, visit = under_way
    found = journey.events_of(visit)
    expected = list(VisitEvent.objects.filter(visit=visit).order_by("at", "id"))
    assert [columns(e) for e in found] == [columns(e) for e in expected]
    assert [e.type for e in found] == ["arrived", "entered", "check_in", "check_in"]
    assert found[2].concerns == "Dog in the hall" and found[2].location == "Kitchen, upstairs"
    team = visit_events.check_recorder(visit, school.officer, "phone", None)
    assert team == list(VisitStaff.objects.filter(visit=visit).order_by("-lead", "id").values_list("staff_id", flat=True))
    assert set(team) == {school.officer.pk, school.teacher.pk}
