"""Texting in with no data signal (docs/safety-core.md, "Texting in: no data signal"): a text to
the school's Doorstep number from a member of staff's own mobile records what the phone's
buttons record, through the providers' call-backs (/hooks/sms/twilio/, /hooks/sms/notify/).
Twilio's signature is computed here from its documentation (HMAC-SHA1 over the URL and the
sorted parameters), not with Twilio's library, so the test does not share the code it checks."""
import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from audit.models import AuditEntry
from notify import delivery
from notify.models import Message
from people.services import set_pins
from safety import recording, texts
from safety.alerts.models import Alert
from safety.checkins.models import VisitEvent
from visits.models import Visit

from tests.factories import Staffed
from tests.notify.support import NOTIFY_KEY, TEMPLATE_ID, TIMEOUT, FakeProvider
from tests.safety.support import local, scheduled_visit, watch_of

pytestmark = pytest.mark.django_db

BASE = "https://doorstep.school.example"
TWILIO_TOKEN = "twilio-inbound-test-token"
NOTIFY_TOKEN = "notify-callback-test-token"
DOORSTEP_NUMBER = "+447700900999"
SAFE, DURESS = "2468", "1357"
MOBILE = "07700 900123"  # as entered on the register
TWILIO_PATH, NOTIFY_PATH = "/hooks/sms/twilio/", "/hooks/sms/notify/"


@pytest.fixture(autouse=True)
def hooks_configured(settings):
    settings.DOORSTEP_BASE_URL = BASE
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.NOTIFY_CALLBACK_TOKEN = NOTIFY_TOKEN
    settings.DOORSTEP_SMS_NUMBER = DOORSTEP_NUMBER
    return settings


def staffed(name="Coteford Junior School", mobile=MOBILE, preset="coteford"):
    """A school whose attendance officer has PINs and the given mobile, and no one else has it."""
    school = Staffed(preset, name=name)
    for person in (school.head, school.deputy, school.dsl, school.sbm, school.office, school.teacher, school.family):
        if texts.normalise_number(person.mobile) == texts.normalise_number(mobile):
            person.mobile = ""
            person.save(update_fields=["mobile"])
    school.officer.mobile = mobile
    school.officer.save(update_fields=["mobile"])
    set_pins(school.officer, safe_pin=SAFE, duress_pin=DURESS, by=school.officer)
    return school


@pytest.fixture
def coteford(clock):
    return staffed()


def inside(school, clock, staff=None):
    """A visit at 10:00 the officer (and `staff`) went in at, the clock at 10:05."""
    visit = scheduled_visit(school, staff or [school.officer])
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=school.officer)
    recording.record_event(visit, "entered", by=school.officer)
    clock.move_to(local(10, 5))
    return visit


