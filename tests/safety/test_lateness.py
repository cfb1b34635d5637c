"""A parent who warns they will be late (C 3.5, W 3.3: "over 30 minutes late", cancel): the limit
counts from the arranged time, not from when the call came. A 09:45 call about a 10:00 visit
still waits until 10:30 (it used to end the wait at 10:15), and a 10:10 call does not keep
staff at the door until 10:40. The engine, the simulator, the phone page and the office board
all say 10:30. Every time comes from the clock the test runs under (tomorrow, 10:00 local)."""
import datetime
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from safety import recording
from safety import board as board_data
from policy_engine.schema import load_policy
from policy_engine.timing import Event, next_deadline, simulate, timeline
from visits.models import Visit
from visits.services import NotAllowed

from tests.factories import Staffed, VisitFactory, at

TOMORROW = timezone.localdate() + datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)


def local(hour: int, minute: int = 0) -> datetime.datetime:
    return at(TOMORROW, hour, minute)


def late_limit(policy: str, call: datetime.datetime, arrived: datetime.datetime | None = None) -> list[datetime.datetime]:
    events = [Event(at=local(9, 40), type="left_school")]
    events += [Event(at=call, type="parent_late_notice")]
    if arrived is not None:
        events = sorted(events + [Event(at=arrived, type="arrived")], key=lambda e: e.at)
    entries = timeline(load_policy(policy), local(10), local(10, 45), events, local(11, 30))
    return [e.at for e in entries if e.kind == "late_limit_reached"]


# The engine -------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["coteford", "willows"])
def test_an_early_warning_does_not_end_the_wait_before_the_parent_is_30_minutes_late(policy):
    # A call at 09:45 about the 10:00 visit: the parent is 30 minutes late at 10:30, not 10:15.
    assert late_limit(policy, local(9, 45), arrived=local(10)) == [local(10, 30)]


@pytest.mark.parametrize("policy", ["coteford", "willows"])
def test_a_warning_after_the_start_does_not_keep_staff_waiting_beyond_30_minutes_late(policy):
    # A call at 10:10: the limit is still 10:30, not 10:40.
    assert late_limit(policy, local(10, 10), arrived=local(10)) == [local(10, 30)]


def test_a_warning_that_comes_after_the_limit_reaches_it_at_once():
    assert late_limit("coteford", local(10, 35), arrived=local(10)) == [local(10, 35)]


def test_the_door_deadline_the_watchdog_holds_is_the_arranged_time_plus_the_limit():
    events = [Event(at=local(9, 40), type="left_school"), Event(at=local(10), type="arrived"),
              Event(at=local(10, 10), type="parent_late_notice")]
    d = next_deadline(load_policy("willows"), local(10), local(10, 45), events)
    assert (d.due_at, d.clause) == (local(10, 30), "W 3.3") and "door" in d.what


def test_the_simulator_counts_the_limit_from_the_arranged_time():
    def iso(moment: datetime.datetime) -> str:
        return moment.replace(tzinfo=None).isoformat(timespec="minutes")

    out = simulate(load_policy("coteford"), {
        "starts_at": iso(local(10)), "ends_at": iso(local(10, 45)), "until": iso(local(11)),
        "events": [{"at": iso(local(9, 40)), "type": "left_school"},
                   {"at": iso(local(9, 45)), "type": "parent_late_notice"},
                   {"at": iso(local(10)), "type": "arrived"}],
    })
    [limit] = [e for e in out["timeline"] if e["kind"] == "late_limit_reached"]
    assert (limit["at"], limit["clause"]) == (iso(local(10, 30)), "C 3.5")
    assert "30 minutes late for the 10:00 appointment" in limit["message"]


# The phone and the board --------------------------------------------------------------------------

def scheduled(school: Staffed) -> Visit:
    return VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, school.teacher],
                        state=Visit.State.SCHEDULED, starts_at=local(10), ends_at=local(10, 45),
                        proposed_by=school.officer)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.mark.django_db
def test_staff_warned_at_09_45_cannot_close_the_visit_as_not_seen_until_10_30(coteford, client):
    visit = scheduled(coteford)
    with time_machine.travel(local(9, 40), tick=False) as clock:
        recording.record_event(visit, "left_school", by=coteford.officer)
        clock.move_to(local(9, 45))
        recording.record_event(visit, "parent_late_notice", by=coteford.officer)
        clock.move_to(local(10))
        recording.record_event(visit, "arrived", by=coteford.officer)
        clock.move_to(local(10, 16))
        with pytest.raises(NotAllowed, match="from 10:30"):
            recording.close_not_seen(visit, by=coteford.officer)
        client.force_login(coteford.officer.user)
        page = text(client.get(reverse("checkins:visit", args=[visit.pk])))
        assert "Wait until" in page and "10:30</time>" in page and "data-enable-at" in page  # the button waits
        clock.move_to(local(10, 30))
        recording.close_not_seen(visit, by=coteford.officer)


@pytest.mark.django_db
def test_the_board_expects_word_from_the_door_at_the_arranged_time_plus_the_limit(willows, client):
    visit = scheduled(willows)
    with time_machine.travel(local(10), tick=False) as clock:
        recording.record_event(visit, "arrived", by=willows.officer)
        clock.move_to(local(10, 10))
        recording.record_event(visit, "parent_late_notice", by=willows.officer)
        [row] = board_data.board([willows.school.pk])["visits"]
        assert (row["due_at"], row["clause"]) == (local(10, 30), "W 3.3")  # not 10:40
        client.force_login(willows.office.user)
        page = text(client.get(reverse("alerts:board")))
        assert "10:30</time>" in page and "10:40" not in page
