"""'My visits today' on a phone (docs/safety-core.md, "Screens"): the briefing, the big buttons for each event,
the doorstep wait, PINs (a duress PIN gives exactly the page a safe PIN gives), abandoning and
panic. Controlled clock; pages through Django's test client."""
import datetime
import re

import pytest
from django.db import transaction
from django.urls import reverse

from safety.alerts.models import Alert
from safety.checkins.models import VisitEvent
from people.services import set_pins
from visits.models import Visit

from tests.factories import HazardFactory, HouseholdNoteFactory, Staffed
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def coteford(clock):
    school = Staffed("coteford", name="Coteford Junior School")
    for staff in (school.officer, school.teacher):
        set_pins(staff, safe_pin="1234", duress_pin="9876", by=staff)
    return school


@pytest.fixture
def visit(coteford):
    return scheduled_visit(coteford, [coteford.officer, coteford.teacher], minutes=60)


def phone(client, staff):
    client.force_login(staff.user)
    return client


def page_of(visit):
    return reverse("checkins:visit", args=[visit.pk])


def record_url(visit, event):
    return reverse("checkins:record", args=[visit.pk, event])


def text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def test_my_visits_today_lists_only_the_visits_i_am_on_today(coteford, visit, client, clock):
    other = scheduled_visit(coteford, [coteford.family], start=(13, 0))
    page = phone(client, coteford.officer).get(reverse("checkins:today"))
    assert page.status_code == 200
    assert page_of(visit) in text(page)
    assert page_of(other) not in text(page)
    assert "Ava Brown" in text(page) and "Not started" in text(page)


def test_the_briefing_shows_the_risk_assessment_household_risks_needs_and_itinerary(coteford, visit, client, clock):
    HazardFactory(assessment=coteford.home_ra, hazard="Large dog", controls="Ask for the dog to be shut away.")
    HouseholdNoteFactory(pupil=coteford.pupil, kind="risk", text="Uncle has been aggressive to visitors.", dangerous=True)
    coteford.pupil.medical, coteford.pupil.medical_notes = True, "Asthma: inhaler in the kitchen."
    coteford.pupil.save()
    coteford.school.phone = "01632 960111"
    coteford.school.save()
    page = text(phone(client, coteford.officer).get(page_of(visit)))
    for expected in ["Large dog", "Ask for the dog to be shut away.", "Uncle has been aggressive to visitors.",
                     "Danger to visitors", "Asthma: inhaler in the kitchen.", coteford.pupil.address,
                     "Tess Teacher", 'href="tel:01632960111"', "I am leaving school now", "PANIC"]:
        assert expected in page, expected


def test_a_teacher_not_on_the_visit_or_another_schools_staff_get_404_for_its_briefing(coteford, visit, client, clock):
    assert phone(client, coteford.family).get(page_of(visit)).status_code == 404
    stranger = Staffed("potton", name="Potton Primary School").officer
    assert phone(client, stranger).get(page_of(visit)).status_code == 404
    assert phone(client, stranger).post(record_url(visit, "left_school"), {"expected_return": "11:30"}).status_code == 404
    assert not VisitEvent.objects.exists()


def test_the_briefing_is_only_for_the_day_of_the_visit(coteford, client, clock):
    tomorrow = scheduled_visit(coteford, [coteford.officer], start=(10, 0))
    day = datetime.timedelta(days=1)
    Visit.objects.filter(pk=tomorrow.pk).update(starts_at=local(10) + day, ends_at=local(11) + day)
    assert phone(client, coteford.officer).get(page_of(tomorrow)).status_code == 404


@pytest.fixture
def st_hughs(clock):
    """St Hugh's asks for a call when staff are back at school (H summary), so back safe is a button."""
    school = Staffed("st-hughs", name="St Hugh's School")
    set_pins(school.officer, safe_pin="1234", duress_pin="9876", by=school.officer)
    return school


def test_a_whole_visit_with_the_big_buttons_from_leaving_school_to_back_safe(st_hughs, client, clock):
    coteford = st_hughs
    visit = scheduled_visit(st_hughs, [st_hughs.officer, st_hughs.teacher], minutes=60)
    c = phone(client, coteford.officer)
    clock.move_to(local(9, 40))
    r = c.post(record_url(visit, "left_school"), {"expected_return": "11:30"}, follow=True)
    assert "On the way" in text(r) and "I have arrived at the home" in text(r)
    clock.move_to(local(10, 0))
    r = c.post(record_url(visit, "arrived"), follow=True)
    assert "At the door" in text(r) and "I went in" in text(r) and "Parent not at home" in text(r)
    r = c.post(record_url(visit, "entered"), follow=True)
    assert "In the home" in text(r) and 'inputmode="numeric"' in text(r)
    clock.move_to(local(10, 15))
    r = c.post(record_url(visit, "check_in"), {"checkin-pin": "1234", "checkin-concerns_answer": "no"}, follow=True)
    assert "Check-in recorded." in text(r) and "Next:" in text(r)
    clock.move_to(local(10, 58))
    r = c.post(record_url(visit, "left_home"), {"leaving-pin": "1234"}, follow=True)
    assert "I am back safe" in text(r) and "PANIC" in text(r)  # still travelling back: still watched
    clock.move_to(local(11, 20))
    r = c.post(record_url(visit, "back_safe"), follow=True)
    assert "You are back safe" in text(r) and "PANIC" not in text(r)
    types = list(VisitEvent.objects.filter(visit=visit).values_list("type", "staff_id"))
    assert [t for t, _ in types] == ["left_school", "arrived", "entered", "check_in", "left_home", "back_safe"]
    assert {s for _, s in types} == {coteford.officer.pk}
    assert VisitEvent.objects.get(visit=visit, type="left_school").expected_return == local(11, 30)


