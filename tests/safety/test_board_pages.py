"""The office board, the police card and the headteacher's alerts page (docs/safety-core.md, "Screens"): sorted
by urgency, live partial, one-click actions through the services, least privilege (no
safeguarding concerns, pupil as initials), another school's records are a 404."""
import re

import pytest
from django.urls import reverse

from safety import alerting, recording
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert
from audit.models import AuditEntry
from safety.checkins.models import VisitEvent, Watch
from notify.models import Message

from tests.factories import HouseholdNoteFactory, Staffed, VehicleFactory, compliant_staff
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db




@pytest.fixture
def overdue(inside, clock):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    return Alert.objects.get(visit=inside)


def as_(client, staff):
    client.force_login(staff.user)
    return client


def text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def test_the_board_lists_visits_most_urgent_first(coteford, client, clock):
    # Four pairs: nobody is in two homes at once.
    pairs = [(compliant_staff(coteford.school, "attendance_officer"), compliant_staff(coteford.school, "teacher"))
             for _ in range(4)]
    visits = [scheduled_visit(coteford, list(pair), start=(10, m)) for pair, m in zip(pairs, (0, 1, 2, 3), strict=True)]
    clock.move_to(local(10, 5))
    for v, (officer, _) in zip(visits, pairs, strict=True):
        recording.record_event(v, "arrived", by=officer)
        recording.record_event(v, "entered", by=officer)
    clock.move_to(local(10, 15))
    recording.record_event(visits[3], "check_in", by=pairs[3][0])   # due 10:35: due soon at 10:31
    clock.move_to(local(10, 20))
    recording.record_event(visits[2], "panic", by=pairs[2][1])      # alarm
    recording.record_event(visits[0], "check_in", by=pairs[0][0])   # due 10:40: fine
    clock.move_to(local(10, 31))
    watchdog_loop.poll()                                                       # visits[1]: overdue
    page = text(as_(client, coteford.office).get(reverse("alerts:board")))
    order = [int(pk) for pk in re.findall(r'<article class="board-row board-row--\w+" id="visit-(\d+)"', page)]
    assert order == [visits[2].pk, visits[1].pk, visits[3].pk, visits[0].pk]
    urgencies = re.findall(r'data-urgency="(\w+)"', page)
    assert urgencies == ["alarm", "overdue", "due_soon", "fine"]
    assert "1 in alarm" in page and "1 overdue" in page


def test_the_live_part_is_the_rows_alone_for_htmx_to_swap_in(coteford, inside, client, clock):
    page = as_(client, coteford.office).get(reverse("alerts:board"))
    # Fetched after the alarm strip, itself fetched when the event stream says something
    # changed and every 30 s (docs/safety-core.md, "The board is pushed").
    assert 'hx-get="/board/live/"' in text(page) and 'hx-trigger="doorstep:alarms-fetched from:body"' in text(page)
    assert 'hx-get="/board/alarms/"' in text(page) and 'hx-trigger="doorstep:changed from:body, every 30s"' in text(page)
    assert 'data-stream="/board/stream/"' in text(page)
    live = as_(client, coteford.office).get(reverse("alerts:live"))
    assert live.status_code == 200
    assert f'id="visit-{inside.pk}"' in text(live) and "<html" not in text(live)


def test_the_office_sees_no_safeguarding_concerns_and_the_pupil_only_as_initials(coteford, inside, client, clock):
    recording.record_event(inside, "check_in", by=coteford.officer, concerns="Bruising on the child's arm")
    for url in (reverse("alerts:board"), reverse("alerts:live")):
        page = text(as_(client, coteford.office).get(url))
        assert "Bruising" not in page and "concern" not in page.lower()
        assert "Ava Brown" not in page and coteford.pupil.address_line1 not in page
        assert "A.B., Year 4" in page
        assert coteford.officer.full_name in page and f'href="tel:{coteford.officer.mobile.replace(" ", "")}"' in page


def test_only_the_office_and_leaders_see_the_board(coteford, inside, client, clock):
    assert as_(client, coteford.teacher).get(reverse("alerts:board")).status_code == 403
    assert as_(client, coteford.teacher).get(reverse("alerts:live")).status_code == 403
    assert as_(client, coteford.dsl).get(reverse("alerts:board")).status_code == 200


def test_another_schools_office_gets_404_for_every_action(coteford, overdue, client, clock):
    stranger = Staffed("potton", name="Potton Primary School").office
    c = as_(client, stranger)
    visit = overdue.visit
    assert f'id="visit-{visit.pk}"' not in text(c.get(reverse("alerts:board")))
    for url in (reverse("alerts:office_call", args=[visit.pk]), reverse("alerts:code_word", args=[visit.pk]),
                reverse("alerts:resolve", args=[overdue.pk]), reverse("alerts:police_card", args=[overdue.pk])):
        assert c.get(url).status_code == 404, url
        assert c.post(url, {"confirmed": "yes", "reason": "false_alarm"}).status_code == 404, url
    assert c.post(reverse("alerts:acknowledge", args=[overdue.pk])).status_code == 404
    overdue.refresh_from_db()
    assert overdue.state == "open"
    assert not AuditEntry.objects.filter(action="alert.police_card_read").exists()


