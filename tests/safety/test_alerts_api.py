"""The safety core's JSON API: recording events, the board, acknowledging, resolving and the
police card, scoped to the caller's school; and the duress answer identical to a normal one."""
import pytest

from safety import board as board_data
from safety.alerts.models import Alert
from audit.models import AuditEntry
from safety.checkins.models import VisitEvent
from people.services import set_pins

from tests.factories import Staffed
from tests.api.test_api import client_for, post
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def coteford(clock):
    return Staffed("coteford", name="Coteford Junior School")


@pytest.fixture
def potton(clock):
    return Staffed("potton", name="Potton Primary School")


def event(client, visit, **data):
    return post(client, f"/api/visits/{visit.pk}/events", data)


def phone_view(body):
    """The answer without what differs between two visits anyway (ids, staff ids)."""
    body = dict(body, event=dict(body["event"]), visit=dict(body["visit"]))
    for key in ("id", "staff_id"):
        body["event"].pop(key)
    body["visit"].pop("id")
    return body


def test_recording_an_event_through_the_api_starts_the_visit(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher])
    response = event(client_for(coteford.officer), visit, type="left_school", location="Car park")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["visit"]["state"] == "under_way" and body["next"]["kind"] == "check_in_due"


def test_the_duress_pin_gets_exactly_the_answer_the_safe_pin_gets(clock):
    answers = []
    for pin in ("2468", "1357"):
        school = Staffed("coteford", name=f"School {pin}")
        set_pins(school.officer, safe_pin="2468", duress_pin="1357", by=school.officer)
        visit = scheduled_visit(school, [school.officer, school.teacher])
        client = client_for(school.officer)
        clock.move_to(local(10, 0))
        assert event(client, visit, type="arrived", pin="2468").status_code == 200
        clock.move_to(local(10, 12))
        response = event(client, visit, type="check_in", pin=pin, concerns="None")
        assert response.status_code == 200
        answers.append((visit, response.json(), dict(response.headers)))
    (calm, safe, safe_headers), (visit, duress, duress_headers) = answers
    assert phone_view(safe) == phone_view(duress)
    assert safe_headers.keys() == duress_headers.keys()
    assert not Alert.objects.filter(visit=calm).exists()
    assert Alert.objects.get(visit=visit).kind == "duress"


def test_a_wrong_pin_is_a_400_naming_the_pin(coteford, clock):
    set_pins(coteford.officer, safe_pin="2468", duress_pin="1357", by=coteford.officer)
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher])
    response = event(client_for(coteford.officer), visit, type="arrived", pin="0000")
    assert response.status_code == 400 and response.json()["field"] == "pin"
    assert not VisitEvent.objects.exists()


def test_another_schools_staff_cannot_record_events_or_see_alerts(coteford, potton, clock):
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher])
    checkins_client = client_for(potton.office)
    assert event(checkins_client, visit, type="check_in", via="office_call").status_code == 404
    event(client_for(coteford.teacher), visit, type="panic")
    alert = Alert.objects.get()
    for url in (f"/api/alerts/{alert.pk}", f"/api/alerts/{alert.pk}/police-card"):
        assert checkins_client.get(url).status_code == 404
    assert post(checkins_client, f"/api/alerts/{alert.pk}/acknowledge").status_code == 404
    assert post(checkins_client, f"/api/alerts/{alert.pk}/resolve", {"reason": "false_alarm"}).status_code == 404
    assert checkins_client.get("/api/board").json()["visits"] == []
    assert Alert.objects.get().state == "open"
    assert not AuditEntry.objects.filter(action="alert.police_card_read").exists()


def test_visiting_staff_do_not_see_the_board_or_the_police_card(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher])
    event(client_for(coteford.teacher), visit, type="panic")
    alert = Alert.objects.get()
    teacher = client_for(coteford.family)
    assert teacher.get("/api/board").status_code == 403
    assert teacher.get(f"/api/alerts/{alert.pk}/police-card").status_code == 404


def test_the_office_acknowledges_resolves_and_reads_the_police_card(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher])
    event(client_for(coteford.officer), visit, type="arrived")
    office = client_for(coteford.office)
    assert event(office, visit, type="code_word", via="office_call").status_code == 200
    board = office.get("/api/board").json()
    assert board["visits"][0]["urgency"] == "alarm" and board["watchdog"]["stale"] is True
    alert_id = board["visits"][0]["alerts"][0]["id"]
    response = post(office, f"/api/alerts/{alert_id}/acknowledge")
    assert response.status_code == 200 and response.json()["owner"] == "Olu Office"
    card = office.get(f"/api/alerts/{alert_id}/police-card").json()
    assert card["address"] == coteford.pupil.address and len(card["staff"]) == 2
    response = post(office, f"/api/alerts/{alert_id}/resolve", {"reason": "other"})
    assert response.status_code == 400 and response.json()["field"] == "note"
    response = post(office, f"/api/alerts/{alert_id}/resolve", {"reason": "police_called", "note": "999 at 10:03"})
    assert response.status_code == 200 and response.json()["state"] == "resolved"
    assert board_data.board([coteford.school.pk])["visits"][0]["alerts"] == []


def test_abandoning_and_closing_not_seen_through_the_api(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher])
    client = client_for(coteford.officer)
    event(client, visit, type="arrived")
    response = event(client, visit, type="abandoned", reason="no_adult")
    assert response.status_code == 400 and response.json()["field"] == "note"
    response = event(client, visit, type="not_seen")
    assert response.status_code == 403
    response = event(client, visit, type="abandoned", reason="no_adult", note="Only the children were at home.")
    assert response.status_code == 200 and response.json()["visit"]["state"] == "under_way"


def test_a_duress_pin_on_the_last_check_out_gets_the_answer_a_safe_pin_gets(clock):
    # Coteford asks for no call once back at school, so leaving the home is the last check-out.
    answers = []
    for pin in ("2468", "1357"):
        school = Staffed("coteford", name=f"Closing school {pin}")
        set_pins(school.officer, safe_pin="2468", duress_pin="1357", by=school.officer)
        visit = scheduled_visit(school, [school.officer, school.teacher])
        client = client_for(school.officer)
        clock.move_to(local(10, 0))
        assert event(client, visit, type="arrived", pin="2468").status_code == 200
        clock.move_to(local(10, 15))
        assert event(client_for(school.teacher), visit, type="left_home").status_code == 200
        response = event(client, visit, type="left_home", pin=pin)
        assert response.status_code == 200, response.content
        answers.append((visit, response.json()))
    (calm, safe), (visit, duress) = answers
    assert phone_view(safe) == phone_view(duress)
    assert safe["visit"]["state"] == "completed", safe
    calm.refresh_from_db()
    visit.refresh_from_db()
    assert calm.state == "completed"
    # The office has the alarm, and the visit stays open there until someone resolves it.
    assert Alert.objects.get(visit=visit).kind == "duress"
    assert visit.state == "under_way"


def test_the_board_api_shows_the_pupil_as_initials_and_year_only(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher])
    event(client_for(coteford.officer), visit, type="left_school")
    body = client_for(coteford.office).get("/api/board").content.decode()
    pupil = visit.pupil
    assert pupil.first_name not in body and pupil.last_name not in body
    assert f"{pupil.first_name[0]}.{pupil.last_name[0]}." in body