def test_where_the_policy_asks_for_no_back_safe_call_leaving_the_home_checks_you_out(coteford, visit, client, clock):
    c = phone(client, coteford.officer)
    c.post(record_url(visit, "arrived"))
    c.post(record_url(visit, "entered"))
    r = text(c.post(record_url(visit, "left_home"), {"leaving-pin": "1234"}, follow=True))
    assert "You are checked out of this visit" in r
    assert "Thank you: you are checked out of this visit." in r
    # The colleague still inside owes the next check-in, not me.
    assert "Next:" not in text(c.get(page_of(visit)))


def test_a_wrong_pin_is_a_clear_error_and_records_nothing(coteford, visit, client, clock):
    c = phone(client, coteford.officer)
    c.post(record_url(visit, "arrived"))
    c.post(record_url(visit, "entered"))
    before = VisitEvent.objects.count()
    r = c.post(record_url(visit, "check_in"), {"checkin-pin": "0000", "checkin-concerns_answer": "no"})
    assert r.status_code == 400
    assert "That PIN is not right. Try again." in text(r)
    r = c.post(record_url(visit, "check_in"), {"checkin-pin": "", "checkin-concerns_answer": "no"})
    assert r.status_code == 400 and "Enter your PIN." in text(r)
    assert VisitEvent.objects.count() == before


def test_an_event_out_of_order_is_refused_with_a_message(coteford, visit, client, clock):
    r = phone(client, coteford.officer).post(record_url(visit, "entered"), follow=True)
    assert "This visit has not started" in text(r)
    assert not VisitEvent.objects.exists()


def _without_tokens(html):
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def _run_and_roll_back(steps):
    """Run `steps` (returning the responses to compare) in a savepoint and undo it."""
    class Undo(Exception):
        pass

    out = {}
    try:
        with transaction.atomic():
            out["responses"] = steps()
            out["alerts"] = list(Alert.objects.values_list("kind", flat=True))
            raise Undo
    except Undo:
        pass
    return out


@pytest.mark.parametrize("event", ["check_in", "left_home"])
def test_the_duress_pin_gives_exactly_the_page_the_safe_pin_gives(coteford, visit, client, clock, event):
    c = phone(client, coteford.officer)
    c.post(record_url(visit, "arrived"), follow=True)  # followed: their messages are shown and gone
    c.post(record_url(visit, "entered"), follow=True)
    clock.move_to(local(10, 10))
    prefix = "checkin" if event == "check_in" else "leaving"

    def with_pin(pin):
        def steps():
            posted = c.post(record_url(visit, event), {f"{prefix}-pin": pin, f"{prefix}-concerns_answer": "no"})
            shown = c.get(posted["Location"])
            today = c.get(reverse("checkins:today"))
            return [(posted.status_code, posted["Location"]), (shown.status_code, _without_tokens(shown.content.decode())),
                    (today.status_code, _without_tokens(today.content.decode()))]
        return _run_and_roll_back(steps)

    safe, duress = with_pin("1234"), with_pin("9876")
    assert safe["alerts"] == [] and duress["alerts"] == ["duress"]  # the silent alarm went off...
    assert safe["responses"] == duress["responses"]                 # ...and the phone cannot tell


@pytest.mark.parametrize("preset, last", [("st-hughs", "back_safe"), ("coteford", "left_home")])
def test_when_the_visit_would_close_a_duress_pin_still_gives_the_same_page_though_the_alarm_keeps_it_open(
        clock, client, preset, last):
    school = Staffed(preset)
    me = school.officer
    set_pins(me, safe_pin="1234", duress_pin="9876", by=me)
    visit = scheduled_visit(school, [me], minutes=60)
    c = phone(client, me)
    c.post(record_url(visit, "arrived"), follow=True)
    c.post(record_url(visit, "entered"), follow=True)
    clock.move_to(local(10, 50))

    def with_pin(pin):
        def steps():
            shown = c.post(record_url(visit, "left_home"), {"leaving-pin": pin}, follow=True)
            if last == "back_safe":
                shown = c.post(record_url(visit, "back_safe"), follow=True)
            return [_without_tokens(shown.content.decode()), Visit.objects.get(pk=visit.pk).state]
        return _run_and_roll_back(steps)

    safe, duress = with_pin("1234"), with_pin("9876")
    assert safe["responses"][1] == "completed" and duress["responses"][1] == "under_way"
    assert duress["alerts"] == ["duress"]
    assert safe["responses"][0] == duress["responses"][0]
    assert "checked out of this visit" in safe["responses"][0]