def twilio_signature(url, params, token=TWILIO_TOKEN):
    """As Twilio documents it: the URL, then each parameter's name and value sorted by name,
    HMAC-SHA1 with the auth token, base64."""
    text = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def by_twilio(body, sender=MOBILE, signature=None):
    """Post a text as Twilio does; the answer's words (the TwiML's <Message>) and the response."""
    params = {"From": sender, "To": DOORSTEP_NUMBER, "Body": body, "MessageSid": "SM" + "0" * 32}
    sig = twilio_signature(BASE + TWILIO_PATH, params) if signature is None else signature
    response = Client().post(TWILIO_PATH, urlencode(params), content_type="application/x-www-form-urlencoded",
                             HTTP_X_TWILIO_SIGNATURE=sig)
    if response.status_code != 200:
        return None, response
    assert response["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    return root.findtext("Message"), response


def text(body, sender=MOBILE):
    answer, response = by_twilio(body, sender)
    assert response.status_code == 200, response.content
    assert "Ava" not in answer and "Brown" not in answer  # never the pupil's name
    return answer


def by_notify(body, ref, sender=MOBILE, token=NOTIFY_TOKEN):
    payload = {"id": ref, "source_number": sender, "destination_number": DOORSTEP_NUMBER, "message": body,
               "date_received": "2026-11-24T10:05:00.000000Z"}
    return Client().post(NOTIFY_PATH, json.dumps(payload), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {token}")


def events(visit):
    return list(VisitEvent.objects.filter(visit=visit).values_list("type", "via"))


# ----------------------------------------------------------------------------- the words

@pytest.mark.parametrize("body, expected", [
    ("OK 2468", ("check_in", "2468")),
    ("  ok,   2468. ", ("check_in", "2468")),
    ("Ok2468", ("check_in", "2468")),
    ("OK 24 68", ("check_in", "2468")),
    ("ok", ("check_in", "")),
    ("Left 2468", ("left_home", "2468")),
    ("SAFE", ("back_safe", "")),
    ("back safe!", ("back_safe", "")),
    ("Arrived", ("arrived", "")),
    ("help", ("panic", "")),
    ("ok... actually HELP", ("panic", "")),
    ("sos", ("panic", "")),
    ("I am safe", ("", "")),
    ("2468 OK", ("", "2468")),
    ("left school", ("", "")),
    ("", ("", "")),
])
def test_the_keywords_are_forgiving_of_case_spaces_and_punctuation(body, expected):
    reading = texts.read_text(body)
    assert (reading.event_type, reading.pin) == expected


@pytest.mark.parametrize("written", ["07700 900123", "+447700900123", "447700900123", "+44 (0)7700 900123",
                                     "+44 7700 900123", "(07700) 900123", "0044 7700 900123"])
def test_numbers_agree_however_they_are_written(written):
    assert texts.normalise_number(written) == "+447700900123"
    assert texts.display_number(written) == "07700 900123"


# ----------------------------------------------------------------------------- recording by text

@pytest.mark.parametrize("sender", ["07700 900123", "+447700900123", "447700900123", "+44 (0)7700 900123"])
def test_a_check_in_by_text_moves_the_deadline_from_any_way_of_writing_the_number(coteford, clock, sender):
    visit = inside(coteford, clock)
    before = watch_of(visit).due_at
    clock.move_to(local(10, 20))
    answer = text("ok 2468", sender=sender)
    assert answer.startswith("Check-in recorded.")
    assert ("check_in", "sms") in events(visit)
    assert watch_of(visit).due_at > before
    event = VisitEvent.objects.get(visit=visit, type="check_in")
    assert (event.staff, event.recorded_by, event.via) == (coteford.officer, coteford.officer, "sms")


def test_the_register_may_hold_the_number_in_the_international_form(clock):
    school = staffed(mobile="+44 7700 900123")
    visit = inside(school, clock)
    assert text("OK 2468", sender="07700900123").startswith("Check-in recorded.")
    assert ("check_in", "sms") in events(visit)


def test_a_check_in_without_the_pin_asks_for_it_and_records_nothing(coteford, clock):
    visit = inside(coteford, clock)
    assert text("OK") == "Not recorded: add your PIN, for example OK then your PIN."
    assert ("check_in", "sms") not in events(visit)
    assert AuditEntry.objects.filter(action="checkin.text_not_recorded", data__why="no PIN").exists()


def test_the_duress_pin_raises_the_silent_alarm_and_gets_exactly_the_safe_pins_answer(clock):
    # Two schools, the same visit at the same times: one officer texts the safe PIN, the other the duress PIN.
    safe_school = staffed("Safe Side School", mobile="07700 900123")
    duress_school = staffed("Duress Side School", mobile="07700 900456")
    safe_visit = scheduled_visit(safe_school, [safe_school.officer])
    duress_visit = scheduled_visit(duress_school, [duress_school.officer])
    clock.move_to(local(10, 0))
    for school, visit in ((safe_school, safe_visit), (duress_school, duress_visit)):
        recording.record_event(visit, "arrived", by=school.officer)
        recording.record_event(visit, "entered", by=school.officer)
    clock.move_to(local(10, 20))
    safe_answer = text(f"OK {SAFE}", sender="07700 900123")
    duress_answer = text(f"OK {DURESS}", sender="07700 900456")
    assert duress_answer.encode() == safe_answer.encode()
    assert Alert.objects.filter(visit=duress_visit, kind="duress").exists()
    assert not Alert.objects.filter(visit=safe_visit).exists()
    assert events(duress_visit) == events(safe_visit)  # nothing recorded shows which PIN it was


def test_the_duress_pin_by_notify_sends_the_same_text_back_as_the_safe_pin(clock):
    safe_school = staffed("Safe Side School", mobile="07700 900123")
    duress_school = staffed("Duress Side School", mobile="07700 900456")
    visits = {}
    for school in (safe_school, duress_school):
        visits[school] = scheduled_visit(school, [school.officer])
    clock.move_to(local(10, 0))
    for school, visit in visits.items():
        recording.record_event(visit, "arrived", by=school.officer)
    clock.move_to(local(10, 10))
    assert by_notify(f"ok {SAFE}", "in-safe", sender="+447700900123").status_code == 200
    assert by_notify(f"ok {DURESS}", "in-duress", sender="+447700900456").status_code == 200
    safe_reply = Message.objects.get(idempotency_key="text-reply:in-safe")
    duress_reply = Message.objects.get(idempotency_key="text-reply:in-duress")
    assert (duress_reply.subject, duress_reply.body) == (safe_reply.subject, safe_reply.body)
    assert Alert.objects.filter(visit=visits[duress_school], kind="duress").exists()


def test_a_wrong_pin_is_not_recognised_and_counts_toward_the_phones_lock_out(coteford, clock):
    visit = inside(coteford, clock)
    answers = [text("OK 0000") for _ in range(4)]
    assert answers == ["Not recorded: that PIN was not recognised. Text OK and your PIN again."] * 4
    assert AuditEntry.objects.filter(action="checkin.pin_wrong").count() == 4
    # The fifth wrong PIN in a row, on the phone's page this time, pauses PIN entry for both.
    with pytest.raises(ValidationError):
        recording.record_event(visit, "check_in", by=coteford.officer, pin="0000")
    assert text(f"OK {SAFE}") == recording.PIN_PAUSED
    assert text(f"OK {DURESS}") == recording.PIN_PAUSED  # the same answer for the duress PIN…
    assert Alert.objects.filter(visit=visit, kind="duress").exists()  # …which still raises the alarm
    assert ("check_in", "sms") not in events(visit)


def test_help_raises_the_panic_alarm(coteford, clock):
    visit = inside(coteford, clock)
    assert text("Help") == texts.PANIC_SENT
    alert = Alert.objects.get(visit=visit, kind="panic")
    assert alert.state != Alert.State.RESOLVED
    assert ("panic", "sms") in events(visit)


def test_help_on_a_visit_not_yet_started_starts_it_with_the_alarm(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer])
    clock.move_to(local(9, 55))
    assert text("SOS") == texts.PANIC_SENT
    visit.refresh_from_db()
    assert visit.state == Visit.State.UNDER_WAY
    assert Alert.objects.filter(visit=visit, kind="panic").exists()


def test_arrived_by_text_starts_the_visit_then_ok_checks_in(coteford, clock):
    visit = scheduled_visit(coteford, [coteford.officer])
    clock.move_to(local(10, 0))
    assert text("arrived").startswith("Arrived recorded.")
    visit.refresh_from_db()
    assert visit.state == Visit.State.UNDER_WAY
    clock.move_to(local(10, 15))
    assert text("ok 2468").startswith("Check-in recorded.")


def test_left_by_text_finishes_the_visit_where_the_policy_asks_for_no_back_safe_call(coteford, clock):
    visit = inside(coteford, clock)
    clock.move_to(local(10, 40))
    answer = text("LEFT 2468")
    assert answer == "Left the home recorded at 10:40. Thank you: you are checked out of this visit."
    visit.refresh_from_db()
    assert visit.state == Visit.State.COMPLETED
    assert events(visit)[-1] == ("left_home", "sms")


def test_left_and_back_safe_by_text_finish_the_visit(clock):
    school = staffed("St Hugh's", preset="st-hughs")  # asks for a call on getting back to school
    visit = inside(school, clock)
    clock.move_to(local(10, 40))
    assert text("LEFT 2468").startswith("Left the home recorded.")
    visit.refresh_from_db()
    assert visit.state == Visit.State.UNDER_WAY
    clock.move_to(local(11, 0))
    answer = text("back")
    assert answer == "Back at school or finished for the day recorded at 11:00. Thank you: you are checked out of this visit."
    visit.refresh_from_db()
    assert visit.state == Visit.State.COMPLETED
    assert watch_of(visit).status == "safe"
    assert events(visit)[-2:] == [("left_home", "sms"), ("back_safe", "sms")]


def test_out_of_order_is_refused_in_the_phones_words(coteford, clock):
    visit = inside(coteford, clock)
    assert text("arrived") == "Not recorded: Arriving is already recorded for this visit."
    assert AuditEntry.objects.filter(action="checkin.text_not_recorded", data__why="refused").exists()
    clock.move_to(local(10, 40))
    text("left 2468")
    # Checked out: another text has no visit under way to go on, so it learns nothing.
    assert text("safe") == texts.NEUTRAL
    assert ("back_safe", "sms") not in events(visit)


def test_words_it_cannot_read_get_the_keywords_back(coteford, clock):
    visit = inside(coteford, clock)
    assert text("I am fine thanks") == texts.NOT_UNDERSTOOD
    assert len(events(visit)) == 2
    assert AuditEntry.objects.filter(action="checkin.text_not_recorded", data__why="not understood").exists()


# ----------------------------------------------------------------------------- who learns nothing

def test_an_unknown_number_learns_nothing_and_is_audited(coteford, clock):
    visit = inside(coteford, clock)
    answer = text("OK 2468", sender="07700 900777")
    assert answer == texts.NEUTRAL
    assert "Doorstep" not in answer and "Coteford" not in answer and "PIN" not in answer
    assert len(events(visit)) == 2
    entry = AuditEntry.objects.get(action="checkin.text_not_recorded")
    assert entry.data["why"] == "unknown number" and entry.data["from"] == "07700 900777"
    assert "2468" not in json.dumps(entry.data) + entry.summary  # the PIN is never kept


def test_a_member_of_staff_with_no_visit_under_way_learns_nothing(coteford, clock):
    scheduled_visit(coteford, [coteford.officer])  # scheduled, not started: OK cannot start it
    assert text("OK 2468") == texts.NEUTRAL
    assert AuditEntry.objects.filter(action="checkin.text_not_recorded", data__why="no visit under way").exists()


def test_help_from_staff_with_no_visit_still_reaches_the_office(coteford, clock):
    assert text("HELP") == texts.NEUTRAL  # says to call 999, and nothing else
    told = Message.objects.filter(kind="checkin.text_help", channel="in_app")
    assert {m.recipient for m in told} >= {coteford.office, coteford.head}


def test_two_people_sharing_a_number_learn_nothing(coteford, clock):
    visit = inside(coteford, clock)
    coteford.teacher.mobile = "+447700900123"
    coteford.teacher.save(update_fields=["mobile"])
    assert text("OK 2468") == texts.NEUTRAL
    assert len(events(visit)) == 2
    assert AuditEntry.objects.filter(action="checkin.text_not_recorded", data__why="shared number").exists()


def test_help_from_a_shared_number_learns_nothing_but_the_office_is_told(coteford, clock):
    visit = inside(coteford, clock)
    coteford.teacher.mobile = "07700900123"
    coteford.teacher.save(update_fields=["mobile"])
    assert text("help") == texts.NEUTRAL
    assert not Alert.objects.filter(visit=visit).exists()  # which of the two is unknown: no visit's alarm
    told = Message.objects.get(kind="checkin.text_help", channel="in_app", recipient=coteford.office)
    assert "Ali Attendance and Tess Teacher" in told.body


def test_a_member_of_staff_who_has_left_learns_nothing(coteford, clock):
    visit = inside(coteford, clock)
    coteford.officer.active = False
    coteford.officer.save(update_fields=["active"])
    assert text("OK 2468") == texts.NEUTRAL
    assert len(events(visit)) == 2


# ----------------------------------------------------------------------------- the providers' signatures

@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "wrong-token"])
def test_a_text_not_signed_by_twilio_is_refused_audited_and_does_nothing(coteford, clock, signature):
    visit = inside(coteford, clock)
    params = {"From": MOBILE, "To": DOORSTEP_NUMBER, "Body": "HELP"}
    if signature == "wrong-token":
        signature = twilio_signature(BASE + TWILIO_PATH, params, token="not-the-token")
    answer, response = by_twilio("HELP", signature=signature)
    assert response.status_code == 403
    assert not Alert.objects.filter(visit=visit).exists()
    assert len(events(visit)) == 2
    assert AuditEntry.objects.filter(action="hooks.refused", data__provider="Twilio").count() == 1


