""""Sync now" in the background: the press only asks (a requested SyncRun handed to the task
worker), the page follows it with htmx, and two presses at once start one sync."""
import datetime
import io
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audit.models import AuditEntry
from mis import services, tasks
from mis.models import SyncRun
from pupils.models import Pupil
from pupils.upn import make_upn
from tests.factories import SchoolFactory, StaffFactory
from tests.mis.fake_wonde import make_student

pytestmark = pytest.mark.django_db

TOKEN = "wonde-secret-token-1234"


@pytest.fixture
def school(fake_wonde):
    s = SchoolFactory(name="Wonde Primary")
    s.head = StaffFactory(school=s, roles=["headteacher"], full_name="Hana Head")
    services.save_connection(s, wonde_school_id="A100", token=TOKEN, by=s.head)
    dob = datetime.date(timezone.localdate().year - 9, 3, 1)
    for n in (1, 2, 3):
        fake_wonde.add_student("A100", make_student(n, make_upn(f"9360000{n:05d}"), dob=dob))
    return s


def press(client, capture, **data):
    with capture(execute=True):
        return client.post(reverse("mis:wonde"), {"action": "sync", **data})


def status(client):
    return client.get(reverse("mis:wonde_status")).content.decode()


def queued():
    return list(DBTaskResult.objects.filter(task_path="mis.tasks.run_requested_sync").values_list("args_kwargs", flat=True))


def test_the_press_only_asks_and_the_worker_syncs(school, client, django_capture_on_commit_callbacks):
    client.force_login(school.head.user)
    response = press(client, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert "Sync requested" in client.get(response.url).content.decode()
    run = SyncRun.objects.get(school=school)
    assert run.status == "requested" and Pupil.objects.filter(school=school).count() == 0
    assert [q["args"] for q in queued()] == [[run.pk]]
    fragment = status(client)
    assert "Sync requested" in fragment and "Hana Head" in fragment and 'hx-trigger="every 2s"' in fragment
    assert AuditEntry.objects.filter(action="mis.sync_requested", school=school).count() == 1

    tasks.run_requested_sync.call(run.pk)  # what the worker does with the queued task
    run.refresh_from_db()
    assert run.status == "finished" and run.ok and Pupil.objects.filter(school=school).count() == 3
    fragment = status(client)
    assert f"Last sync finished on {timezone.localtime(run.finished):%A %-d %B %Y, %H:%M}" in fragment
    assert "3 students read: 3 new" in fragment and "hx-trigger" not in fragment


def test_two_presses_start_one_sync(school, client, django_capture_on_commit_callbacks):
    client.force_login(school.head.user)
    press(client, django_capture_on_commit_callbacks)
    second = press(client, django_capture_on_commit_callbacks)
    assert "already under way, so another was not started" in client.get(second.url).content.decode()
    assert SyncRun.objects.filter(school=school).count() == 1 and len(queued()) == 1
    run = SyncRun.objects.get(school=school)
    # Nor does the daily job start a second one meanwhile.
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("sync_mis", "--all", stderr=err)
    assert "already waiting to start" in err.getvalue()
    # A second worker handed the same run does nothing.
    assert services.run_requested(run.pk) is not None
    assert services.run_requested(run.pk) is None
    assert SyncRun.objects.filter(school=school).count() == 1 and Pupil.objects.filter(school=school).count() == 3


def test_a_failed_background_sync_says_why_on_the_page(school, client, fake_wonde, django_capture_on_commit_callbacks):
    client.force_login(school.head.user)
    press(client, django_capture_on_commit_callbacks)
    fake_wonde.script = [401]
    tasks.run_requested_sync.call(SyncRun.objects.get().pk)
    fragment = status(client)
    assert "The last sync failed on" in fragment and "refused the school&#x27;s token" in fragment
    assert "nothing was changed" in fragment and "hx-trigger" not in fragment


def test_a_sync_lost_for_an_hour_is_closed_so_the_school_can_ask_again(school, client,
                                                                      django_capture_on_commit_callbacks):
    lost = SyncRun.objects.create(school=school, status="requested", started=timezone.now() - datetime.timedelta(hours=2))
    client.force_login(school.head.user)
    press(client, django_capture_on_commit_callbacks)
    lost.refresh_from_db()
    assert lost.status == "finished" and lost.ok is False and "background worker was not running" in lost.error
    assert SyncRun.objects.filter(school=school, status="requested").count() == 1


def test_someone_who_left_before_the_worker_started_is_not_synced_for(school, client,
                                                                     django_capture_on_commit_callbacks):
    client.force_login(school.head.user)
    press(client, django_capture_on_commit_callbacks)
    school.head.active = False
    school.head.save(update_fields=["active"])
    run = services.run_requested(SyncRun.objects.get().pk)
    assert run is not None and run.ok is False and "may no longer sync" in run.error
    assert Pupil.objects.filter(school=school).count() == 0


def test_another_schools_syncs_are_neither_shown_nor_in_the_way(school, client, django_capture_on_commit_callbacks):
    other = SchoolFactory(name="Other School")
    SyncRun.objects.create(school=other, status="running", started=timezone.now(), by_name="Bea Other")
    SyncRun.objects.create(school=other, status="finished", ok=False, started=timezone.now(), finished=timezone.now(),
                           error="Their secret failure", by_name="Bea Other")
    client.force_login(school.head.user)
    for html in (status(client), client.get(reverse("mis:wonde")).content.decode()):
        assert "Bea Other" not in html and "Their secret failure" not in html and "hx-trigger" not in html
    press(client, django_capture_on_commit_callbacks)
    assert SyncRun.objects.filter(school=school, status="requested").count() == 1
    teacher = StaffFactory(school=school, roles=["teacher"])
    client.force_login(teacher.user)
    assert client.get(reverse("mis:wonde_status")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_presses_at_the_same_moment_start_one_sync(fake_wonde):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; the row lock this needs is PostgreSQL's")
    s = SchoolFactory(name="Race Primary")
    head = StaffFactory(school=s, roles=["headteacher"])
    manager = StaffFactory(school=s, roles=["business_manager"])
    services.save_connection(s, wonde_school_id="A100", token=TOKEN, by=head)
    barrier = threading.Barrier(2)
    created = []

    def ask(who):
        try:
            barrier.wait(timeout=10)
            created.append(tasks.request_sync(s, by=who)[1])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask, args=(who,)) for who in (head, manager)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(created) == [False, True]
    assert SyncRun.objects.filter(school=s).count() == 1 and len(queued()) == 1