def test_checked_in_by_phone_records_an_office_call_and_stops_the_escalation(coteford, overdue, client, clock):
    c = as_(client, coteford.office)
    page = text(c.get(reverse("alerts:board")))
    assert "Checked in by phone" in page and "nobody has taken it on" in page
    form = c.get(reverse("alerts:office_call", args=[overdue.visit_id]))
    assert "Did they say they have any concerns?" in text(form)
    r = c.post(reverse("alerts:office_call", args=[overdue.visit_id]),
               {"worried": "no", "note": "Rang from the kitchen"}, follow=True)
    assert "Check-in by phone recorded for" in text(r)
    event = VisitEvent.objects.filter(visit=overdue.visit, type="check_in").latest("id")
    assert (event.via, event.recorded_by, event.note) == ("office_call", coteford.office, "Rang from the kitchen")
    overdue.refresh_from_db()
    assert overdue.contact_at is not None and overdue.state == "open"  # still to be resolved with a reason
    assert Watch.objects.get(visit=overdue.visit).status == "ok"  # watched again from the call
    assert "escalation stopped, resolve it" in text(r)


def test_checked_in_by_phone_is_one_click_on_the_board(coteford, overdue, client, clock):
    c = as_(client, coteford.office)
    board = c.get(reverse("alerts:board")).content.decode()
    url = reverse("alerts:office_call", args=[overdue.visit_id])
    one_click = re.search(r'<form method="post" action="%s">(.*?)</form>' % re.escape(url), board, re.S)
    assert one_click and "Checked in by phone" in one_click.group(1)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', one_click.group(1)))
    assert fields["worried"] == "no"
    r = c.post(url, fields, follow=True)  # exactly what the button sends
    from visits.services import visit_staff

    names = " and ".join(s.full_name for s in visit_staff(overdue.visit))
    assert f"Check-in by phone recorded for {names} (visit {overdue.visit_id})." in text(r)
    event = VisitEvent.objects.filter(visit=overdue.visit, type="check_in").latest("id")
    assert (event.via, event.recorded_by, event.concerns) == ("office_call", coteford.office, "")
    overdue.refresh_from_db()
    assert overdue.contact_at is not None


def test_code_word_heard_asks_to_confirm_then_raises_the_top_alert(coteford, inside, client, clock):
    c = as_(client, coteford.office)
    url = reverse("alerts:code_word", args=[inside.pk])
    page = c.get(url)
    assert "Did you hear the code word?" in text(page)
    assert not Alert.objects.exists()
    r = c.post(url, {"confirmed": "yes", "note": "Asked about the blue folder"}, follow=True)
    alert = Alert.objects.get()
    assert (alert.kind, alert.step) == ("code_word", len(alert.ladder) - 1)
    assert "Code word recorded" in text(r) and 'data-urgency="alarm"' in text(r)


def test_acknowledging_takes_the_alert_on(coteford, overdue, client, clock):
    r = as_(client, coteford.office).post(reverse("alerts:acknowledge", args=[overdue.pk]), follow=True)
    overdue.refresh_from_db()
    assert (overdue.state, overdue.owner) == ("acknowledged", coteford.office)
    assert f"taken on by {coteford.office.full_name}" in text(r)
    again = as_(client, coteford.head).post(reverse("alerts:acknowledge", args=[overdue.pk]), follow=True)
    assert "already acknowledged by Olu Office" in text(again)


def test_resolving_needs_a_reason_from_the_list_and_a_note_for_other(coteford, overdue, client, clock):
    c = as_(client, coteford.office)
    url = reverse("alerts:resolve", args=[overdue.pk])
    assert c.post(url, {}).status_code == 400
    r = c.post(url, {"reason": "other", "note": ""})
    assert r.status_code == 400 and "a note is required when the reason is &#x27;other&#x27;" in text(r)
    overdue.refresh_from_db()
    assert overdue.state == "open"
    c.post(url, {"reason": "staff_safe", "note": "Phone battery died; rang from a neighbour's."})
    overdue.refresh_from_db()
    assert (overdue.state, overdue.resolution) == ("resolved", "staff_safe")


