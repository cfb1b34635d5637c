"""An open office board asks for its list of visits with the tag of what it shows (If-None-Match):
when nothing it shows has changed, Doorstep answers "304 Not Modified" with no body, so the
page keeps what it has and nothing is sent; as soon as anything it shows changes (a check-in,
an alert, a deadline coming close with time alone, a mobile number), the list comes again.

Most of those answers are given from the cheap stamp (safety.board.board_stamp) without reading
the list: every kind of change the list can show is tried here against that stamp, because a
board that goes on showing an old list is a safety fault."""
import datetime
import io
import re
from collections import Counter

import pytest
from django.test import Client
from django.urls import reverse

from notify import delivery
from notify import services as notify
from notify.models import Channel
from pupils.csv_import import Mapping, import_file
from safety import alerting, recording
from safety import watch as watching
from safety import watchdog as watchdog_loop
from people.models import StaffMember
from safety.alerts.models import Alert
from safety.checkins.models import Watch

from tests.queries import own_queries
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db


def fetch(client, tag=""):
    return client.get(reverse("alerts:live"), **({"HTTP_IF_NONE_MATCH": tag} if tag else {}))


def unchanged_then(client, clock, change, at=None):
    """Fetch the list, check an unchanged fetch is a 304, make the change (at `at`), and fetch
    again with the tag: the answer to that last fetch."""
    first = fetch(client)
    assert first.status_code == 200
    assert fetch(client, first["ETag"]).status_code == 304
    if at is not None:
        clock.move_to(at)
    change()
    return fetch(client, first["ETag"])


