"""After a watchdog outage (docs/safety-core.md, "The watchdog"): the escalation ladder runs on the policy's own
timeline from the missed deadline, not from the late raise; the messages say when the
check-in was due; the heartbeat is written before and during a long first pass; and the loop
rides out a database that fails under it. Dates come from the clock the test runs under."""
import datetime
from unittest import mock

import pytest
import time_machine
from django.core.management import call_command
from django.db import OperationalError

from safety import alerting, recording
from safety import watchdog as watchdog_loop
from safety.alerts.management.commands import watchdog as watchdog_command
from safety.alerts.models import Alert, AlertStep, Heartbeat
from safety.checkins.models import Watch
from notify.models import Message
from policy_engine import timing
from visits.models import Visit

from tests.factories import Staffed, VisitFactory, at, compliant_staff, next_school_day

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def day() -> datetime.date:
    return next_school_day()


@pytest.fixture
def clock(day):
    with time_machine.travel(at(day, 9), tick=False) as traveller:
        yield traveller


@pytest.fixture
def coteford(clock):
    return Staffed("coteford", name="Coteford Junior School")


def inside_since(school, clock, arrived_at: datetime.datetime, count: int = 1) -> list[Visit]:
    """`count` Coteford visits whose pair arrived and went in at `arrived_at`: the next
    check-in is due 20 minutes later and alerts 5 minutes after that (C 2.4)."""
    starts = arrived_at.replace(second=0)
    # The school's officer and teacher on the first, a pair of their own on each other one:
    # nobody records arriving while at another home.
    pairs = [[school.officer, school.teacher]] + [
        [compliant_staff(school.school, "attendance_officer"), compliant_staff(school.school, "teacher")]
        for _ in range(count - 1)]
    visits = [VisitFactory(school=school.school, pupil=school.pupil, staff=pair,
                           state=Visit.State.SCHEDULED, starts_at=starts, ends_at=starts + 90 * MINUTE,
                           proposed_by=pair[0]) for pair in pairs]
    clock.move_to(arrived_at)
    for visit, pair in zip(visits, pairs, strict=True):
        recording.record_event(visit, "arrived", by=pair[0])
        recording.record_event(visit, "entered", by=pair[0])
    return visits


def told(alert: Alert, step: int) -> set[str]:
    return set(Message.objects.filter(alert_id=alert.pk, channel="in_app", idempotency_key=f"alert:{alert.pk}:step:{step}")
               .values_list("recipient__full_name", flat=True))


def bodies(alert: Alert, step: int) -> set[str]:
    return set(Message.objects.filter(alert_id=alert.pk, idempotency_key=f"alert:{alert.pk}:step:{step}")
               .values_list("body", flat=True))


# ----------------------------------------------------------------------------- the ladder's clock

def test_a_watchdog_back_twenty_minutes_after_the_deadline_tells_every_step_due_by_then_in_order(
        coteford, clock, day):
    arrived = at(day, 10) + datetime.timedelta(seconds=45)
    visit, = inside_since(coteford, clock, arrived)
    watch = Watch.objects.get(visit=visit)
    due, alert_at = arrived + 20 * MINUTE, arrived + 25 * MINUTE
    assert (watch.due_at, watch.alert_at) == (due, alert_at)

    # The watchdog was not running from before the deadline until 20 minutes after it.
    back = due + 20 * MINUTE
    clock.move_to(back)
    call_command("watchdog", "--once")

    alert = Alert.objects.get()
    # Coteford's ladder (C 2.4) from alert_at: the office at once, the head and deputy 5
    # minutes later, the DSL and the police step 10 minutes after that, everyone after 10 more.
    policy_times = [at_ for _, at_, _ in timing.escalation_steps(alerting.ladder_for(visit)[0], alert_at)]
    assert policy_times == [alert_at, alert_at + 5 * MINUTE, alert_at + 15 * MINUTE, alert_at + 25 * MINUTE]
    assert told(alert, 0) == {"Olu Office"}
    assert told(alert, 1) == {"Hana Head", "Dev Deputy"}
    assert told(alert, 2) == {"Hana Head", "Dev Deputy", "Dani Safeguarding"}
    steps = list(AlertStep.objects.filter(alert=alert).order_by("pk").values_list("step", "due_at", "at"))
    assert steps == [(0, policy_times[0], back), (1, policy_times[1], back), (2, policy_times[2], back)]
    # In ladder order: the office's messages were written before the head's, the head's before the DSL's.
    firsts = [Message.objects.filter(idempotency_key=f"alert:{alert.pk}:step:{s}").order_by("pk")
              for s in range(3)]
    assert firsts[0].last().pk < firsts[1].first().pk and firsts[1].last().pk < firsts[2].first().pk
    assert (alert.step, alert.step_due_at) == (2, policy_times[3])
    # Raised when the watchdog came back, and says so; its ladder runs from the policy's time.
    assert (alert.raised_at, alert.ladder_from, alert.missed_due_at) == (back, alert_at, due)

    # Nothing more until the last step's own time, which then comes on time.
    clock.move_to(policy_times[3] - datetime.timedelta(seconds=1))
    assert watchdog_loop.poll()["advanced"] == 0
    clock.move_to(policy_times[3])
    assert watchdog_loop.poll()["advanced"] == 1
    last = AlertStep.objects.get(alert=alert, step=3)
    assert last.due_at == last.at == policy_times[3]
    assert list(AlertStep.objects.filter(alert=alert).values_list("step", flat=True)) == [0, 1, 2, 3]