def test_parent_not_at_home_shows_the_wait_and_close_as_not_seen_once_it_is_over(coteford, visit, client, clock):
    c = phone(client, coteford.officer)
    clock.move_to(local(10, 0))
    c.post(record_url(visit, "arrived"))
    r = text(c.post(record_url(visit, "parent_not_home"), follow=True))
    assert "Wait until" in r and '10:20</time>' in r and "data-enable-at" in r
    assert '<span class="clause">C 3.4</span>' in r  # Coteford's 20 minutes, cited
    r = text(c.post(reverse("checkins:not_seen", args=[visit.pk]), follow=True))
    assert "asks you to wait" in r
    clock.move_to(local(10, 21))
    r = text(c.get(page_of(visit)))
    assert "The wait is over" in r and "data-enable-at" not in r
    r = text(c.post(reverse("checkins:not_seen", args=[visit.pk]), follow=True))
    assert "Closed as not seen" in r and "I have left the home" in r


def test_a_late_parent_means_do_not_go_in_before_they_arrive(coteford, visit, client, clock):
    c = phone(client, coteford.officer)
    c.post(record_url(visit, "arrived"))
    r = text(c.post(record_url(visit, "parent_late_notice"), follow=True))
    assert "Do not go in before the parent" in r
    assert "The parent is here: I went in" in r


def test_abandoning_needs_a_reason_and_a_written_note(coteford, visit, client, clock):
    c = phone(client, coteford.officer)
    c.post(record_url(visit, "arrived"))
    url = reverse("checkins:abandon", args=[visit.pk])
    r = c.post(url, {"abandon-reason": "animals", "abandon-note": ""})
    assert r.status_code == 400 and "the headteacher is sent your written reason" in text(r)
    assert not VisitEvent.objects.filter(type="abandoned").exists()
    r = c.post(url, {"abandon-reason": "animals", "abandon-note": "Two dogs loose in the front garden."}, follow=True)
    assert "Leave now" in text(r)
    event = VisitEvent.objects.get(type="abandoned")
    assert (event.reason, event.note) == ("animals", "Two dogs loose in the front garden.")


def test_panic_without_holding_asks_to_confirm_and_with_confirmation_raises_the_top_alert(coteford, visit, client, clock):
    c = phone(client, coteford.officer)
    url = reverse("checkins:panic", args=[visit.pk])
    r = c.post(url, {"confirmed": ""})
    assert r.status_code == 200 and "Send the panic alarm?" in text(r)
    assert not Alert.objects.exists()
    r = c.post(url, {"confirmed": "yes"}, follow=True)
    assert "Panic alarm sent" in text(r)
    assert list(Alert.objects.values_list("kind", flat=True)) == ["panic"]


def test_staff_set_their_own_pins_on_the_pins_page(coteford, client, clock):
    c = phone(client, coteford.family)
    assert "You have not set your PINs" in text(c.get(reverse("checkins:today")))
    r = c.post(reverse("checkins:pins"), {"safe_pin": "2468", "duress_pin": "2468"})
    assert r.status_code == 400 and "must be different" in text(r)
    c.post(reverse("checkins:pins"), {"safe_pin": "2468", "duress_pin": "1357"})
    coteford.family.refresh_from_db()
    assert coteford.family.check_pin("2468") == "safe" and coteford.family.check_pin("1357") == "duress"


def test_the_office_has_no_phone_pages(coteford, visit, client, clock):
    assert phone(client, coteford.office).get(reverse("checkins:today")).status_code == 403


def test_opening_the_briefing_is_on_the_audit_trail_once_a_day_per_person(coteford, visit, client, clock):
    from audit.models import AuditEntry

    def reads():
        return list(AuditEntry.objects.filter(action="visit.briefing_viewed", object_id=str(visit.pk))
                    .values_list("actor_name", flat=True))

    officer = phone(client, coteford.officer)
    assert officer.get(page_of(visit)).status_code == 200
    assert reads() == [coteford.officer.full_name]
    # Every button brings the same page back: the trail says who saw it, not how often.
    officer.post(record_url(visit, "left_school"), {"expected_return": "11:30"}, follow=True)
    officer.get(page_of(visit))
    assert reads() == [coteford.officer.full_name]

    teacher = phone(client, coteford.teacher)
    teacher.get(page_of(visit))
    assert sorted(reads()) == sorted([coteford.officer.full_name, coteford.teacher.full_name])

    # Refused: someone not on the visit sees nothing and leaves no read behind.
    phone(client, coteford.family).get(page_of(visit))
    assert len(reads()) == 2

    # A visit still under way the next morning (nobody checked out) is still briefed: a new day, a new entry.
    clock.shift(datetime.timedelta(days=1))
    assert phone(client, coteford.officer).get(page_of(visit)).status_code == 200
    assert len(reads()) == 3
