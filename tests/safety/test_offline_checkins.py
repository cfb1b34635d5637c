"""When the phone has no signal (docs/safety-core.md, "When the phone has no signal"): the
phone page's script sends a press late, stamped with the moment it was pressed (`pressed_at`).
The server takes that moment as the event's `at` (`recorded_at` is when it arrived), refuses
a moment in the future or before the person's previous event, never records the same press
twice, and a late check-in after an alert stops the escalation without closing the alert:
the board and the alert pages say when it was pressed and when it came. Also the offline
page and the service worker's script. Controlled clock; pages through Django's test client."""
import json
import re

import pytest
from django.urls import reverse

from people.services import set_pins
from safety import recording, texts
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert, AlertStep
from safety.checkins.models import VisitEvent, Watch
from safety.checkins.views import offline_help

from tests.factories import Staffed, compliant_staff
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}  # what phone.js asks for


@pytest.fixture
def coteford(clock):
    school = Staffed("coteford", name="Coteford Junior School")
    school.school.phone = "01632 960111"
    school.school.save()
    for staff in (school.officer, school.teacher):
        set_pins(staff, safe_pin="1234", duress_pin="9876", by=staff)
    return school


@pytest.fixture
def inside(coteford, clock):
    """A Coteford pair inside the home since 10:00: check-in due 10:20, alert at 10:25."""
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher], minutes=90)
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=coteford.officer)
    recording.record_event(visit, "entered", by=coteford.officer)
    return visit


def phone(client, staff):
    client.force_login(staff.user)
    return client


def check_in(client, visit, pressed_at, pin="1234", **extra):
    data = {"checkin-pin": pin, "checkin-concerns_answer": "no"}
    if pressed_at is not None:
        data["pressed_at"] = pressed_at.isoformat() if hasattr(pressed_at, "isoformat") else pressed_at
    return client.post(reverse("checkins:record", args=[visit.pk, "check_in"]), data, **extra)


def text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def check_ins(visit):
    return list(VisitEvent.objects.filter(visit=visit, type="check_in").order_by("id"))


# ----------------------------------------------------------------------------- pressed_at

def test_a_press_sent_late_is_recorded_at_the_time_it_was_pressed(coteford, inside, client, clock):
    clock.move_to(local(10, 42))
    answer = check_in(phone(client, coteford.officer), inside, local(10, 31), **JSON)
    assert answer.status_code == 200
    got = answer.json()
    assert got["ok"] and (got["pressed"], got["sent"]) == ("10:31", "10:42")
    assert got["next"] == reverse("checkins:visit", args=[inside.pk])
    [event] = check_ins(inside)
    assert (event.at, event.recorded_at, event.staff_id) == (local(10, 31), local(10, 42), coteford.officer.pk)
    # The next check-in counts from when they pressed (10:31 + 20 min), not from when it came.
    assert Watch.objects.get(visit=inside).due_at == local(10, 51)


def test_the_page_without_its_script_posts_as_before_and_the_event_happened_now(coteford, inside, client, clock):
    clock.move_to(local(10, 15))
    response = check_in(phone(client, coteford.officer), inside, None)
    assert response.status_code == 302
    [event] = check_ins(inside)
    assert event.at == event.recorded_at == local(10, 15)


@pytest.mark.parametrize("as_json", [True, False])
def test_a_pressed_time_in_the_future_is_refused_and_nothing_is_recorded(coteford, inside, client, clock, as_json):
    clock.move_to(local(10, 15))
    response = check_in(phone(client, coteford.officer), inside, local(10, 20), **(JSON if as_json else {}))
    assert response.status_code == 400
    words = response.json()["error"] if as_json else text(response)
    assert "The time you pressed the button (10:20) is later than now" in words
    assert not check_ins(inside)