def test_the_page_is_drawn_with_the_tag_its_first_fetch_sends_and_an_unchanged_list_is_not_sent(office, inside, clock):
    page = office.get(reverse("alerts:board")).content.decode()
    tag = re.search(r'data-etag="([^"]*)"', page).group(1).replace("&quot;", '"')
    clock.move_to(local(10, 1))
    again = fetch(office, tag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == tag
    assert "no-cache" in again["Cache-Control"] and "private" in again["Cache-Control"]


def test_a_check_in_sends_the_list_again_with_a_new_tag(office, inside, coteford, clock):
    first = fetch(office)
    assert first.status_code == 200 and first["ETag"]
    clock.move_to(local(10, 2))
    recording.record_event(inside, "check_in", by=coteford.officer, location="In the kitchen")
    after = fetch(office, first["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != first["ETag"]
    assert "In the kitchen" in after.content.decode()


def test_time_alone_bringing_a_deadline_close_sends_the_list_again(office, inside, clock):
    first = fetch(office)
    assert 'data-urgency="fine"' in first.content.decode()
    clock.move_to(local(10, 16))  # the check-in is due at 10:20: "due soon" from 10:15
    after = fetch(office, first["ETag"])
    assert after.status_code == 200
    assert 'data-urgency="due_soon"' in after.content.decode()


def test_an_alert_raised_sends_the_list_again(office, inside, clock):
    first = fetch(office)
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    after = fetch(office, first["ETag"])
    assert after.status_code == 200
    assert "nobody has taken it on" in after.content.decode()


def test_a_new_mobile_number_on_the_staff_register_sends_the_list_again(office, inside, coteford, clock):
    first = fetch(office)
    coteford.officer.mobile = "07700 911999"
    coteford.officer.save(update_fields=["mobile"])
    after = fetch(office, first["ETag"])
    assert after.status_code == 200
    assert "07700 911999" in after.content.decode()


def test_another_session_with_the_same_list_gets_it_in_full(client, coteford, inside):
    client.force_login(coteford.office.user)
    first = fetch(client)
    other = Client()
    other.force_login(coteford.head.user)
    assert fetch(other, first["ETag"]).status_code == 200  # its forms carry its own session's token


def rows_read(client, tag):
    """One fetch; whether it read the rows of the list (the watches with their visits); and the
    statements it made for the board (the session's own writes, now and then, aside)."""
    with own_queries() as made:
        answer = fetch(client, tag)
    sql = [q["sql"] for q in made if "django_session" not in q["sql"] and "SAVEPOINT" not in q["sql"]]
    return answer, any('"visits_visit"."ends_at" AS "visit__ends_at"' in q and "visit__school_id" in q for q in sql), sql


def test_an_unchanged_list_is_answered_without_reading_it_in_as_many_queries_however_many_visits(
        office, inside, coteford, clock):
    first = fetch(office)
    clock.move_to(local(10, 1))
    answer, read, few = rows_read(office, first["ETag"])
    assert answer.status_code == 304 and answer["ETag"] == first["ETag"]
    assert not read
    for _ in range(8):  # eight more visits on the board, due to start now
        watching.watch_scheduled(scheduled_visit(coteford, [coteford.head], start=(10, 0)), local(10, 1))
    tag = fetch(office)["ETag"]
    answer, read, many = rows_read(office, tag)
    assert answer.status_code == 304 and not read
    assert len(many) == len(few), "\n".join(["statements made with nine visits and not with one:",
                                             *(Counter(many) - Counter(few)).elements()])


def test_once_its_cheap_tag_is_out_of_date_the_same_list_is_still_a_304_with_a_tag_that_is_cheap_again(
        office, inside, clock):
    first = fetch(office)  # 10:00: trusted for five minutes at most, and the check-in is due at 10:20
    clock.move_to(local(10, 6))
    answer, read, _ = rows_read(office, first["ETag"])
    assert answer.status_code == 304 and read
    assert answer["ETag"] != first["ETag"]
    clock.move_to(local(10, 7))
    answer, read, _ = rows_read(office, answer["ETag"])
    assert answer.status_code == 304 and not read


def edited(record, **values):
    """The change of an edit page: these fields set and saved, and only they named (the change
    is stamped all the same: core.stamps)."""
    def edit():
        for name, value in values.items():
            setattr(record, name, value)
        record.save(update_fields=list(values))
    return edit


def test_a_pupils_name_corrected_on_the_register_sends_the_list_again(office, inside, coteford, clock):
    after = unchanged_then(office, clock, edited(coteford.pupil, first_name="Zara"))
    assert after.status_code == 200 and "Z.B., Year" in after.content.decode()


def test_a_visit_made_longer_sends_the_list_again(office, inside, clock):
    after = unchanged_then(office, clock, edited(inside, ends_at=local(12, 10)), at=local(10, 1))
    assert after.status_code == 200 and "10:00–12:10" in after.content.decode()


def test_an_alert_taken_on_and_the_owners_name_corrected_each_send_the_list_again(office, inside, coteford, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alert = Alert.objects.get(visit=inside)
    after = unchanged_then(office, clock, lambda: alerting.acknowledge(alert, by=coteford.office))
    assert after.status_code == 200 and f"taken on by {coteford.office.full_name}" in after.content.decode()

    after = unchanged_then(office, clock, edited(coteford.office, full_name="Olive Office-Smith"))
    assert after.status_code == 200 and "taken on by Olive Office-Smith" in after.content.decode()


def test_time_alone_turning_a_check_in_late_sends_the_list_again(office, inside, clock):
    first = fetch(office, "")
    clock.move_to(local(10, 16))
    due_soon = fetch(office, first["ETag"])
    assert due_soon.status_code == 200 and ">Due soon<" in due_soon.content.decode()
    clock.move_to(local(10, 19, 59))
    assert fetch(office, due_soon["ETag"]).status_code == 304
    clock.move_to(local(10, 20, 1))
    late = fetch(office, due_soon["ETag"])
    assert late.status_code == 200 and ">Late<" in late.content.decode()


def test_a_scheduled_visit_joins_the_list_when_its_time_comes_and_when_it_is_moved_earlier(
        office, inside, coteford, clock):
    later = scheduled_visit(coteford, [coteford.head], start=(11, 0))
    watching.watch_scheduled(later, local(10, 0))
    first = fetch(office)
    assert f'id="visit-{later.pk}"' not in first.content.decode()
    clock.move_to(local(10, 54, 59))
    tag = fetch(office, first["ETag"])["ETag"]
    clock.move_to(local(10, 55, 1))  # five minutes before its start: on the board, not started
    joined = fetch(office, tag)
    assert joined.status_code == 200 and f'id="visit-{later.pk}"' in joined.content.decode()

    earlier = scheduled_visit(coteford, [coteford.teacher], start=(14, 0))
    watching.watch_scheduled(earlier, local(10, 55, 1))
    tag = fetch(office)["ETag"]
    assert fetch(office, tag).status_code == 304
    edited(earlier, starts_at=local(10, 57), ends_at=local(11, 40))()
    moved = fetch(office, tag)
    assert moved.status_code == 200 and f'id="visit-{earlier.pk}"' in moved.content.decode()


def test_the_watchdog_going_quiet_and_a_text_not_going_out_each_send_the_list_again(office, inside, coteford, clock):
    watchdog_loop.beat("host:1")
    delivery.beat("sender:1")
    first = fetch(office)
    assert 'id="watchdog-stale"' not in first.content.decode()
    clock.shift(datetime.timedelta(seconds=10))
    assert fetch(office, first["ETag"]).status_code == 304
    clock.shift(datetime.timedelta(seconds=10))  # 20 s since the last beat: nobody is watching
    stale = fetch(office, first["ETag"])
    assert stale.status_code == 200 and 'id="watchdog-stale"' in stale.content.decode()

    watchdog_loop.beat("host:1")
    delivery.beat("sender:1")
    first = fetch(office)
    notify.notify([coteford.teacher], kind="checkin.reminder", subject="Check-in due", body="Check in now.",
                  school=coteford.school, idempotency_key="bench-delayed", channels=[Channel.SMS])
    assert fetch(office, first["ETag"]).status_code == 304  # a text just written shows nothing yet...
    for _ in range(4):
        clock.shift(datetime.timedelta(seconds=8))
        watchdog_loop.beat("host:1")
        delivery.beat("sender:1")
    delayed = fetch(office, first["ETag"])  # ...but 32 s unsent, the board names whom to phone
    assert delayed.status_code == 200 and 'id="delivery-delayed-sms"' in delayed.content.decode()


def test_a_pupil_moved_up_a_year_by_a_register_import_sends_the_list_again(office, inside, coteford, clock):
    # Imports write many pupils at once (bulk_update), past save(): they stamp the rows themselves.
    pupil = coteford.pupil
    header = "UPN,Legal Forename,Legal Surname,DOB,Year,Reg,Address 1,Postcode"
    line = f"{pupil.upn},{pupil.first_name},{pupil.last_name},{pupil.date_of_birth:%d/%m/%Y},Year 2,2A,1 High St,AB1 2CD"
    year = "2" if pupil.year_group != "2" else "3"
    line = line.replace("Year 2", f"Year {year}")
    before = fetch(office)
    assert fetch(office, before["ETag"]).status_code == 304
    mapping = Mapping(name="test", columns={"upn": "UPN", "first_name": "Legal Forename", "last_name": "Legal Surname",
                                            "date_of_birth": "DOB", "year_group": "Year", "class_name": "Reg",
                                            "address_line1": "Address 1", "postcode": "Postcode"})
    counts = import_file(coteford.school, io.BytesIO(f"{header}\n{line}\n".encode()), mapping, by=None,
                         file_name="pupils.csv")
    assert counts.updated == 1
    after = fetch(office, before["ETag"])
    assert after.status_code == 200 and f"Year {year}" in after.content.decode()


# A transaction that took its time before another's but commits after it: the newest time of
# the table does not move, and the list must come again all the same.

def test_an_alert_taken_on_by_a_transaction_that_commits_late_sends_the_list_again(office, coteford, clock):
    first_visit = scheduled_visit(coteford, [coteford.officer], minutes=90)
    other_visit = scheduled_visit(coteford, [coteford.teacher], minutes=90)
    for visit, person in ((first_visit, coteford.officer), (other_visit, coteford.teacher)):
        recording.record_event(visit, "arrived", by=person, location="Outside the house")
        recording.record_event(visit, "entered", by=person)
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 27))
    alerting.acknowledge(Alert.objects.get(visit=other_visit), by=coteford.head)
    tag = fetch(office)["ETag"]
    assert fetch(office, tag).status_code == 304
    # Taken on at 10:26, before the other, but committed only now.
    Alert.objects.filter(visit=first_visit).update(state=Alert.State.ACKNOWLEDGED, owner=coteford.office,
                                                   acknowledged_at=local(10, 26), step_due_at=None)
    after = fetch(office, tag)
    assert after.status_code == 200 and f"taken on by {coteford.office.full_name}" in after.content.decode()


def test_a_watch_rewritten_by_a_transaction_that_commits_late_sends_the_list_again(office, inside, coteford, clock):
    other = scheduled_visit(coteford, [coteford.head], minutes=90)
    clock.move_to(local(10, 2))
    recording.record_event(other, "arrived", by=coteford.head, location="Outside the house")
    tag = fetch(office)["ETag"]
    assert fetch(office, tag).status_code == 304
    # A check-in on the first visit stamped 10:01, before the other's arrival, committed now.
    Watch.objects.filter(visit=inside).update(last_check_in_at=local(10, 1), last_location="In the garden",
                                              updated_at=local(10, 1))
    after = fetch(office, tag)
    assert after.status_code == 200 and "In the garden" in after.content.decode()


def test_a_mobile_number_saved_by_a_transaction_that_commits_late_sends_the_list_again(office, inside, coteford, clock):
    clock.move_to(local(10, 2))
    coteford.head.save()  # the staff's newest change: 10:02
    tag = fetch(office)["ETag"]
    assert fetch(office, tag).status_code == 304
    StaffMember.objects.filter(pk=coteford.officer.pk).update(mobile="07700 911123", updated_at=local(10, 1))
    after = fetch(office, tag)
    assert after.status_code == 200 and "07700 911123" in after.content.decode()
