"""The office board and the police card in an emergency: they say who raised a duress or panic
alarm, the police card says "Call 999" once, the police's reference-number policy is on the
policy page rather than on the card, and the board's counts read as words ("0 in alarm")."""
import re

import pytest
from django.urls import reverse

from people.services import set_pins
from audit.models import AuditEntry
from safety import recording
from safety.alerts.models import Alert

from tests.safety.support import local

pytestmark = pytest.mark.django_db





def text(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_board_and_the_police_card_say_who_entered_the_duress_pin(office, coteford, inside, clock):
    set_pins(coteford.teacher, safe_pin="1111", duress_pin="2222", by=coteford.teacher)
    clock.move_to(local(10, 5))
    recording.record_event(inside, "check_in", by=coteford.teacher, pin="2222")
    alert = Alert.objects.get(visit=inside, kind="duress")
    for page in ("alerts:board", "alerts:alarms", "alerts:live"):
        assert "Duress PIN entered by Tess Teacher" in text(office.get(reverse(page))), page
    card = text(office.get(reverse("alerts:police_card", args=[alert.pk])))
    assert "Duress PIN entered by Tess Teacher at" in card


def test_the_board_says_who_pressed_panic(office, coteford, inside, clock):
    clock.move_to(local(10, 5))
    recording.record_event(inside, "panic", by=coteford.officer)
    assert "Panic pressed by Ali Attendance" in text(office.get(reverse("alerts:alarms")))


def test_the_police_card_says_call_999_once_and_leaves_the_police_reference_policy_to_the_policy_page(
        office, coteford, inside, clock):
    clock.move_to(local(10, 5))
    recording.record_event(inside, "panic", by=coteford.officer)
    card = text(office.get(reverse("alerts:police_card", args=[Alert.objects.get(visit=inside).pk])))
    assert card.count("Call 999") == 1
    assert "NPCC" not in card and "URN" not in card
    office.force_login(coteford.head.user)
    policy = text(office.get(reverse("policies:show")))
    assert "NPCC" in policy and "unique reference number" in policy


def test_the_board_counts_read_as_words(office, inside):
    page = text(office.get(reverse("alerts:live")))
    assert "0 in alarm" in page
    assert not re.search(r"\b\d+ alarm\b", page)


def test_a_code_word_taken_on_a_call_says_who_heard_it_and_from_whom(office, coteford, inside, clock):
    clock.move_to(local(10, 5))
    recording.record_event(inside, "code_word", by=coteford.office, staff=coteford.officer, via="office_call")
    board = text(office.get(reverse("alerts:board")))
    assert "Code word heard by Olu Office, on the phone to Ali Attendance" in board
    assert "taken by" not in board


def test_after_going_in_the_board_no_longer_says_they_were_last_heard_outside(office, inside):
    board = text(office.get(reverse("alerts:board")))
    assert "Last heard from: 10:00 (In the home)" in board
    assert "Outside the house" not in board


def test_a_visit_ended_by_leaving_the_home_does_not_claim_a_back_safe(coteford, inside, clock):
    clock.move_to(local(10, 30))
    for person in (coteford.officer, coteford.teacher):
        recording.record_event(inside, "left_home", by=person, staff=person, pin=None)
    inside.refresh_from_db()
    assert inside.state == inside.State.COMPLETED  # Coteford asks for no back-safe call
    entry = AuditEntry.objects.filter(action="visit.completed").latest("pk")
    assert entry.data["note"] == "Everyone on the visit has left the home"