def test_the_police_card_has_the_vehicle_the_address_and_the_last_check_in_and_is_audited(
        coteford, overdue, client, clock):
    VehicleFactory(staff=coteford.officer, make="Vauxhall", model="Corsa", colour="red", registration="KX19 ABC")
    coteford.officer.appearance = "Tall, short grey hair, green coat"
    coteford.officer.save()
    HouseholdNoteFactory(pupil=coteford.pupil, text="Large dog, not always shut away.", kind="animals")
    page = text(as_(client, coteford.office).get(reverse("alerts:police_card", args=[overdue.pk])))
    for expected in ["KX19 ABC", "Red Vauxhall Corsa", "Tall, short grey hair, green coat", coteford.pupil.address,
                     "Large dog, not always shut away.", "10:00", "In the home", "101", "999",
                     coteford.teacher.full_name]:
        assert expected in page, expected
    assert AuditEntry.objects.filter(action="alert.police_card_read", actor=coteford.office.user).count() == 1


def test_a_stopped_watchdog_and_undelivered_messages_show_loudly(coteford, overdue, client, clock):
    c = as_(client, coteford.office)
    page = text(c.get(reverse("alerts:live")))
    assert "Doorstep is NOT watching visits:" in page and "the watchdog is not running" in page
    watchdog_loop.beat("host:1")
    assert "NOT watching" not in text(c.get(reverse("alerts:live")))
    clock.move_to(local(10, 40))
    page = text(c.get(reverse("alerts:live")))
    assert "Doorstep is NOT watching visits: the watchdog stopped at 10:25." in page
    message = Message.objects.filter(alert_id=overdue.pk).exclude(channel="in_app").first()
    Message.objects.filter(pk=message.pk).update(status="failed", failed_at=local(10, 39))
    page = text(c.get(reverse("alerts:live")))
    assert "1 message could not be delivered in the last 24 hours." in page
    assert message.recipient.full_name in page


def test_potton_shows_the_office_call_out_with_the_number(clock, client):
    potton = Staffed("potton", name="Potton Primary School")
    visit = scheduled_visit(potton, [potton.officer, potton.dsl])
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=potton.officer)
    clock.move_to(local(10, 7))
    page = text(as_(client, potton.office).get(reverse("alerts:board")))
    mobile = potton.officer.mobile
    assert f'Call {potton.officer.full_name} now: <a href="tel:{mobile.replace(" ", "")}">{mobile}</a>' in page
    assert "P §4¶7" in page


def test_the_headteachers_page_has_open_and_closed_alerts_and_written_reasons(coteford, overdue, client, clock):
    other = scheduled_visit(coteford, [coteford.family], start=(11, 0))
    clock.move_to(local(10, 50))
    recording.record_event(other, "arrived", by=coteford.family)
    recording.abandon(other, "animals", by=coteford.family, note="Three dogs loose in the garden.")
    alerting.resolve(overdue, by=coteford.office, reason="false_alarm", note="Signal dropped")
    recording.record_event(other, "panic", by=coteford.family)
    page = text(as_(client, coteford.head).get(reverse("alerts:review")))
    for expected in ["Three dogs loose in the garden.", "Animals not shut away", "False alarm", "Signal dropped",
                     f"Panic: {coteford.family.full_name}", "Visit to Ava Brown, 11:00", "nobody has taken it on"]:
        assert expected in page, expected
    assert as_(client, coteford.office).get(reverse("alerts:review")).status_code == 403


def test_the_headteacher_takes_an_alert_on_from_their_own_page_and_stays_there(coteford, overdue, client, clock):
    head = as_(client, coteford.head)
    page = text(head.get(reverse("alerts:review")))
    names = f"{coteford.officer.full_name} and {coteford.teacher.full_name}"
    assert f"Check-in overdue: {names}" in page and "Acknowledge: I am dealing with it" in page
    response = head.post(reverse("alerts:acknowledge", args=[overdue.pk]), {"back": "review"})
    assert response.status_code == 302 and response["Location"] == reverse("alerts:review")
    overdue.refresh_from_db()
    assert overdue.state == Alert.State.ACKNOWLEDGED and overdue.owner == coteford.head
    page = text(head.get(reverse("alerts:review")))
    assert f"taken on by {coteford.head.full_name}" in page and "Acknowledge: I am dealing with it" not in page
    # Anything else sent back goes to the board, never to an address from the request.
    other = scheduled_visit(coteford, [coteford.family], start=(11, 0))
    clock.move_to(local(11, 0))
    recording.record_event(other, "panic", by=coteford.family)
    panic = Alert.objects.get(visit=other)
    response = head.post(reverse("alerts:acknowledge", args=[panic.pk]), {"back": "https://elsewhere.example/"})
    assert response["Location"] == reverse("alerts:board")


def test_the_home_page_has_a_board_tile_for_the_office(coteford, overdue, client, clock):
    page = text(as_(client, coteford.office).get(reverse("home")))
    assert "Visits under way" in page and "1 open alert" in page and 'href="/board/"' in page
    assert "Visits under way" not in text(as_(client, coteford.teacher).get(reverse("home")))