def test_the_message_says_when_the_check_in_was_due_and_how_late_it_comes(coteford, clock, day):
    arrived = at(day, 10, 6) + datetime.timedelta(seconds=45)
    inside_since(coteford, clock, arrived)
    due = arrived + 20 * MINUTE  # 10:26:45
    clock.move_to(due + 20 * MINUTE)
    watchdog_loop.poll()
    alert = Alert.objects.get()
    office, = bodies(alert, 0)
    assert office.startswith("Ali Attendance and Tess Teacher have not checked in on a home visit (due at 10:26).")
    assert "10:46" not in office  # not the time the watchdog came back
    assert "This comes 15 minutes late: Doorstep could not send it on time." in office
    head, = bodies(alert, 1)
    assert "(due at 10:26)" in head and "10 minutes late" in head
    dsl, = bodies(alert, 2)
    assert "(due at 10:26)" in dsl and "late" not in dsl  # its own time is now


def test_an_alert_raised_on_time_says_nothing_about_being_late(coteford, clock, day):
    arrived = at(day, 10)
    inside_since(coteford, clock, arrived)
    clock.move_to(arrived + 25 * MINUTE)
    watchdog_loop.poll()
    alert = Alert.objects.get()
    office, = bodies(alert, 0)
    assert "(due at 10:20)" in office and "late" not in office
    assert alert.ladder_from == alert.raised_at == arrived + 25 * MINUTE


def test_a_deadline_already_past_when_it_was_recorded_starts_the_ladder_at_the_office(coteford, clock, day):
    """A check-in recorded now with an earlier time can leave a deadline that was missed before
    Doorstep knew of it: nobody could have been told sooner, so the office comes first, with
    the head's step after the office's own five minutes, not all at once."""
    visit = VisitFactory(school=coteford.school, pupil=coteford.pupil, staff=[coteford.officer, coteford.teacher],
                         state=Visit.State.SCHEDULED, starts_at=at(day, 10), ends_at=at(day, 11, 30),
                         proposed_by=coteford.officer)
    clock.move_to(at(day, 10, 45))
    recording.record_event(visit, "arrived", by=coteford.officer, at=at(day, 10))
    recording.record_event(visit, "entered", by=coteford.officer, at=at(day, 10))
    assert Watch.objects.get(visit=visit).alert_at == at(day, 10, 25)
    watchdog_loop.poll()
    alert = Alert.objects.get()
    assert (alert.step, alert.step_due_at) == (0, at(day, 10, 50))
    assert list(AlertStep.objects.filter(alert=alert).values_list("step", flat=True)) == [0]


# ----------------------------------------------------------------------------- the heartbeat

