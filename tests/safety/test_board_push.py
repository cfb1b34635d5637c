"""The office board is pushed (docs/safety-core.md, "The board is pushed"): the change stamp moves
with every change the board shows and not with the board's own loads; a change written by
another connection wakes a waiting board (PostgreSQL: LISTEN/NOTIFY, delivered at commit and
never for a rolled-back change; SQLite: the stamp read every quarter second); the event
stream; the alarm strip; and no query whose size grows with the visits under way (2,000
visits on SQLite was a server error)."""
import datetime
import re
import threading
import time

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from doorstep.management.commands.start import Command
from safety import alerting, live, recording
from safety import board as board_data
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert
from safety.checkins.models import Watch, WatchStaff
from safety.readiness import services as readiness
from visits.models import Visit, VisitStaff

from tests.queries import own_queries, shapes
from tests.factories import Staffed, VisitFactory, compliant_staff
from tests.safety.support import local, scheduled_visit

PG = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="LISTEN/NOTIFY is PostgreSQL's")


@pytest.fixture(autouse=True)
def _listener_stopped():
    """The PostgreSQL listener holds a connection to the test database: closed after each test,
    so the database can be dropped at the end."""
    yield
    live.stop_listener()


def as_(client, staff):
    client.force_login(staff.user)
    return client


def inside_since(school, clock, minute=0):
    # The school's officer and teacher, or a pair of their own once those are in a home:
    # nobody records arriving while at another home.
    busy = Visit.objects.filter(assignments__staff=school.officer, state=Visit.State.UNDER_WAY).exists()
    pair = [compliant_staff(school.school, "attendance_officer"), compliant_staff(school.school, "teacher")] \
        if busy else [school.officer, school.teacher]
    visit = scheduled_visit(school, pair, start=(10, minute), minutes=90)
    clock.move_to(local(10, minute))
    recording.record_event(visit, "arrived", by=pair[0], location="Outside the house")
    recording.record_event(visit, "entered", by=pair[0])
    return visit


@pytest.mark.django_db
def test_the_stamp_moves_with_each_change_the_board_shows_and_not_with_reading_it(client, clock):
    school = Staffed("coteford", name="Coteford Junior School")
    other = Staffed("potton", name="Potton Primary School")
    visit = inside_since(school, clock)
    ids = [school.school.pk]
    before = live.stamp(ids)

    # Reading the board writes audit entries (reads are audited), but is not a change.
    audited = AuditEntry.objects.count()
    assert as_(client, school.office).get(reverse("alerts:board")).status_code == 200
    assert as_(client, school.office).get(reverse("alerts:live")).status_code == 200
    assert live.stamp(ids) == before
    # Another school's visit is not this board's business.
    inside_since(other, clock, minute=1)
    assert live.stamp(ids) == before
    assert AuditEntry.objects.count() > audited  # the other school's events were written

    seen = {before}
    clock.move_to(local(10, 10))
    recording.record_event(visit, "check_in", by=school.officer)          # a check-in
    seen.add(live.stamp(ids))
    clock.move_to(local(10, 45))
    watchdog_loop.poll()                                                   # the watchdog raises an alert
    alert = Alert.objects.get(visit=visit)
    seen.add(live.stamp(ids))
    clock.move_to(local(10, 50))
    alerting.acknowledge(alert, by=school.office)                          # someone takes it on
    seen.add(live.stamp(ids))
    alerting.resolve(alert, by=school.office, reason="staff_safe")         # and closes it
    seen.add(live.stamp(ids))
    assert len(seen) == 5


@pytest.mark.django_db
def test_a_test_alarm_starting_and_ending_moves_the_stamp(clock):
    school = Staffed("coteford")
    ids = [school.school.pk]
    before = live.stamp(ids)
    drill = readiness.start_drill(school.head)
    started = live.stamp(ids)
    readiness.end_drill(drill, by=school.office)
    assert len({before, started, live.stamp(ids)}) == 3


def _today_inside(school):
    starts = timezone.now() - datetime.timedelta(minutes=5)
    visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, school.teacher],
                         state=Visit.State.SCHEDULED, starts_at=starts, ends_at=starts + datetime.timedelta(minutes=90),
                         proposed_by=school.officer)
    recording.record_event(visit, "arrived", by=school.officer, location="Outside the house")
    recording.record_event(visit, "entered", by=school.officer)
    return visit