def test_a_signature_for_another_body_is_refused(coteford, clock):
    visit = inside(coteford, clock)
    signed_for = {"From": MOBILE, "To": DOORSTEP_NUMBER, "Body": "OK 2468", "MessageSid": "SM" + "0" * 32}
    answer, response = by_twilio("HELP", signature=twilio_signature(BASE + TWILIO_PATH, signed_for))
    assert response.status_code == 403
    assert not Alert.objects.filter(visit=visit).exists()


@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_a_notify_callback_without_the_token_is_refused_audited_and_does_nothing(coteford, clock, token):
    visit = inside(coteford, clock)
    response = by_notify("HELP", "in-1", token=token)
    assert response.status_code == 403
    assert not Alert.objects.filter(visit=visit).exists()
    assert not Message.objects.filter(kind="checkin.text_reply").exists()
    assert AuditEntry.objects.filter(action="hooks.refused", data__provider="GOV.UK Notify").count() == 1


def test_the_hooks_need_no_csrf_token(coteford, clock):
    inside(coteford, clock)
    params = {"From": MOBILE, "To": DOORSTEP_NUMBER, "Body": "OK 2468"}
    response = Client(enforce_csrf_checks=True).post(
        TWILIO_PATH, urlencode(params), content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=twilio_signature(BASE + TWILIO_PATH, params))
    assert response.status_code == 200


