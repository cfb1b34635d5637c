"""The watchdog raises a burst of missed deadlines in batches (safety.alerting.raise_overdue_batch):
each alert is written with its watch's change, its first step, its messages and its audit
entries in one transaction, as when raised alone; a row that cannot be raised holds back
nobody else's; two watchdogs taking the same batch raise each alert once."""
import logging
import threading
from unittest import mock

import pytest
from django.db import connection, connections

from audit.models import AuditEntry
from notify import services as notify_services
from notify.models import Message
from safety import alerting
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert, AlertStep
from safety.checkins.models import Watch

from safety import recording
from tests.factories import Staffed, compliant_staff
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db


def under_way(school, clock, count):
    """`count` Coteford visits, each with its own pair, inside the home since 10:00; their
    check-ins alert at 10:25."""
    visits = []
    for n in range(count):
        pair = [compliant_staff(school.school, "attendance_officer", full_name=f"Visitor {n}"),
                compliant_staff(school.school, "teacher", full_name=f"Partner {n}")]
        visits.append(scheduled_visit(school, pair, minutes=90))
    clock.move_to(local(10, 0))
    for visit in visits:
        lead = visit.assignments.order_by("-lead", "id").first().staff
        recording.record_event(visit, "arrived", by=lead)
        recording.record_event(visit, "entered", by=lead)
    return visits


def alerted(visits):
    """{visit id: its alerts} for the visits given."""
    found = {v.pk: 0 for v in visits}
    for visit_id in Alert.objects.filter(visit__in=visits).values_list("visit_id", flat=True):
        found[visit_id] += 1
    return found


def what_was_written(alert):
    """The alert, its first step, its messages and its audit entries, without ids, keys and
    the names of the visit's own pair."""
    def plain(text):
        for member in alert.visit.assignments.all():
            text = text.replace(member.staff.full_name, "someone")
        return text

    messages = sorted(
        (m.recipient.full_name, m.channel, plain(m.subject), plain(m.body), m.link.replace(str(alert.pk), "N"),
         m.status)
        for m in Message.objects.filter(alert_id=alert.pk).select_related("recipient"))
    entries = sorted((e.action, e.summary) for e in AuditEntry.objects.filter(object_type="alerts.alert",
                                                                             object_id=str(alert.pk)))
    step = AlertStep.objects.get(alert=alert)
    return {
        "alert": (alert.kind, alert.state, alert.step, alert.step_due_at, alert.ladder, alert.ladder_clause,
                  alert.missed, alert.missed_due_at, alert.ladder_from, alert.raised_at, alert.policy_version_id),
        "step": (step.step, step.at, step.due_at, step.notify, step.recipients),
        "messages": messages,
        "audit": entries,
    }


def test_a_burst_is_raised_in_batches_each_alert_once_with_its_messages(clock):
    school = Staffed("coteford")
    visits = under_way(school, clock, count=7)
    clock.move_to(local(10, 25))
    with mock.patch.object(watchdog_loop, "RAISE_BATCH", 3), \
            mock.patch.object(alerting, "raise_overdue", wraps=alerting.raise_overdue) as alone:
        assert watchdog_loop.poll()["raised"] == 7
    assert alone.call_count == 0  # three batches (3, 3, 1), nobody left over
    assert alerted(visits) == {v.pk: 1 for v in visits}
    assert set(Watch.objects.values_list("status", flat=True)) == {"overdue"}
    for alert in Alert.objects.all():
        assert {m.recipient_id for m in Message.objects.filter(alert_id=alert.pk, channel="in_app")} == {school.office.pk}
    assert watchdog_loop.poll()["raised"] == 0  # nothing twice


def test_an_alert_raised_in_a_batch_is_the_one_raised_alone(clock):
    school = Staffed("coteford")
    first, second, third = under_way(school, clock, count=3)
    now = local(10, 25)
    clock.move_to(now)
    due = {w.visit_id: (w.pk, w.alert_at) for w in Watch.objects.all()}
    assert alerting.raise_overdue(*due[first.pk], now) is not None
    assert alerting.raise_overdue_batch([due[second.pk], due[third.pk]], now) == (2, [])
    alone, batched = Alert.objects.get(visit=first), Alert.objects.get(visit=second)
    assert what_was_written(batched) == what_was_written(alone)


