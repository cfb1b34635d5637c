"""A visit nobody starts is watched (C 3.10, P §4¶3 and §4¶7, Pr 2.3, H §4¶7): from the moment it
is scheduled it has a deadline on a Watch row, so the watchdog raises an alert when the staff
record nothing at all, saying plainly that the visit was due to start and nobody has checked in.
Cancelling stops the watch; the first event takes the same watch on; the office board shows
the visit once it is due. Every time comes from the clock the test runs under."""
import datetime
import importlib
import threading
import time
from unittest import mock

import pytest
import time_machine
from django.apps import apps as django_apps
from django.db import DatabaseError, connection, connections
from django.urls import reverse
from django.utils import timezone

from safety import alerting, recording
from safety import board as board_data
from safety import watch as watching
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert
from audit.models import AuditEntry
from safety.checkins.models import Watch, WatchStaff
from notify.models import Message
from policy_engine.schema import load_policy
from policy_engine.timing import simulate
from visits import services
from visits.models import Visit
from visits.services import NotAllowed

from tests.factories import Staffed, VisitFactory, at, next_school_day

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


def scheduled_through_the_office(school, *, sign_list=False, **kwargs) -> Visit:
    """Proposed, approved and scheduled as staff would, a week or so ahead at 10:00."""
    visit = services.propose(school.officer, **school.visit_kwargs(**kwargs))
    services.approve(school.head, visit)
    if sign_list:  # Coteford: the headteacher signs the visit list first (C 3.3)
        visit_list = services.create_visit_list(school.office, title="This week's visits", visits=[visit])
        services.sign_visit_list(school.head, visit_list)
    services.schedule(school.officer, visit, appointment_agreed=True, written_confirmation=True)
    visit.refresh_from_db()
    assert visit.state == Visit.State.SCHEDULED
    return visit


def office_messages(school):
    return Message.objects.filter(recipient=school.office, kind="alert.overdue")


def board_rows(school, now):
    return {row["visit_id"]: row for row in board_data.board([school.school.pk], now)["visits"]}


def test_a_scheduled_visit_is_watched_from_its_start_before_anyone_taps_anything(potton):
    visit = scheduled_through_the_office(potton)
    watch = Watch.objects.get(visit=visit)
    # Potton asks for word on leaving school (P §4¶3), due at the scheduled start.
    assert (watch.status, watch.next_kind, watch.what, watch.clause) == (
        "ok", "check_in_due", "leaving-school check-in", "P §4¶3")
    assert (watch.due_at, watch.alert_at) == (visit.starts_at, visit.starts_at + 5 * MINUTE)
    assert sorted(WatchStaff.objects.filter(watch=watch).values_list("staff_id", flat=True)) == sorted(
        [potton.officer.pk, potton.teacher.pk])


def test_nobody_starting_the_visit_raises_an_alert_that_says_so(potton):
    visit = scheduled_through_the_office(potton)
    with time_machine.travel(visit.starts_at + 5 * MINUTE - datetime.timedelta(seconds=1), tick=False) as clock:
        watchdog_loop.poll()
        assert not Alert.objects.filter(visit=visit).exists()  # still within the grace
        clock.move_to(visit.starts_at + 5 * MINUTE)
        watchdog_loop.poll()
        [alert] = Alert.objects.filter(visit=visit)
        assert (alert.kind, alert.missed, alert.missed_due_at) == ("overdue", "check_in_due", visit.starts_at)
        visit.refresh_from_db()
        assert visit.state == Visit.State.SCHEDULED  # nobody started it: the alert is what says so
        [message] = office_messages(potton).filter(channel="in_app")
        start = f"{timezone.localtime(visit.starts_at):%H:%M}"
        assert f"were due to start a home visit at {start} and nobody has checked in" in message.body
        assert potton.pupil.last_name not in message.body  # messages leave the school: no pupil's name
        # A second pass raises nothing more: one alert per missed deadline.
        clock.move_to(visit.starts_at + 6 * MINUTE)
        watchdog_loop.poll()
        assert Alert.objects.filter(visit=visit).count() == 1


def test_a_cancelled_visit_stops_being_watched(potton):
    visit = scheduled_through_the_office(potton)
    assert Watch.objects.get(visit=visit).alert_at is not None
    services.cancel(potton.office, visit, reason="Mum rang: the family is away this week.")
    watch = Watch.objects.get(visit=visit)
    assert (watch.status, watch.alert_at, watch.reminder_at) == ("safe", None, None)
    with time_machine.travel(visit.starts_at + 30 * MINUTE, tick=False):
        watchdog_loop.poll()
        assert not Alert.objects.filter(visit=visit).exists()
        assert visit.pk not in board_rows(potton, visit.starts_at + 30 * MINUTE)


def test_withdrawing_a_scheduled_visit_also_stops_the_watch(potton):
    visit = scheduled_through_the_office(potton)
    services.withdraw(potton.officer, visit, reason="The pupil is back in school.")
    assert Watch.objects.get(visit=visit).status == "safe"