# ----------------------------------------------------------------------------- Notify's answer through the outbox

@pytest.fixture
def fake_notify(settings):
    fake = FakeProvider()
    settings.DOORSTEP_SMS_PROVIDERS = ["notify"]
    settings.DOORSTEP_PROVIDER_TIMEOUT = TIMEOUT
    settings.NOTIFY_API_KEY = NOTIFY_KEY
    settings.NOTIFY_SMS_TEMPLATE_ID = TEMPLATE_ID
    settings.NOTIFY_BASE_URL = fake.url
    yield fake
    fake.stop()


def test_notifys_text_is_answered_by_a_text_to_that_person_only(coteford, clock, fake_notify):
    visit = inside(coteford, clock)
    clock.move_to(local(10, 20))
    response = by_notify(" Ok 2468 ", "in-42", sender="447700900123")
    assert response.status_code == 200
    assert ("check_in", "sms") in events(visit)
    replies = Message.objects.filter(kind="checkin.text_reply")
    assert [(m.recipient, m.channel) for m in replies] == [(coteford.officer, "sms")]  # no in-app, no email
    delivery.run_once(worker="test")
    sent = fake_notify.sends("notify")
    assert len(sent) == 1
    body = json.loads(sent[0]["body"])
    assert texts.normalise_number(body["phone_number"]) == "+447700900123"
    words = body["personalisation"]["body"]
    assert "Check-in recorded." in words
    assert "Ava" not in words and "Brown" not in words


