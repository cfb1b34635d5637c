"""The check-in path as a phone uses it: what one check-in costs the database (a count of SQL
statements, kept at its figure so a change that adds reads to every check-in is seen), and
nobody recorded at two homes at once (from the phone's page, the API and a text)."""
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.services import issue_token
from core.errors import NotAllowed
from people.services import set_pins
from safety import recording
from safety.checkins.models import VisitEvent
from visits.models import Visit

from tests.factories import Staffed
from tests.safety.support import local, scheduled_visit, watch_of
from tests.safety.test_texts import DURESS, MOBILE, SAFE, hooks_configured, staffed, text  # noqa: F401

pytestmark = pytest.mark.django_db

# One check-in with the safe PIN from the phone's API token, the visit under way, no alert open:
#  the token (with its staff record and user) and the staff record's roles; then the write: the
#  visit (with its school, locked: nothing reads it before), its watch, who is on it (for the
#  permission check and the deadline alike), its events, the new event, the watch's changed
#  columns, the audit entry. Nothing asks the audit trail for wrong PINs when none was entered
#  within the pause, nor reads the visit's alerts while its watch is fine, nor reads the policy
#  (kept parsed by its version). Tests run inside a transaction, so the write's BEGIN and
#  COMMIT are a savepoint and its release here; PostgreSQL adds the board's NOTIFY.
CHECK_IN_STATEMENTS = 11


@pytest.fixture
def coteford(clock):
    return staffed()


def api_for(staff):
    token = issue_token(staff, name="Phone", scopes=["events:write"], days=30)[1]
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def api_event(client, visit, **data):
    return client.post(f"/api/visits/{visit.pk}/events", json.dumps(data), content_type="application/json")


def test_one_check_in_takes_the_same_few_sql_statements_however_long_the_visit(coteford, clock):
    # Approved under the school's policy, as every scheduled visit is.
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher],
                            policy_version=coteford.school.current_policy())
    phone = api_for(coteford.officer)
    clock.move_to(local(10, 0))
    assert api_event(phone, visit, type="arrived").status_code == 200
    assert api_event(phone, visit, type="entered").status_code == 200
    expected = CHECK_IN_STATEMENTS + (1 if connection.vendor == "postgresql" else 0)
    clock.move_to(local(10, 10))
    assert api_event(phone, visit, type="check_in", pin=SAFE).status_code == 200  # notes the token's use
    for second in (20, 40):  # the token's use is noted at most once a minute
        clock.move_to(local(10, 10, second))
        with CaptureQueriesContext(connection) as statements:
            answer = api_event(phone, visit, type="check_in", pin=SAFE)
        assert answer.status_code == 200, answer.content
        assert len(statements) == expected, "\n".join(q["sql"][:150] for q in statements.captured_queries)
    watch = watch_of(visit)
    assert watch.last_check_in_at == local(10, 10, 40)
    assert watch.due_at == local(10, 30, 40)  # coteford: every 20 minutes inside


def test_the_duress_pin_answers_a_check_in_exactly_as_the_safe_pin_does(clock):
    answers = []
    for pin in (SAFE, DURESS):
        school = staffed(name=f"School {pin}")
        visit = scheduled_visit(school, [school.officer])
        phone = api_for(school.officer)
        clock.move_to(local(10, 0))
        api_event(phone, visit, type="arrived")
        api_event(phone, visit, type="entered")
        clock.move_to(local(10, 10))
        body = api_event(phone, visit, type="check_in", pin=pin).json()
        for key in ("id", "staff_id"):
            body["event"].pop(key)
        body["visit"].pop("id")
        answers.append(body)
        clock.move_to(local(9, 0))
    assert answers[0] == answers[1]