def test_a_minute_of_a_fast_phone_clock_is_still_now(coteford, inside, client, clock):
    clock.move_to(local(10, 15))
    assert check_in(phone(client, coteford.officer), inside, local(10, 15, 50), **JSON).status_code == 200
    assert check_ins(inside)[0].at == local(10, 15, 50)


def test_a_pressed_time_before_my_previous_event_or_unreadable_is_refused(coteford, inside, client, clock):
    clock.move_to(local(10, 15))
    me = phone(client, coteford.officer)
    before = check_in(me, inside, local(9, 58), **JSON)   # entered was recorded at 10:00
    assert before.status_code == 400
    assert before.json()["error"].startswith("The time you pressed the button (09:58) is before went in, recorded "
                                             "for you at 10:00")
    garbled = check_in(me, inside, "half past ten", **JSON)
    assert garbled.status_code == 400 and "could not be read" in garbled.json()["error"]
    assert not check_ins(inside)


def test_the_first_press_of_the_day_may_not_be_from_the_day_before(coteford, client, clock):
    visit = scheduled_visit(coteford, [coteford.officer], minutes=45)
    clock.move_to(local(9, 40))
    yesterday = local(9, 30).replace(day=local(9, 30).day - 1)
    response = phone(client, coteford.officer).post(
        reverse("checkins:record", args=[visit.pk, "left_school"]),
        {"expected_return": "11:30", "pressed_at": yesterday.isoformat()}, **JSON)
    assert response.status_code == 400 and "before the day of the visit" in response.json()["error"]
    # Leaving school before the visit's start time is fine: it is the same day.
    response = phone(client, coteford.officer).post(
        reverse("checkins:record", args=[visit.pk, "left_school"]),
        {"expected_return": "11:30", "pressed_at": local(9, 35).isoformat()}, **JSON)
    assert response.status_code == 200
    assert VisitEvent.objects.get(visit=visit).at == local(9, 35)


def test_the_same_press_sent_twice_is_recorded_once(coteford, inside, client, clock):
    """The first answer was lost on the way back, so phone.js sent the press again."""
    clock.move_to(local(10, 42))
    me = phone(client, coteford.officer)
    first = check_in(me, inside, local(10, 31), **JSON)
    clock.move_to(local(10, 43))
    again = check_in(me, inside, local(10, 31), **JSON)
    assert first.status_code == again.status_code == 200
    assert again.json()["ok"] and again.json()["pressed"] == "10:31"
    assert len(check_ins(inside)) == 1


def test_a_wrong_or_missing_pin_in_a_late_press_is_refused_in_words(coteford, inside, client, clock):
    clock.move_to(local(10, 42))
    me = phone(client, coteford.officer)
    missing = check_in(me, inside, local(10, 31), pin="", **JSON)
    assert missing.status_code == 400 and missing.json() == {"ok": False, "error": "Enter your PIN."}
    wrong = check_in(me, inside, local(10, 31), pin="0000", **JSON)
    assert wrong.status_code == 400 and "That PIN is not right" in wrong.json()["error"]
    assert not check_ins(inside)


def test_a_duress_pin_sent_late_gets_exactly_the_answer_a_safe_pin_gets(coteford, client, clock):
    visits = []
    for staff in (coteford.officer, coteford.teacher):
        visit = scheduled_visit(coteford, [staff], minutes=90)
        clock.move_to(local(10, 0))
        recording.record_event(visit, "arrived", by=staff)
        recording.record_event(visit, "entered", by=staff)
        visits.append(visit)
    clock.move_to(local(10, 42))
    safe = check_in(phone(client, coteford.officer), visits[0], local(10, 31), pin="1234", **JSON).json()
    duress = check_in(phone(client, coteford.teacher), visits[1], local(10, 31), pin="9876", **JSON).json()
    for answer, visit in ((safe, visits[0]), (duress, visits[1])):
        answer["next"] = answer["next"].replace(str(visit.pk), "N")
    assert safe == duress
    assert list(Alert.objects.values_list("visit_id", "kind")) == [(visits[1].pk, "duress")]


