"""The phone during and after a visit: on a pair visit, leaving the home says who is still there
and what this person still owes; a finished visit shows as finished and opens its report; the
office's appointment note reaches the briefing; a page not found says so in our own words."""
import re

import pytest
from django.urls import reverse

from reports import services as report_services
from safety.checkins.models import VisitEvent
from visits.models import Visit

from tests.factories import HouseholdNoteFactory, Staffed
from tests.records_support import report_data
from tests.safety.support import local, scheduled_visit, with_pins

pytestmark = pytest.mark.django_db


def text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def words(html):
    """What the page says, without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" :", ":").replace(" .", ".")


def page_of(visit):
    return reverse("checkins:visit", args=[visit.pk])


def record_url(visit, event):
    return reverse("checkins:record", args=[visit.pk, event])


def phone(client, staff):
    client.force_login(staff.user)
    return client


def _both_inside(school, client):
    visit = scheduled_visit(school, [school.officer, school.teacher], minutes=60)
    for person in (school.officer, school.teacher):
        with_pins(person)
    c = phone(client, school.officer)
    c.post(record_url(visit, "arrived"))
    c.post(record_url(visit, "entered"))
    return visit, c


def test_on_a_pair_visit_leaving_the_home_names_who_is_still_inside_and_offers_back_safe(coteford, client, clock):
    visit, c = _both_inside(coteford, client)
    clock.move_to(local(10, 40))
    page = text(c.post(record_url(visit, "left_home"), {"leaving-pin": "1234"}, follow=True))
    assert "Still in the home: Tess Teacher" in words(page)
    assert "You are checked out of this visit: your school asks nothing more of you on it." in page
    # No "record back safe" with no button to do it: the button is there.
    assert "record back safe when you are" not in page
    assert f'action="{record_url(visit, "back_safe")}"' in page
    r = c.post(record_url(visit, "back_safe"), follow=True)
    assert "You are back safe" in text(r)
    assert VisitEvent.objects.filter(visit=visit, type="back_safe", staff=coteford.officer).exists()


def test_where_back_safe_is_owed_leaving_a_pair_visit_says_so_with_the_button(client, clock):
    school = Staffed("st-hughs", name="St Hugh's School")
    visit, c = _both_inside(school, client)
    clock.move_to(local(10, 40))
    page = text(c.post(record_url(visit, "left_home"), {"leaving-pin": "1234"}, follow=True))
    assert "Still in the home: Tess Teacher" in words(page)
    assert "You still owe: back safe." in words(page)
    assert "checked out" not in page
    assert f'action="{record_url(visit, "back_safe")}"' in page


def test_once_everyone_has_left_nobody_is_named_as_still_inside_and_the_report_is_offered(coteford, client, clock):
    visit, c = _both_inside(coteford, client)
    clock.move_to(local(10, 40))
    phone(client, coteford.teacher).post(record_url(visit, "left_home"), {"leaving-pin": "1234"})
    page = text(phone(client, coteford.officer).post(record_url(visit, "left_home"), {"leaving-pin": "1234"},
                                                     follow=True))
    assert "Still in the home" not in page
    assert reverse("reports:report", args=[visit.pk]) in page and "Write the visit report" in page


def test_a_finished_visit_shows_as_finished_today_and_opens_its_report(coteford, client, clock):
    visit, c = _both_inside(coteford, client)
    clock.move_to(local(10, 40))
    phone(client, coteford.teacher).post(record_url(visit, "left_home"), {"leaving-pin": "1234"})
    phone(client, coteford.officer).post(record_url(visit, "left_home"), {"leaving-pin": "1234"})
    visit.refresh_from_db()
    assert visit.state == Visit.State.COMPLETED
    report_services.submit_report(coteford.officer, visit, report_data())

    today = text(phone(client, coteford.officer).get(reverse("checkins:today")))
    assert "Finished: the report is written." in today
    assert reverse("reports:report", args=[visit.pk]) in today
    assert f'href="{page_of(visit)}"' not in today
    # An old link to the phone page leads to the report, not to "not found".
    r = client.get(page_of(visit), follow=True)
    assert r.status_code == 200
    assert r.redirect_chain[-1][0] == reverse("reports:report", args=[visit.pk])
    assert "This visit is finished and its report is written" in text(r)


def test_a_page_not_found_never_says_it_belongs_to_another_school(coteford, visit, client, clock):
    r = phone(client, coteford.family).get(page_of(visit))
    assert r.status_code == 404
    assert "not on the staff of" not in text(r)
    assert "This is not one of your visits today, or it has finished" in text(r)
    r = phone(client, coteford.head).get(reverse("reports:report", args=[visit.pk + 1000]))
    assert r.status_code == 404
    assert "not on the staff of" not in text(r) and "matches the given query" not in text(r)
    assert "There is nothing at this address for you" in text(r)


def test_the_offices_appointment_note_reaches_the_briefing_on_the_phone(coteford, client, clock):
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher], appointment_agreed=True,
                            appointment_agreed_with=coteford.contact, appointment_notes="Knock at the side door.")
    page = text(phone(client, coteford.teacher).get(page_of(visit)))
    assert "Knock at the side door." in page
    assert f"Agreed with {coteford.contact.name}" in page


def test_my_visits_today_offers_to_set_the_pins_once(coteford, visit, client, clock):
    page = text(phone(client, coteford.teacher).get(reverse("checkins:today")))
    assert page.count(f'href="{reverse("checkins:pins")}"') == 1
    with_pins(coteford.teacher)
    page = text(client.get(reverse("checkins:today")))
    assert "Change your PINs" in page and "You have not set your PINs" not in page


def test_a_danger_to_visitors_is_at_the_top_of_the_page_before_going_in(coteford, visit, client, clock):
    HouseholdNoteFactory(pupil=coteford.pupil, kind="risk", text="Uncle has been aggressive to visitors.", dangerous=True)
    c = phone(client, coteford.officer)
    html = c.get(page_of(visit)).content.decode()
    top = html.split('id="h-do"')[0]
    assert "Danger to visitors:" in words(top) and "Uncle has been aggressive to visitors." in top
    c.post(record_url(visit, "arrived"))
    c.post(record_url(visit, "entered"))
    html = c.get(page_of(visit)).content.decode()
    assert "Uncle has been aggressive" not in html.split('id="h-do"')[0]  # inside: the briefing below still has it
    assert "Uncle has been aggressive to visitors." in html