def test_wrong_pins_from_the_phone_pause_pin_entry_though_a_right_pin_asks_the_audit_trail_nothing(coteford, clock):
    # Each request reads the person afresh, as a phone's do: the pause must hold across them.
    visit = scheduled_visit(coteford, [coteford.officer], policy_version=coteford.school.current_policy())
    phone = api_for(coteford.officer)
    clock.move_to(local(10, 0))
    assert api_event(phone, visit, type="arrived").status_code == 200
    answers = []
    for minute in range(1, 6):
        clock.move_to(local(10, minute))
        answer = api_event(phone, visit, type="check_in", pin="0000")
        assert answer.status_code == 400
        answers.append(answer.json()["detail"])
    assert answers[:4] == [recording.PIN_WRONG] * 4 and answers[4] == recording.PIN_PAUSED
    clock.move_to(local(10, 6))
    assert api_event(phone, visit, type="check_in", pin=SAFE).json()["detail"] == recording.PIN_PAUSED
    assert not VisitEvent.objects.filter(visit=visit, type="check_in").exists()

    clock.move_to(local(10, 21))  # the pause is over: the right PIN is taken, with no count to make
    with CaptureQueriesContext(connection) as statements:
        assert api_event(phone, visit, type="check_in", pin=SAFE).status_code == 200
    assert not any('"audit_auditentry"' in q["sql"] and q["sql"].startswith("SELECT")
                   for q in statements.captured_queries)


def test_a_visit_number_that_is_no_visit_is_not_found_and_nothing_is_written(coteford, clock):
    phone = api_for(coteford.officer)
    clock.move_to(local(10, 0))
    answer = phone.post("/api/visits/987654/events", json.dumps({"type": "check_in", "pin": SAFE}),
                        content_type="application/json")
    assert answer.status_code == 404
    assert not VisitEvent.objects.exists()


# ----------------------------------------------------------------------------- two homes at once

@pytest.fixture
def two_visits(coteford, clock):
    """The officer went into a 10:00 visit; a second one of theirs is at 11:00. 10:30 now."""
    first = scheduled_visit(coteford, [coteford.officer])
    second = scheduled_visit(coteford, [coteford.officer], start=(11, 0))
    clock.move_to(local(10, 0))
    recording.record_event(first, "arrived", by=coteford.officer)
    recording.record_event(first, "entered", by=coteford.officer)
    clock.move_to(local(10, 30))
    return first, second


STILL_INSIDE = ("You are still recorded as in the home on your visit starting 10:00 today. "
                "Record leaving that home first, then record arriving here.")


def nothing_recorded_on(visit):
    visit.refresh_from_db()
    assert visit.state == Visit.State.SCHEDULED
    assert not VisitEvent.objects.filter(visit=visit).exists()


def test_the_phone_refuses_arriving_at_a_second_home_and_says_which_visit_to_leave(coteford, two_visits, client):
    first, second = two_visits
    client.force_login(coteford.officer.user)
    page = client.post(reverse("checkins:record", args=[second.pk, "arrived"]), follow=True)
    assert STILL_INSIDE in page.content.decode()
    nothing_recorded_on(second)
    # What phone.js is told when the press was sent from its queue.
    sent = client.post(reverse("checkins:record", args=[second.pk, "arrived"]), HTTP_ACCEPT="application/json")
    assert sent.status_code == 400 and sent.json()["error"] == STILL_INSIDE
    nothing_recorded_on(second)

    client.post(reverse("checkins:record", args=[first.pk, "left_home"]), {"leaving-pin": SAFE})
    assert VisitEvent.objects.filter(visit=first, type="left_home").exists()
    client.post(reverse("checkins:record", args=[second.pk, "arrived"]))
    second.refresh_from_db()
    assert second.state == Visit.State.UNDER_WAY


def test_the_api_refuses_arriving_at_a_second_home(coteford, two_visits):
    first, second = two_visits
    phone = api_for(coteford.officer)
    answer = api_event(phone, second, type="arrived")
    assert answer.status_code == 403
    assert answer.json()["detail"] == STILL_INSIDE
    nothing_recorded_on(second)
    assert api_event(phone, first, type="left_home", pin=SAFE).status_code == 200
    assert api_event(phone, second, type="arrived").status_code == 200