def test_a_panic_kept_while_offline_is_sent_with_its_time_and_never_refused_for_it(coteford, inside, client, clock):
    clock.move_to(local(10, 12))
    me = phone(client, coteford.officer)
    url = reverse("checkins:panic", args=[inside.pk])
    answer = me.post(url, {"confirmed": "yes", "pressed_at": local(10, 10).isoformat()}, **JSON)
    assert answer.status_code == 200 and "Panic alarm sent" in answer.json()["message"]
    panic = Alert.objects.get(kind="panic")
    assert panic.event.at == local(10, 10) and panic.event.recorded_at == local(10, 12)
    # A time that cannot be right does not stop an alarm: it is recorded as now.
    me.post(url, {"confirmed": "yes", "pressed_at": local(11, 30).isoformat()}, **JSON)
    assert VisitEvent.objects.filter(visit=inside, type="panic").order_by("id").last().at == local(10, 12)


# ----------------------------------------------------------------------------- a late check-in after an alert

def test_a_late_check_in_after_an_alert_stops_the_escalation_but_leaves_the_alert_open(coteford, inside, client, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alert = Alert.objects.get()
    assert alert.kind == "overdue" and alert.step_due_at is not None
    steps_before = AlertStep.objects.filter(alert=alert).count()

    # Pressed at 10:31 with no signal; the signal came back at 10:42.
    clock.move_to(local(10, 42))
    assert check_in(phone(client, coteford.officer), inside, local(10, 31), **JSON).status_code == 200

    alert.refresh_from_db()
    assert alert.state == Alert.State.OPEN and alert.resolved_at is None   # a person resolves it
    assert alert.contact_at == local(10, 42) and alert.step_due_at is None  # the escalation stopped
    words = "Contact restored at 10:42 (pressed on the phone at 10:31, sent when the signal came back)"
    assert alert.contact_words == words
    # Its next steps were due from 10:30: none is told now. (The next check-in counts from
    # 10:31, so it is due 10:51: nothing new is raised before then either.)
    clock.move_to(local(10, 50))
    done = watchdog_loop.poll()
    assert (done["raised"], done["advanced"]) == (0, 0)
    assert AlertStep.objects.filter(alert=alert).count() == steps_before
    alert.refresh_from_db()
    assert alert.state == Alert.State.OPEN

    office = phone(client, coteford.office)
    assert words in text(office.get(reverse("alerts:board")))
    assert words in text(office.get(reverse("alerts:resolve", args=[alert.pk])))
    head = phone(client, coteford.head)
    assert words in text(head.get(reverse("alerts:review")))


def test_a_check_in_in_time_after_an_alert_says_only_when_contact_came(coteford, inside, client, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    clock.move_to(local(10, 27))
    check_in(phone(client, coteford.officer), inside, local(10, 27), **JSON)
    assert Alert.objects.get().contact_words == "Contact restored at 10:27"


def test_a_list_of_alerts_reads_when_contact_came_in_one_query(coteford, inside, client, clock,
                                                                django_assert_num_queries):
    """The board and the review page read the check-ins that restored contact for all their
    alerts at once: the words are those each alert gives alone."""
    second, third = compliant_staff(coteford.school, "teacher"), compliant_staff(coteford.school, "teacher")
    set_pins(second, safe_pin="1234", duress_pin="9876", by=second)
    other = scheduled_visit(coteford, [second], start=(10, 1), minutes=90)
    clock.move_to(local(10, 1))
    recording.record_event(other, "arrived", by=second)
    recording.record_event(other, "entered", by=second)
    silent = scheduled_visit(coteford, [third], start=(10, 2), minutes=90)
    clock.move_to(local(10, 2))
    recording.record_event(silent, "arrived", by=third)
    recording.record_event(silent, "entered", by=third)
    clock.move_to(local(10, 28))
    watchdog_loop.poll()
    assert Alert.objects.count() == 3
    clock.move_to(local(10, 42))
    assert check_in(phone(client, coteford.officer), inside, local(10, 31), **JSON).status_code == 200
    clock.move_to(local(10, 43))
    assert check_in(phone(client, second), other, local(10, 43), **JSON).status_code == 200

    one_by_one = {a.pk: a.contact_words for a in Alert.objects.all()}
    alerts = list(Alert.objects.all())
    with django_assert_num_queries(1):
        Alert.keep_contact_events(alerts)
    with django_assert_num_queries(0):
        together = {a.pk: a.contact_words for a in alerts}
    assert together == one_by_one
    assert sorted(together.values()) == [
        "", "Contact restored at 10:42 (pressed on the phone at 10:31, sent when the signal came back)",
        "Contact restored at 10:43"]


# ----------------------------------------------------------------------------- the pages that help offline

def test_the_visit_page_carries_what_to_text_and_ring_before_the_signal_goes(coteford, inside, client, settings):
    settings.DOORSTEP_SMS_NUMBER = "07700 900123"
    response = phone(client, coteford.officer).get(reverse("checkins:visit", args=[inside.pk]))
    # Never kept in the browser's cache: the briefing is about a pupil and a household, and the
    # server's time on the page (which stamps a press) must be now's.
    assert "no-store" in response["Cache-Control"]
    page = text(response)
    assert 'id="phone-status"' in page and "doorstep/phone.js" in page
    help_for_check_in = re.search(r'<template data-offline-help="check_in">(.*?)</template>', page).group(1)
    assert "<kbd>OK 1234</kbd> (your own PIN, not 1234)" in help_for_check_in
    assert "07700 900123" in help_for_check_in and "01632 960111" in help_for_check_in
    help_for_panic = re.search(r'<template data-offline-help="panic">(.*?)</template>', page).group(1)
    assert "Ring 999 now" in help_for_panic and "<kbd>HELP</kbd>" in help_for_panic


def test_the_offline_page_has_the_numbers_and_words_and_nothing_about_a_pupil(coteford, inside, client, settings):
    settings.DOORSTEP_SMS_NUMBER = "07700 900123"
    response = phone(client, coteford.officer).get(reverse("checkins:offline"))
    assert response.status_code == 200
    page = text(response)
    for expected in ["NOT been sent", "07700 900123", "01632 960111", "<kbd>OK 1234</kbd>", "<kbd>HELP</kbd>", "999"]:
        assert expected in page, expected
    for private in [coteford.pupil.first_name, coteford.pupil.last_name, coteford.pupil.address_line1,
                    coteford.pupil.postcode, "Ali Attendance"]:
        assert private not in page, private
    assert "no-store" in response["Cache-Control"]
    client.logout()
    assert client.get(reverse("checkins:offline")).status_code == 302  # signed-in staff only


def test_the_service_worker_is_served_from_the_root_and_caches_only_the_offline_page(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/today/"
    body = response.content.decode()
    assert json.dumps(reverse("checkins:offline")) in body
    # The only things put in the cache: the offline page and the static files it names.
    assert body.count("cache.put(") == 1 and body.count("cache.addAll(") == 1
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_every_word_the_phone_says_to_text_is_one_the_doorstep_number_understands(coteford):
    """The words shown with no signal are read by safety.texts as the event the button was for
    (a check-in for going in or the door, whose word is the check-in's)."""
    as_check_in = {"entered", "parent_not_home", "parent_late_notice"}
    shown = [e for e in offline_help(coteford.school)["events"] if e["word"]]
    assert {e["event"] for e in shown} >= {"check_in", "left_home", "back_safe", "arrived", "panic"}
    for e in shown:
        reading = texts.read_text(e["word"])
        expected = "check_in" if e["event"] in as_check_in else e["event"]
        assert reading.event_type == expected, e
        assert reading.pin == ("1234" if e["pin"] else ""), e