def _in_another_connection(delay, action):
    def run():
        time.sleep(delay)
        try:
            action()
        finally:
            connection.close()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _listening() -> None:
    """On PostgreSQL, wait (up to 10 s) until this process's listener is up, so that a board's
    wait sleeps on its notifications, as in a web worker, rather than polling the stamp."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + 10
    while not live.listener().alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.listener().alive


@pytest.mark.django_db(transaction=True)
def test_a_check_in_written_by_another_connection_wakes_the_waiting_board():
    school = Staffed("coteford")
    visit = _today_inside(school)
    ids = [school.school.pk]
    since = live.stamp(ids)
    _listening()
    thread = _in_another_connection(0.5, lambda: recording.record_event(visit, "check_in", by=school.officer))
    started = time.monotonic()
    new = live.wait_for_change(ids, since, timeout=20)
    woke_after = time.monotonic() - started
    thread.join()
    assert new is not None and new != since
    # SQLite: the stamp is read every 0.25 s. PostgreSQL: the NOTIFY wakes it, well before the
    # 5 s re-check that is all a waiter would get without it.
    assert woke_after < 2.0
    assert live.wait_for_change(ids, new, timeout=0.3) is None  # and nothing more happened


@PG
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_notification_comes_at_commit_and_never_for_a_rolled_back_change():
    watcher = live.listener()
    deadline = time.monotonic() + 10
    while not watcher.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watcher.alive

    def send(commit):
        with transaction.atomic():
            live.changed(42)
            time.sleep(0.3)
            assert watcher.generation == generation  # not before the commit
            if not commit:
                transaction.set_rollback(True)

    generation = watcher.generation
    send(commit=False)
    watcher.wait(generation, 1.0)
    assert watcher.generation == generation  # rolled back: nobody was told

    _in_another_connection(0, lambda: send(commit=True)).join()
    watcher.wait(generation, 5.0)
    assert watcher.generation > generation


@pytest.mark.django_db
def test_the_stream_says_changed_at_once_to_a_page_drawn_before_the_change(client, clock):
    school = Staffed("coteford")
    inside_since(school, clock)
    response = as_(client, school.office).get(reverse("alerts:stream"), {"since": "an-older-stamp"})
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    chunks = iter(response.streaming_content)
    assert next(chunks).decode() == "retry: 2000\n\n"
    event = next(chunks).decode()
    stamp = live.stamp([school.school.pk])
    # The event carries the alarm strip itself, one data: line per line of HTML.
    head, _, data = event.partition("\ndata: ")
    assert head == f"id: {stamp}\nevent: changed" and event.endswith("\n\n")
    assert 'class="alarm-strip-wrap"' in data
    assert all(line.startswith("data: ") for line in event.strip().splitlines()[2:])
    # The browser says where it was when it comes back (Last-Event-ID), and is told only news.
    response = client.get(reverse("alerts:stream"), headers={"last-event-id": "an-older-stamp"})
    chunks = iter(response.streaming_content)
    next(chunks)
    assert next(chunks).decode().startswith(f"id: {stamp}\n")


@pytest.mark.django_db
def test_a_stream_ends_at_once_when_its_process_ends_its_streams(client):
    """end_waits() (a browser test's end; a stopping process) ends an open stream at once, not
    after its next ping 15 s away (nor at its next look at the stamp, 5 s away with PostgreSQL's
    listener), and a stream opened meanwhile ends as it opens."""
    school = Staffed("coteford")
    ids = [school.school.pk]
    since = live.stamp(ids)
    _listening()
    ended = threading.Timer(0.5, live.end_waits)
    started = time.monotonic()
    ended.start()
    try:
        assert live.wait_for_change(ids, since, timeout=20) is None
        waited = time.monotonic() - started
        response = as_(client, school.office).get(reverse("alerts:stream"), {"since": since})
        assert [chunk.decode() for chunk in response.streaming_content] == ["retry: 2000\n\n"]
    finally:
        ended.join()
        live.allow_waits()
    assert 0.4 < waited < 1.5
    assert live.wait_for_change(ids, since, timeout=0.3) is None and not live.waits_ended()


@pytest.mark.django_db
def test_only_the_office_and_leaders_get_the_stream(client, clock):
    school = Staffed("coteford")
    assert as_(client, school.teacher).get(reverse("alerts:stream")).status_code == 403
    assert as_(client, school.teacher).get(reverse("alerts:alarms")).status_code == 403


@pytest.mark.django_db
def test_the_alarm_strip_marks_what_nobody_has_taken_on_until_someone_does(client, clock):
    school = Staffed("coteford")
    visit = inside_since(school, clock)
    strip = as_(client, school.office).get(reverse("alerts:alarms")).content.decode()
    assert "data-alarm" not in strip and "<html" not in strip
    clock.move_to(local(10, 26))
    watchdog_loop.poll()
    alert = Alert.objects.get(visit=visit)
    strip = re.sub(r"\s+", " ", client.get(reverse("alerts:alarms")).content.decode())
    assert f'data-alarm="alert-{alert.pk}"' in strip
    assert "1 alert nobody has taken on" in strip
    assert "Ali Attendance and Tess Teacher" in strip and "Since 10:26" in strip and "step 1 of" in strip
    page = client.get(reverse("alerts:board")).content.decode()
    assert page.index(f'id="alarm-{alert.pk}"') < page.index(f'id="visit-{visit.pk}"')  # drawn above the list
    alerting.acknowledge(alert, by=school.office)
    strip = re.sub(r"\s+", " ", client.get(reverse("alerts:alarms")).content.decode())
    assert "data-alarm" not in strip
    assert "Olu Office is dealing with it" in strip


def _shapes(queries):
    """Each query with its numbers and strings blanked, and a list of ids as IN (…): the board
    reads the rows that changed since it last read them by their ids, never more than
    READ_ALL_FROM of them (test_many_rows_to_read_are_read_in_one_query_without_their_ids)."""
    return {re.sub(r"IN \((?:0, )*0\)", "IN (…)", q) for q in shapes(queries)}


@pytest.mark.django_db
def test_no_query_of_the_board_grows_with_the_visits_under_way(clock):
    school = Staffed("coteford")
    for minute in range(3):
        inside_since(school, clock, minute)

    def board_queries(kept):
        if not kept:
            board_data.forget_kept_rows()
        with own_queries() as ctx:
            board_data.board_context([school.office])
            board_data.alarms([school.office])
            live.stamp([school.school.pk])
        return _shapes(ctx)

    few = {kept: board_queries(kept) for kept in (False, True)}  # each row read, then none read again
    for minute in range(3, 9):
        inside_since(school, clock, minute)
    assert len(board_data.board_context([school.office])["rows"]) == 9
    assert {kept: board_queries(kept) for kept in (False, True)} == few


def lead(visit):
    return visit.assignments.order_by("-lead", "id")[0].staff


def _row_reads(queries):
    """The ids of the board's reads of rows: None for a read of the whole board."""
    reads = []
    for q in queries:
        if '"checkins_watch"."next_kind" AS "next_kind"' in q["sql"]:
            ids = re.search(r'"checkins_watch"."id" IN \(([^)]*)\)', q["sql"])
            reads.append(sorted(int(i) for i in ids.group(1).split(", ")) if ids else None)
    return reads


@pytest.mark.django_db
def test_after_one_check_in_among_many_visits_only_its_row_is_read_again(clock):
    school = Staffed("coteford")
    visits = [inside_since(school, clock, minute) for minute in range(5)]
    with own_queries() as ctx:
        board_data.board_context([school.office])
    assert _row_reads(ctx) == [sorted(Watch.objects.values_list("pk", flat=True))]
    clock.move_to(local(10, 6))
    recording.record_event(visits[2], "check_in", by=lead(visits[2]), location="In the garden")
    with own_queries() as ctx:
        rows = board_data.board_context([school.office])["rows"]
    assert _row_reads(ctx) == [[Watch.objects.get(visit=visits[2]).pk]]
    assert {r["visit_id"]: r["last_location"] for r in rows} == {
        v.pk: ("In the garden" if v == visits[2] else "In the home") for v in visits}


@pytest.mark.django_db
def test_many_rows_to_read_are_read_in_one_query_without_their_ids(clock, monkeypatch):
    school = Staffed("coteford")
    for minute in range(5):
        inside_since(school, clock, minute)
    monkeypatch.setattr(board_data, "READ_ALL_FROM", 3)
    with own_queries() as ctx:
        assert len(board_data.board_context([school.office])["rows"]) == 5
    assert _row_reads(ctx) == [None]


@pytest.mark.django_db
def test_someone_leaving_the_home_shows_on_their_row_however_many_rows_are_kept(clock):
    school = Staffed("coteford")
    visits = [inside_since(school, clock, minute) for minute in range(3)]
    board_data.board_context([school.office])
    clock.move_to(local(10, 30))
    first = lead(visits[1])
    recording.record_event(visits[1], "left_home", by=first, staff=first)
    row = next(r for r in board_data.board_context([school.office])["rows"] if r["visit_id"] == visits[1].pk)
    assert [p["left_home_at"] for p in row["staff"] if p["id"] == first.pk] == [local(10, 30)]


@pytest.mark.django_db
def test_a_row_changed_behind_its_stamps_is_read_again_within_five_minutes(clock):
    school = Staffed("coteford")
    visit = inside_since(school, clock)
    board_data.board_context([school.office])
    Watch.objects.filter(visit=visit).update(last_location="Behind the stamps")  # updated_at not moved
    clock.move_to(local(10, 5))
    assert board_data.board_context([school.office])["rows"][0]["last_location"] == "Behind the stamps"


@pytest.mark.django_db
def test_the_board_answers_with_two_thousand_visits_under_way(client, clock):
    school = Staffed("coteford")
    first = inside_since(school, clock)
    watch = Watch.objects.get(visit=first)
    now, later = timezone.now(), datetime.timedelta(hours=1)
    visits = Visit.objects.bulk_create([
        Visit(school=school.school, pupil=school.pupil, purpose="attendance", reason="Absent since Monday.",
              starts_at=first.starts_at, ends_at=first.ends_at, state=Visit.State.UNDER_WAY, proposed_by=school.officer,
              proposed_at=now, approved_at=now, policy_version=first.policy_version) for _ in range(1999)],
        batch_size=500)
    VisitStaff.objects.bulk_create([VisitStaff(visit=v, staff=s, lead=i == 0) for v in visits
                                    for i, s in enumerate((school.officer, school.teacher))], batch_size=1000)
    made = Watch.objects.bulk_create([
        Watch(visit=v, school=school.school, status=Watch.Status.OK, next_kind=watch.next_kind, what=watch.what,
              clause=watch.clause, due_at=watch.due_at + later, alert_at=watch.alert_at + later, started_at=watch.started_at,
              updated_at=watch.updated_at) for v in visits], batch_size=500)
    WatchStaff.objects.bulk_create([WatchStaff(watch=w, staff=s) for w in made
                                    for s in (school.officer, school.teacher)], batch_size=1000)
    clock.move_to(local(10, 26))
    watchdog_loop.poll()
    assert Alert.objects.count() == 1
    as_(client, school.office)
    pages = {name: client.get(reverse(name)) for name in ("alerts:board", "alerts:live", "alerts:alarms")}
    assert {name: r.status_code for name, r in pages.items()} == dict.fromkeys(pages, 200)
    assert pages["alerts:live"].content.decode().count('<article class="board-row') == 2000
    assert pages["alerts:alarms"].content.decode().count("data-alarm=") == 1


def test_doorstep_start_serves_with_threads_so_open_boards_do_not_take_whole_workers():
    web = next(c.argv for c in Command().children({"bind": "127.0.0.1:0", "workers": 2, "threads": 12}) if c.name == "web")
    assert web[web.index("--worker-class") + 1] == "gthread"
    assert web[web.index("--threads") + 1] == "12"


@pytest.mark.django_db
def test_a_mobile_number_changed_at_one_school_reads_again_only_that_schools_rows(clock):
    coteford, potton = Staffed("coteford"), Staffed("potton")
    here = [inside_since(coteford, clock, minute) for minute in range(2)]
    there = inside_since(potton, clock, 2)
    offices = [coteford.office, potton.office]  # a board over two schools, as a trust's is
    board_data.board_context(offices)
    clock.move_to(local(10, 3))
    potton.officer.mobile = "07700 911777"
    potton.officer.save(update_fields=["mobile"])
    with own_queries() as ctx:
        rows = board_data.board_context(offices)["rows"]
    assert _row_reads(ctx) == [[Watch.objects.get(visit=there).pk]]
    row = next(r for r in rows if r["visit_id"] == there.pk)
    assert "07700 911777" in [p["mobile"] for p in row["staff"]]
    assert {r["visit_id"] for r in rows} == {there.pk, *(v.pk for v in here)}