def test_a_row_that_cannot_be_prepared_holds_back_nobody_else(clock, caplog):
    school = Staffed("coteford")
    visits = under_way(school, clock, count=5)
    poisoned = visits[2]
    clock.move_to(local(10, 25))
    ladder_for = alerting.ladder_for

    def broken_for_one(visit):
        if visit.pk == poisoned.pk:
            raise ValueError("the policy will not load")
        return ladder_for(visit)

    with mock.patch.object(alerting, "ladder_for", side_effect=broken_for_one), caplog.at_level(logging.ERROR):
        assert watchdog_loop.poll()["raised"] == 4
    assert alerted(visits) == {v.pk: int(v.pk != poisoned.pk) for v in visits}
    assert Watch.objects.get(visit=poisoned).status == "ok"  # still due: taken again next pass
    assert "the policy will not load" in caplog.text  # loudly, in the log
    assert watchdog_loop.poll()["raised"] == 1  # mended: raised, once
    assert alerted(visits) == {v.pk: 1 for v in visits}


def test_a_row_that_spoils_the_batch_costs_only_itself(clock, caplog):
    school = Staffed("coteford")
    visits = under_way(school, clock, count=5)
    poisoned = visits[1]
    clock.move_to(local(10, 25))
    compose = alerting._compose_step

    def broken_for_one(alert, visit, *args, **kwargs):
        if visit.pk == poisoned.pk:
            raise RuntimeError("a message that cannot be written")
        return compose(alert, visit, *args, **kwargs)

    with mock.patch.object(alerting, "_compose_step", side_effect=broken_for_one), caplog.at_level(logging.ERROR):
        assert watchdog_loop.poll()["raised"] == 4  # the batch failed; the four others were raised alone
    assert alerted(visits) == {v.pk: int(v.pk != poisoned.pk) for v in visits}
    assert Watch.objects.get(visit=poisoned).status == "ok"
    assert not AuditEntry.objects.filter(action="alert.raised", data__visit=poisoned.pk).exists()
    assert "raising them one at a time" in caplog.text
    for alert in Alert.objects.all():  # each raised alone is whole: step, messages, audit
        assert AlertStep.objects.filter(alert=alert).count() == 1
        assert Message.objects.filter(alert_id=alert.pk, channel="in_app").count() == 1
    assert watchdog_loop.poll()["raised"] == 1
    assert alerted(visits) == {v.pk: 1 for v in visits}


def test_a_batch_whose_messages_cannot_be_written_keeps_nothing_and_is_raised_alone(clock):
    school = Staffed("coteford")
    visits = under_way(school, clock, count=4)
    clock.move_to(local(10, 25))
    with mock.patch.object(notify_services, "notify_new", side_effect=RuntimeError("disk full")):
        assert watchdog_loop.poll()["raised"] == 4
    assert alerted(visits) == {v.pk: 1 for v in visits}
    assert Message.objects.filter(kind="alert.overdue", channel="in_app").count() == 4
    assert AuditEntry.objects.filter(action="alert.raised").count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_watchdogs_taking_the_same_batch_raise_each_alert_once(clock):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer in at a time (IMMEDIATE transactions), so two watchdogs cannot race "
                    "there; this runs on PostgreSQL, where watchdogs do run side by side.")
    school = Staffed("coteford")
    visits = under_way(school, clock, count=30)
    now = local(10, 25)
    due = list(Watch.objects.order_by("alert_at").values_list("pk", "alert_at"))
    barrier = threading.Barrier(2)
    raised, errors = [], []

    def watchdog():
        try:
            barrier.wait()
            count, left = alerting.raise_overdue_batch(due, now)
            raised.append(count)
            assert left == []
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=watchdog) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(raised) == 30
    assert alerted(visits) == {v.pk: 1 for v in visits}
    assert Message.objects.filter(kind="alert.overdue", channel="in_app", recipient=school.office).count() == 30
    assert AlertStep.objects.count() == 30