def test_the_first_event_takes_the_same_watch_on(coteford):
    visit = scheduled_through_the_office(coteford, sign_list=True)
    before = Watch.objects.get(visit=visit)
    with time_machine.travel(visit.starts_at - 10 * MINUTE, tick=False) as clock:
        recording.record_event(visit, "left_school", by=coteford.officer)
        watch = Watch.objects.get(visit=visit)
        assert watch.pk == before.pk
        visit.refresh_from_db()
        assert visit.state == Visit.State.UNDER_WAY
        assert (watch.what, watch.clause, watch.due_at) == ("arrival check-in", "C 2.4", visit.starts_at)
        assert watch.started_at == visit.starts_at - 10 * MINUTE
        clock.move_to(visit.starts_at + 4 * MINUTE)
        recording.record_event(visit, "arrived", by=coteford.officer)
        clock.move_to(visit.starts_at + 6 * MINUTE)
        watchdog_loop.poll()
        assert not Alert.objects.filter(visit=visit).exists()
        assert WatchStaff.objects.filter(watch=watch).count() == 2


def test_staff_who_start_late_stop_the_escalation_and_the_watch_goes_on(potton):
    visit = scheduled_through_the_office(potton)
    with time_machine.travel(visit.starts_at + 5 * MINUTE, tick=False) as clock:
        watchdog_loop.poll()
        alert = Alert.objects.get(visit=visit)
        assert Watch.objects.get(visit=visit).status == "overdue"
        clock.move_to(visit.starts_at + 8 * MINUTE)
        recording.record_event(visit, "left_school", by=potton.officer)
        alert.refresh_from_db()
        assert alert.contact_at is not None and alert.step_due_at is None  # the escalation stopped
        watch = Watch.objects.get(visit=visit)
        assert watch.status == "ok" and watch.next_kind == "office_call_due"  # P §4¶7: the office rings at 10:10


def test_the_board_shows_a_scheduled_visit_once_it_is_due_and_not_before(potton, client):
    visit = scheduled_through_the_office(potton)
    later = scheduled_through_the_office(potton, starts_at=at(next_school_day(8), 14),
                                         ends_at=at(next_school_day(8), 14, 45))
    start = visit.starts_at
    assert visit.pk not in board_rows(potton, start - 6 * MINUTE)
    row = board_rows(potton, start - 4 * MINUTE)[visit.pk]
    assert row["urgency"] == "due_soon"
    with time_machine.travel(start + 5 * MINUTE, tick=False):
        watchdog_loop.poll()
        rows = board_rows(potton, start + 5 * MINUTE)
        assert rows[visit.pk]["urgency"] == "overdue" and later.pk not in rows
        client.force_login(potton.office.user)
        page = client.get(reverse("alerts:board")).content.decode()
        assert f'id="visit-{visit.pk}"' in page
        assert "Not started" in page and "nobody has checked in" in page


def test_the_office_reaching_staff_who_had_not_started_checks_them_in_from_the_board(potton, client):
    visit = scheduled_through_the_office(potton)
    with time_machine.travel(visit.starts_at + 6 * MINUTE, tick=False):
        watchdog_loop.poll()
        client.force_login(potton.office.user)
        response = client.post(reverse("alerts:office_call", args=[visit.pk]), {"worried": "no"})
        assert response.status_code == 302
        visit.refresh_from_db()
        assert visit.state == Visit.State.UNDER_WAY
        alert = Alert.objects.get(visit=visit)
        assert alert.contact_at is not None


def test_a_policy_with_no_check_in_at_the_start_is_still_watched_by_the_default(willows):
    visit = scheduled_through_the_office(willows)
    watch = Watch.objects.get(visit=visit)
    # The Willows asks for no check-ins: Doorstep's own back-safe deadline (cited "default").
    assert (watch.next_kind, watch.clause, watch.due_at) == ("back_safe_due", "default", visit.ends_at)
    with time_machine.travel(visit.ends_at + 5 * MINUTE, tick=False):
        watchdog_loop.poll()
        assert Alert.objects.filter(visit=visit, kind="overdue").count() == 1


