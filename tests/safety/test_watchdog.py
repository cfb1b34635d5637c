"""The watchdog as a process (docs/safety-core.md, "The watchdog"): killed mid-escalation and restarted
it loses nothing and repeats nothing; two watchdogs on PostgreSQL raise each alert and each
step once; it writes a heartbeat; `doorstep start` runs it with the delivery worker."""
import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections
from unittest import mock

from safety import recording
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert, AlertStep, Heartbeat
from safety.checkins.models import Watch
from notify.models import Message

from tests.factories import Staffed, compliant_staff
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db


def under_way(school, clock, count=1):
    """`count` Coteford visits inside the home since 10:00; their check-ins alert at 10:25."""
    # The school's officer and teacher on the first, a pair of their own on each other one:
    # nobody records arriving while at another home.
    pairs = [[school.officer, school.teacher]] + [
        [compliant_staff(school.school, "attendance_officer"), compliant_staff(school.school, "teacher")]
        for _ in range(count - 1)]
    visits = [scheduled_visit(school, pair, minutes=90) for pair in pairs]
    clock.move_to(local(10, 0))
    for visit, pair in zip(visits, pairs, strict=True):
        recording.record_event(visit, "arrived", by=pair[0])
        recording.record_event(visit, "entered", by=pair[0])
    return visits


def test_the_watchdog_killed_mid_escalation_and_restarted_fires_the_step_once(clock):
    school = Staffed("coteford")
    under_way(school, clock)
    clock.move_to(local(10, 25))
    call_command("watchdog", "--once")
    alert = Alert.objects.get()
    assert alert.step == 0
    clock.move_to(local(10, 30))
    # Killed while telling step 2: nothing of the step is committed.
    with mock.patch("notify.services.notify", side_effect=SystemExit("killed")), pytest.raises(SystemExit):
        call_command("watchdog", "--once")
    alert.refresh_from_db()
    assert (alert.step, AlertStep.objects.filter(alert=alert).count()) == (0, 1)
    # Restarted a minute later: the step fires, once, however often it runs.
    clock.move_to(local(10, 31))
    call_command("watchdog", "--once")
    call_command("watchdog", "--once")
    alert.refresh_from_db()
    assert alert.step == 1
    assert list(AlertStep.objects.filter(alert=alert).values_list("step", flat=True)) == [0, 1]
    step_two = Message.objects.filter(alert_id=alert.pk, idempotency_key=f"alert:{alert.pk}:step:1")
    assert step_two.filter(channel="in_app").count() == 2  # headteacher and deputy, once each
    assert alert.step_due_at == local(10, 40)  # the ladder's own schedule, not the restart's


def test_the_watchdog_writes_a_heartbeat_each_pass(clock):
    call_command("watchdog", "--once", "--name", "box:7")
    beat = Heartbeat.objects.get(name="box:7")
    assert (beat.host, beat.pid, beat.beat_at) == ("box", 7, local(9, 0))
    clock.move_to(local(9, 0, 5))
    call_command("watchdog", "--once", "--name", "box:7")
    beat.refresh_from_db()
    assert beat.beat_at == local(9, 0, 5) and beat.loops == 1
    assert not watchdog_loop.watchdog_is_stale()


def test_doorstep_start_runs_the_watchdog_and_the_delivery_worker():
    from doorstep.management.commands.start import Command

    children = {c.name: c.argv for c in Command().children({"bind": "127.0.0.1:0", "workers": 1})}
    assert {"web", "tasks", "watchdog", "deliver-email", "deliver-sms"} <= set(children)
    assert children["watchdog"][-1] == "watchdog"
    assert children["deliver-email"][-3:] == ["deliver", "--channel", "email"]
    assert children["deliver-sms"][-3:] == ["deliver", "--channel", "sms"]


@pytest.mark.django_db(transaction=True)
def test_two_watchdogs_on_postgresql_raise_each_alert_and_each_step_once(clock):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer in at a time (IMMEDIATE transactions), so two watchdogs cannot race "
                    "there, and the shared in-memory test database reports 'table is locked' instead of waiting; "
                    "this runs on PostgreSQL, where watchdogs do run side by side.")
    school = Staffed("coteford")
    visits = under_way(school, clock, count=12)

    def race(now):
        barrier = threading.Barrier(2)
        errors = []

        def watchdog():
            try:
                barrier.wait()
                for _ in range(3):
                    watchdog_loop.poll(now)
            except Exception as exc:
                errors.append(exc)
            finally:
                connections.close_all()  # each thread had its own connection

        threads = [threading.Thread(target=watchdog) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors

    race(local(10, 25))
    assert Alert.objects.count() == len(visits)
    assert set(Alert.objects.values_list("visit", flat=True)) == {v.pk for v in visits}
    assert Watch.objects.filter(status="overdue").count() == len(visits)
    office_messages = Message.objects.filter(kind="alert.overdue", channel="in_app", recipient=school.office)
    assert office_messages.count() == len(visits)

    race(local(10, 30))
    assert AlertStep.objects.filter(step=1).count() == len(visits)
    assert set(Alert.objects.values_list("step", flat=True)) == {1}
    assert Message.objects.filter(channel="in_app", recipient=school.head).count() == len(visits)


@pytest.mark.django_db(transaction=True)
def test_a_check_in_racing_the_watchdog_on_postgresql_ends_consistent(clock):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so a check-in cannot race the watchdog there.")
    school = Staffed("coteford")
    visits = under_way(school, clock, count=8)
    clock.move_to(local(10, 25))
    barrier = threading.Barrier(2)
    errors = []

    def run(fn):
        try:
            barrier.wait()
            fn()
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    leads = [visit.assignments.order_by("-lead", "id").first().staff for visit in visits]

    def check_ins():
        for visit, lead in zip(visits, leads, strict=True):
            recording.record_event(visit, "check_in", by=lead)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in (check_ins, lambda: watchdog_loop.poll(local(10, 25)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    for visit in visits:
        w = Watch.objects.get(visit=visit)
        assert (w.status, w.due_at) == ("ok", local(10, 45))
        # Either the check-in came first (no alert), or the alert did and the check-in stopped it.
        for alert in Alert.objects.filter(visit=visit):
            assert alert.contact_at == local(10, 25) and alert.step_due_at is None