def test_the_board_sees_a_heartbeat_all_through_a_long_first_pass(coteford, clock, day):
    """30 missed deadlines, each taking a second to raise: the board must not say nobody is
    watching while they are raised, neither at the first nor after 15 seconds."""
    arrived = at(day, 10)
    inside_since(coteford, clock, arrived, count=30)
    clock.move_to(arrived + 40 * MINUTE)
    assert not Heartbeat.objects.exists()
    stale_when_raising = []
    real_raise = alerting.raise_overdue_batch

    def slow_raise(due, now):
        stale_when_raising.append(watchdog_loop.watchdog_is_stale())
        clock.shift(len(due))  # a second an alert
        return real_raise(due, now)

    with mock.patch.object(alerting, "raise_overdue_batch", side_effect=slow_raise), \
            mock.patch.object(watchdog_loop, "RAISE_BATCH", 3):
        call_command("watchdog", "--once", "--name", "box:9")
    assert len(stale_when_raising) == 10 and Alert.objects.count() == 30
    assert not any(stale_when_raising)
    beat = Heartbeat.objects.get(name="box:9")
    assert beat.beat_at > arrived + 40 * MINUTE + datetime.timedelta(seconds=20)  # beaten during the pass


def test_a_quick_pass_writes_the_heartbeat_once(coteford, clock):
    with mock.patch.object(watchdog_loop, "beat", wraps=watchdog_loop.beat) as beat:
        call_command("watchdog", "--once", "--name", "box:9")
    assert beat.call_count == 1


# ----------------------------------------------------------------------------- a database that goes away

class Stop(Exception):
    pass


@pytest.mark.django_db(transaction=True)  # outside a test transaction, as in production: connections are checked
def test_the_loop_rides_out_database_errors_and_then_raises_what_fell_due(coteford, clock, day):
    arrived = at(day, 10)
    inside_since(coteford, clock, arrived)
    clock.move_to(arrived + 26 * MINUTE)
    locked = OperationalError("database is locked")
    failures = {"close": [locked], "beat": [locked], "poll": [locked, locked], "wait": [locked, locked]}
    real = {"close": watchdog_command.close_old_connections, "beat": watchdog_loop.beat, "poll": watchdog_loop.poll,
            "wait": watchdog_command._until_next_due}

    def flaky(name):
        def call(*args, **kwargs):
            if failures[name]:
                raise failures[name].pop(0)
            return real[name](*args, **kwargs)
        return call

    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock.shift(1)
        if len(sleeps) == 6:
            raise Stop

    with mock.patch.object(watchdog_command, "close_old_connections", side_effect=flaky("close")), \
            mock.patch.object(watchdog_loop, "beat", side_effect=flaky("beat")), \
            mock.patch.object(watchdog_loop, "poll", side_effect=flaky("poll")), \
            mock.patch.object(watchdog_command, "_until_next_due", side_effect=flaky("wait")), \
            mock.patch.object(watchdog_command.time, "sleep", side_effect=sleep), \
            mock.patch.object(watchdog_command.signal, "signal"), pytest.raises(Stop):
        call_command("watchdog", "--name", "box:3")
    assert not any(failures.values())  # every fault was met
    assert Alert.objects.filter(kind="overdue").count() == 1
    assert not watchdog_loop.watchdog_is_stale()


def test_a_watchdog_whose_passes_keep_failing_looks_stale_on_the_board(coteford, clock):
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock.shift(10)
        if len(sleeps) == 3:
            raise Stop

    with mock.patch.object(watchdog_loop, "poll", side_effect=OperationalError("server closed the connection")), \
            mock.patch.object(watchdog_command.time, "sleep", side_effect=sleep), \
            mock.patch.object(watchdog_command.signal, "signal"), pytest.raises(Stop):
        call_command("watchdog", "--name", "box:4")
    assert Heartbeat.objects.filter(name="box:4").exists()  # it beat once, on starting
    assert watchdog_loop.watchdog_is_stale()


def test_once_still_makes_its_pass_when_the_heartbeat_fails_and_then_exits_with_the_error(coteford, clock, day):
    arrived = at(day, 10)
    inside_since(coteford, clock, arrived)
    clock.move_to(arrived + 26 * MINUTE)
    with mock.patch.object(watchdog_loop, "beat", side_effect=OperationalError("database is locked")), \
            pytest.raises(OperationalError):
        call_command("watchdog", "--once")
    assert Alert.objects.count() == 1