def test_visits_scheduled_before_the_upgrade_are_watched_by_the_migration(potton):
    # Made as a visit scheduled by an older Doorstep was: scheduled, with no watch.
    visit = VisitFactory(school=potton.school, pupil=potton.pupil, staff=[potton.officer, potton.teacher],
                         state=Visit.State.SCHEDULED, proposed_by=potton.officer,
                         policy_version=potton.school.current_policy())
    assert not Watch.objects.filter(visit=visit).exists()
    upgrade = importlib.import_module("safety.checkins.migrations.0002_watch_visits_already_scheduled")
    upgrade.watch_scheduled_visits(django_apps, None)
    upgrade.watch_scheduled_visits(django_apps, None)  # again: nothing more to do
    [watch] = Watch.objects.filter(visit=visit)
    assert (watch.what, watch.clause, watch.due_at) == ("leaving-school check-in", "P §4¶3", visit.starts_at)
    assert WatchStaff.objects.filter(watch=watch).count() == 2
    with time_machine.travel(visit.starts_at + 5 * MINUTE, tick=False):
        watchdog_loop.poll()
        assert Alert.objects.filter(visit=visit, kind="overdue").count() == 1


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_visit_while_the_watchdog_raises_its_alert_does_not_deadlock_on_postgresql():
    """The watchdog holds the watch row and, inserting the alert, takes KEY SHARE on the visit;
    cancelling locks the visit, then closes the watch. With the visit locked FOR UPDATE the two
    waited on each other and PostgreSQL killed one (the cancel, or the alert)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so cancelling cannot race the watchdog there.")
    school = Staffed("potton", name="Potton Primary School")
    visit = scheduled_through_the_office(school)
    due = visit.starts_at + 5 * MINUTE
    watch_held = threading.Event()
    new_alert = alerting._new_alert
    errors = []

    def raise_slowly(*args, **kwargs):
        watch_held.set()
        time.sleep(1.5)  # the cancel takes the visit's lock meanwhile, then waits for the watch
        return new_alert(*args, **kwargs)

    def run(fn):
        try:
            fn()
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def cancel():
        assert watch_held.wait(10)
        services.cancel(school.office, visit, reason="The family rang: they are away.")

    with time_machine.travel(due, tick=False), mock.patch.object(alerting, "_new_alert", raise_slowly):
        threads = [threading.Thread(target=run, args=(fn,)) for fn in (lambda: watchdog_loop.poll(due), cancel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    # The watchdog got there first, so the cancel is refused (resolve the alert first) rather
    # than a deadlock losing the alert or the cancel.
    assert [type(e) for e in errors] == [NotAllowed], errors
    visit.refresh_from_db()
    assert visit.state == Visit.State.SCHEDULED
    assert Watch.objects.get(visit=visit).status == "overdue"
    [alert] = Alert.objects.filter(visit=visit)
    assert alert.state == Alert.State.OPEN


def test_the_phone_counts_down_to_the_leaving_school_check_in_before_anyone_taps_anything(potton, client):
    visit = scheduled_through_the_office(potton)
    with time_machine.travel(visit.starts_at - 30 * MINUTE, tick=False):
        client.force_login(potton.officer.user)
        page = client.get(reverse("checkins:visit", args=[visit.pk])).content.decode()
        start = f"{timezone.localtime(visit.starts_at):%H:%M}"
        assert "Next: <strong>leaving-school check-in</strong>" in page and f"{start}</time>" in page
        assert f'data-countdown="{timezone.localtime(visit.starts_at).isoformat()}"' in page


def test_a_visit_with_an_open_alert_is_cancelled_only_once_the_alert_is_resolved(potton):
    visit = scheduled_through_the_office(potton)
    with time_machine.travel(visit.starts_at + 5 * MINUTE, tick=False):
        watchdog_loop.poll()
        alert = Alert.objects.get(visit=visit)
        # Cancelling would take the row off the board while the alert climbed the ladder.
        with pytest.raises(NotAllowed, match="Resolve it on the office board first"):
            services.cancel(potton.office, visit, reason="The family rang: they are away.")
        visit.refresh_from_db()
        assert visit.state == Visit.State.SCHEDULED and Watch.objects.get(visit=visit).status == "overdue"
        alerting.resolve(alert, by=potton.office, reason="staff_safe")
        services.cancel(potton.office, visit, reason="The family rang: they are away.")
        assert Watch.objects.get(visit=visit).status == "safe"


def test_a_visit_that_cannot_be_watched_is_not_scheduled(potton):
    visit = services.propose(potton.officer, **potton.visit_kwargs())
    services.approve(potton.head, visit)
    with mock.patch.object(watching, "watch_scheduled", side_effect=DatabaseError("disk full")):
        with pytest.raises(DatabaseError):
            services.schedule(potton.officer, visit, appointment_agreed=True, written_confirmation=True)
    visit.refresh_from_db()
    assert visit.state == Visit.State.APPROVED  # loudly not scheduled, rather than scheduled unwatched
    assert not AuditEntry.objects.filter(action="visit.scheduled", object_id=str(visit.pk)).exists()
    services.schedule(potton.officer, visit, appointment_agreed=True, written_confirmation=True)
    assert Watch.objects.get(visit=visit).alert_at is not None


def test_the_simulator_says_a_visit_nobody_started_was_due_to_start():
    day = timezone.localdate() + datetime.timedelta(days=1)

    def iso(hour: int, minute: int = 0) -> str:
        return datetime.datetime.combine(day, datetime.time(hour, minute)).isoformat(timespec="minutes")

    out = simulate(load_policy("coteford"), {"starts_at": iso(10), "ends_at": iso(10, 45), "until": iso(10, 6),
                                             "events": []})
    [overdue] = [e for e in out["timeline"] if e["kind"] == "overdue"]
    assert (overdue["at"], overdue["clause"]) == (iso(10, 5), "C 3.10")
    assert overdue["message"].startswith("Overdue: the visit was due to start at 10:00 and nobody has checked in")
    assert out["next_deadline"]["due_at"] == iso(10)  # what the watch holds from scheduling