def test_a_text_saying_arrived_from_inside_a_home_is_refused_naming_the_visit_by_its_time(coteford, two_visits):
    first, second = two_visits
    assert text("ARRIVED") == "Not recorded: " + STILL_INSIDE
    nothing_recorded_on(second)
    text(f"LEFT {SAFE}")
    assert text("ARRIVED").startswith("Arrived recorded.")
    second.refresh_from_db()
    assert second.state == Visit.State.UNDER_WAY


def test_at_the_door_of_one_home_nobody_arrives_at_another(coteford, clock):
    first = scheduled_visit(coteford, [coteford.officer])
    second = scheduled_visit(coteford, [coteford.officer], start=(11, 0))
    clock.move_to(local(10, 0))
    recording.record_event(first, "arrived", by=coteford.officer)
    with pytest.raises(NotAllowed, match="still recorded as at the door on your visit starting 10:00"):
        recording.record_event(second, "arrived", by=coteford.officer)
    nothing_recorded_on(second)


def test_the_office_recording_an_arrival_is_told_who_is_still_in_another_home(clock):
    school = Staffed("coteford", name="Coteford Junior School")
    set_pins(school.teacher, safe_pin=SAFE, duress_pin=DURESS, by=school.teacher)
    first = scheduled_visit(school, [school.teacher])
    second = scheduled_visit(school, [school.officer, school.teacher], start=(11, 0))
    clock.move_to(local(10, 0))
    recording.record_event(first, "arrived", by=school.teacher)
    recording.record_event(first, "entered", by=school.teacher)
    clock.move_to(local(11, 0))
    with pytest.raises(NotAllowed) as refused:
        recording.record_event(second, "arrived", by=school.office, via=VisitEvent.Via.OFFICE_CALL)
    assert str(refused.value) == ("Tess Teacher is still recorded as in the home on their visit starting 10:00 "
                                  "today. Record leaving that home first, then record arriving here.")
    nothing_recorded_on(second)


def test_someone_who_left_one_home_may_arrive_at_the_next_before_being_back_safe(clock):
    school = Staffed("potton", name="Potton Primary School")  # Potton asks for a back-safe call
    set_pins(school.officer, safe_pin=SAFE, duress_pin=DURESS, by=school.officer)
    first = scheduled_visit(school, [school.officer, school.teacher])
    second = scheduled_visit(school, [school.officer, school.teacher], start=(11, 0))
    clock.move_to(local(10, 0))
    recording.record_event(first, "arrived", by=school.officer)
    recording.record_event(first, "entered", by=school.officer)
    clock.move_to(local(10, 40))
    recording.record_event(first, "left_home", by=school.office, via=VisitEvent.Via.OFFICE_CALL)  # both left
    clock.move_to(local(11, 0))
    recording.record_event(second, "arrived", by=school.officer)
    second.refresh_from_db()
    assert second.state == Visit.State.UNDER_WAY


def test_the_phones_token_is_noted_as_used_in_the_check_ins_own_write_and_after_a_refusal_too(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer], policy_version=coteford.school.current_policy())
    phone = api_for(coteford.officer)
    token = coteford.officer.api_tokens.get()
    clock.move_to(local(10, 0))
    with CaptureQueriesContext(connection) as statements:
        assert api_event(phone, visit, type="arrived").status_code == 200
    sql = [q["sql"] for q in statements.captured_queries]
    noted = next(i for i, q in enumerate(sql) if q.startswith('UPDATE "accounts_apitoken"'))
    opened = next(i for i, q in enumerate(sql) if q.startswith("SAVEPOINT"))  # the check-in's transaction
    closed = sql.index("RELEASE " + sql[opened])
    assert opened < noted < closed  # one write with the event, not a second of its own
    token.refresh_from_db()
    assert token.last_used_at == local(10, 0)

    clock.move_to(local(10, 20))
    assert api_event(phone, visit, type="arrived").status_code == 403  # already arrived: refused
    token.refresh_from_db()
    assert token.last_used_at == local(10, 20)
