"""An open office board asks for its list of visits with the tag of what it shows (If-None-Match):
when nothing it shows has changed, Doorstep answers "304 Not Modified" with no body, so the
page keeps what it has and nothing is sent; as soon as anything it shows changes (a check-in,
an alert, a deadline coming close with time alone, a mobile number), the list comes again."""
import re

import pytest
from django.test import Client
from django.urls import reverse

from safety import recording
from safety import watchdog as watchdog_loop

from tests.safety.support import local

pytestmark = pytest.mark.django_db





def fetch(client, tag=""):
    return client.get(reverse("alerts:live"), **({"HTTP_IF_NONE_MATCH": tag} if tag else {}))


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
    coteford.officer.mobile = "07700 900999"
    coteford.officer.save(update_fields=["mobile"])
    after = fetch(office, first["ETag"])
    assert after.status_code == 200
    assert "07700 900999" in after.content.decode()


def test_another_session_with_the_same_list_gets_it_in_full(client, coteford, inside):
    client.force_login(coteford.office.user)
    first = fetch(client)
    other = Client()
    other.force_login(coteford.head.user)
    assert fetch(other, first["ETag"]).status_code == 200  # its forms carry its own session's token