def test_notify_calling_back_twice_records_and_answers_once(coteford, clock, fake_notify):
    visit = inside(coteford, clock)
    clock.move_to(local(10, 20))
    assert by_notify("OK 2468", "in-7").status_code == 200
    assert by_notify("OK 2468", "in-7").status_code == 200
    assert events(visit).count(("check_in", "sms")) == 1
    assert Message.objects.filter(kind="checkin.text_reply").count() == 1


def test_an_unknown_number_by_notify_gets_no_text_back(coteford, clock, fake_notify):
    inside(coteford, clock)
    assert by_notify("OK 2468", "in-9", sender="+447700900777").status_code == 200
    assert not Message.objects.filter(kind="checkin.text_reply").exists()
    delivery.run_once(worker="test")
    assert fake_notify.sends("notify") == []


def test_a_malformed_notify_callback_is_refused_plainly(coteford, clock):
    response = Client().post(NOTIFY_PATH, "not json", content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {NOTIFY_TOKEN}")
    assert response.status_code == 400


# ----------------------------------------------------------------------------- where staff read the keywords

def test_the_visit_page_and_briefing_show_the_number_and_the_keywords(coteford, clock, client):
    visit = scheduled_visit(coteford, [coteford.officer])
    client.force_login(coteford.officer.user)
    page = client.get(f"/today/{visit.pk}/").content.decode()
    assert "No data signal? Text instead" in page
    assert "07700 900999" in page and 'href="sms:07700900999"' in page
    for word in ("ARRIVED", "OK", "LEFT", "SAFE", "HELP"):
        assert f"<li><strong>{word}</strong>" in page
    assert "<strong>OK</strong> and your PIN: check in." in page  # the officer has PINs


def test_without_a_doorstep_number_the_page_offers_no_texting(coteford, clock, client, settings):
    settings.DOORSTEP_SMS_NUMBER = ""
    visit = scheduled_visit(coteford, [coteford.officer])
    client.force_login(coteford.officer.user)
    assert "No data signal" not in client.get(f"/today/{visit.pk}/").content.decode()


def test_with_the_text_service_down_the_check_in_is_still_recorded_and_the_answer_waits_loudly(coteford, clock,
                                                                                                fake_notify):
    visit = inside(coteford, clock)
    before = watch_of(visit).due_at
    fake_notify.down = True  # Notify answers 500 to every send
    clock.move_to(local(10, 20))
    assert by_notify("OK 2468", "in-down").status_code == 200
    assert ("check_in", "sms") in events(visit)
    assert watch_of(visit).due_at > before  # the deadline moved: the check-in does not wait for the answer
    delivery.run_once(worker="test")
    reply = Message.objects.get(kind="checkin.text_reply")
    assert reply.status == Message.Status.PENDING and reply.last_error  # kept, with why, to be tried again
    fake_notify.down = False
    clock.move_to(local(10, 25))
    delivery.run_once(worker="test")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT
