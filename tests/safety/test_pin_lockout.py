"""Check-in PINs cannot be guessed without limit: five wrong PINs in a row pause PIN entry for
15 minutes and tell the office; the pause gives the same answer to every PIN, so it never
shows which is the duress PIN, and the duress PIN still raises the silent alarm. The API asks
for a PIN wherever the phone page does. (84 guesses a second were possible over the API.)"""
import pytest
from django.core.exceptions import ValidationError

from safety.alerts.models import Alert
from audit.models import AuditEntry
from safety import board, recording
from safety.checkins.models import VisitEvent
from notify.models import Message
from people.services import set_pins

from tests.factories import Staffed
from tests.safety.test_alerts_api import event
from tests.api.test_api import client_for
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db
SAFE, DURESS = "2468", "1357"


@pytest.fixture
def coteford(clock):
    school = Staffed("coteford", name="Coteford Junior School")
    set_pins(school.officer, safe_pin=SAFE, duress_pin=DURESS, by=school.officer)
    return school


@pytest.fixture
def inside(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher])
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=coteford.officer, pin=SAFE)
    clock.move_to(local(10, 5))
    return visit


def check_in(school, visit, pin):
    try:
        recording.record_event(visit, "check_in", by=school.officer, pin=pin)
    except ValidationError as refused:
        return refused.message_dict["pin"][0]
    return "recorded"


def test_five_wrong_pins_pause_pin_entry_and_tell_the_office(coteford, inside):
    answers = [check_in(coteford, inside, "0000") for _ in range(5)]
    assert answers[:4] == ["That PIN is not right. Try again."] * 4
    assert answers[4].startswith("Too many wrong PINs")
    assert check_in(coteford, inside, SAFE).startswith("Too many wrong PINs")  # even the right one, now
    assert not VisitEvent.objects.filter(visit=inside, type="check_in").exists()
    assert AuditEntry.objects.filter(action="checkin.pin_wrong").count() == 5  # no more, however many tries
    told = Message.objects.filter(kind="checkin.pins_paused", channel="in_app")
    assert {m.recipient for m in told} >= {coteford.office, coteford.head}
    assert all("Ava" not in m.body and "Brown" not in m.body for m in Message.objects.filter(kind="checkin.pins_paused"))


def test_the_pause_ends_after_fifteen_minutes(coteford, inside, clock):
    for _ in range(5):
        check_in(coteford, inside, "0000")
    clock.move_to(local(10, 21))
    assert check_in(coteford, inside, SAFE) == "recorded"


def test_a_right_pin_starts_the_count_again(coteford, inside, clock):
    for _ in range(4):
        check_in(coteford, inside, "0000")
    clock.move_to(local(10, 6))
    assert check_in(coteford, inside, SAFE) == "recorded"
    clock.move_to(local(10, 7))
    assert [check_in(coteford, inside, "0000") for _ in range(4)][-1] == "That PIN is not right. Try again."


def test_during_the_pause_the_duress_pin_looks_like_any_other_and_still_raises_the_alarm(coteford, inside):
    for _ in range(5):
        check_in(coteford, inside, "0000")
    assert check_in(coteford, inside, SAFE) == check_in(coteford, inside, DURESS)
    alarm = Alert.objects.get(visit=inside)
    assert alarm.kind == "duress" and alarm.is_top


def test_the_duress_pin_during_the_pause_puts_the_visits_row_in_alarm_on_an_open_board(coteford, inside):
    """The pause writes no event, so nothing else moves the watch: its own change stamp must, or
    an office board that kept the row (safety.board._watches) would go on calling it fine."""
    assert [r["urgency"] for r in board.board_context([coteford.office])["rows"]] == ["fine"]
    for _ in range(5):
        check_in(coteford, inside, "0000")
    check_in(coteford, inside, DURESS)
    rows = board.board_context([coteford.office])["rows"]
    assert [(r["urgency"], r["urgency_label"]) for r in rows] == [("alarm", "Alarm")]
    assert [a["kind"] for a in rows[0]["alerts"]] == ["duress"]


def test_the_api_asks_for_the_pin_where_the_phone_page_does(coteford, inside):
    client = client_for(coteford.officer)
    response = event(client, inside, type="check_in")
    assert response.status_code == 400 and response.json()["field"] == "pin"
    assert event(client, inside, type="check_in", pin=SAFE).status_code == 200
    # Someone with no PINs set checks in without one, on the page and the API alike.
    assert event(client_for(coteford.teacher), inside, type="check_in").status_code == 200
