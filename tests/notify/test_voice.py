"""Phone calls from the outbox (the voice channel; docs/notifications.md, "Phone calls"): a row
per person with a mobile, written with the other channels; the worker places the call through
Twilio's Calls API (a local fake here) with the words and the key to press, never a pupil's
details; retries never ring twice after a lost answer; a phone-call outage holds back no text
or email."""
import datetime
import time

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from doorstep.management.commands.start import Command as Start
from notify import delivery
from notify.models import Channel, Message
from notify.providers import ProviderError, call_twiml, voice_provider
from notify.services import cancel_calls, failed_recent, notify

from tests.factories import StaffFactory
from tests.notify.support import fresh
from tests.notify.voice_support import BASE_URL, VOICE_FROM, FakeTwilioCalls, configure_voice, twiml_of

pytestmark = pytest.mark.django_db

WORDS = "Doorstep alert from Test School. Ali Attendance and Tess Teacher have not checked in on a home visit."


@pytest.fixture
def calls():
    fake = FakeTwilioCalls()
    yield fake
    fake.stop()


@pytest.fixture
def voice(configured, calls):
    """Texts by GOV.UK Notify (the shared fake), email by the SMTP sink, calls by the Calls fake."""
    configured.DOORSTEP_SMS_PROVIDERS = ["notify"]
    return configure_voice(configured, calls)


def ring(people, school, key="alert:7:step:1", spoken=WORDS, **kwargs):
    return notify(people, kind="alert.overdue", subject="Visit overdue: Ali Attendance", school=school, alert=7,
                  body="Ali Attendance has not checked in. Open the office board.", link="/board/#alert-7",
                  idempotency_key=key, spoken=spoken, **kwargs)


def voice_rows(key="alert:7:step:1"):
    return list(Message.objects.filter(idempotency_key=key, channel=Channel.VOICE).order_by("recipient"))


def test_a_call_is_written_only_for_people_with_a_mobile_once_per_key_with_an_unguessable_token(school, head):
    no_mobile = StaffFactory(school=school, roles=["office"], full_name="Nia Nomobile", mobile="")
    ring([head, no_mobile], school)
    ring([head, no_mobile], school)  # the watchdog retrying: nothing new
    assert [(m.recipient, m.to_address, m.body) for m in voice_rows()] == [(head, "07700 900111", WORDS)]
    ring([head], school, key="alert:7:step:2")
    tokens = [m.call_token for m in Message.objects.filter(channel=Channel.VOICE)]
    assert len(set(tokens)) == 2 and all(len(t) >= 32 for t in tokens)  # 24 random bytes each
    # The other channels are as before; no row rings without the spoken words.
    assert {m.channel for m in Message.objects.filter(recipient=head)} == {"in_app", "sms", "email", "voice"}
    notify([head], kind="alert.overdue", subject="Visit overdue", body="Someone has not checked in.",
           school=school, idempotency_key="alert:8:step:0")
    assert not Message.objects.filter(idempotency_key="alert:8:step:0", channel=Channel.VOICE).exists()


def test_the_worker_places_the_call_with_the_words_the_key_to_press_and_its_own_call_back(voice, calls, school, head):
    ring([head], school)
    assert delivery.run_once(channel=Channel.VOICE)["sent"] == 1
    [call] = calls.placed()
    assert (call["to"], call["from"]) == ("+447700900111", VOICE_FROM)
    words, actions = twiml_of(call)
    row = voice_rows()[0]
    assert actions == [f"{BASE_URL}/hooks/voice/twilio/{row.call_token}/"] * 2  # the question, then once again
    assert words.count("Press 1 to take this alert on.") == 2 and WORDS in words
    assert 'numDigits="1"' in call["twiml"] and 'method="POST"' in call["twiml"]
    assert (fresh(row).status, row.provider, row.provider_ref) == ("sent", "twilio_voice", call["sid"])


def test_words_that_name_a_pupil_are_never_spoken(voice, calls, school, head):
    ring([head], school, spoken="Doorstep alert. Nobody has heard from the visit to Ava Brown at home.")
    delivery.run_once(channel=Channel.VOICE)
    words, _ = twiml_of(calls.placed()[0])
    assert "Ava" not in words and "Brown" not in words
    assert words.startswith(f"Doorstep alert from {school.name}. Open Doorstep now. Press 1")
    assert voice_rows()[0].reworded == "a pupil's name in the call"
    assert AuditEntry.objects.filter(action="message.reworded").exists()


def test_a_lost_answer_is_looked_for_and_never_rings_the_person_twice(voice, calls, school, head, clock):
    calls.script = ["lost"]  # Twilio places the call; its answer never comes back
    ring([head], school)
    assert delivery.run_once(channel=Channel.VOICE)["retry"] == 1
    assert len(calls.placed()) == 1
    clock.shift(datetime.timedelta(seconds=20))
    assert delivery.run_once(channel=Channel.VOICE)["sent"] == 1
    assert len(calls.placed()) == 1  # found, not placed again
    assert fresh(voice_rows()[0]).provider_ref == calls.placed()[0]["sid"]
    # A call to the same person for another alert is not mistaken for this one's.
    ring([head], school, key="alert:9:step:0")
    row = voice_rows("alert:9:step:0")[0]
    Message.objects.filter(pk=row.pk).update(first_send_at=row.created_at)  # as if a try had begun
    assert delivery.run_once(channel=Channel.VOICE)["sent"] == 1
    assert len(calls.placed()) == 2


def test_a_provider_error_is_retried_and_the_call_goes_when_it_recovers(voice, calls, school, head, clock):
    calls.script = [500]
    ring([head], school)
    assert delivery.run_once(channel=Channel.VOICE)["retry"] == 1
    row = fresh(voice_rows()[0])
    assert row.status == "pending" and "HTTP 500" in row.last_error
    clock.shift(datetime.timedelta(seconds=20))
    assert delivery.run_once(channel=Channel.VOICE)["sent"] == 1
    assert len(calls.placed()) == 1


def test_the_caller_id_falls_back_to_the_texting_number(voice, calls, school, head):
    voice.TWILIO_VOICE_FROM = ""
    ring([head], school)
    delivery.run_once(channel=Channel.VOICE)
    assert calls.placed()[0]["from"] == voice.TWILIO_FROM


def test_a_phone_call_outage_holds_back_no_text_or_email_of_the_same_step(voice, calls, provider, smtp, school, head):
    calls.down = True  # Twilio's Calls API answers 500 to everything
    ring([head], school)
    counts = delivery.run_once()  # every channel in turn, as `doorstep deliver --once`
    assert counts["sent"] == 2 and counts["retry"] == 1
    rows = {m.channel: m for m in Message.objects.filter(idempotency_key="alert:7:step:1")}
    assert rows["sms"].status == rows["email"].status == "sent"
    assert len(provider.sends("notify")) == 1 and len(smtp.envelopes) == 1
    assert rows["voice"].status == "pending" and "HTTP 500" in rows["voice"].last_error


def test_a_hanging_phone_call_provider_does_not_delay_the_text_and_email_workers(voice, calls, provider, smtp,
                                                                                school, head):
    calls.hang = True  # every call request takes longer than the provider timeout
    for n in range(3):
        ring([head], school, key=f"alert:{n}:step:0")
    assert delivery.SENT_CHANNELS == (Channel.EMAIL, Channel.SMS, Channel.VOICE)  # a thread or process each
    started = time.monotonic()
    sent = delivery.run_once(channel=Channel.SMS)["sent"] + delivery.run_once(channel=Channel.EMAIL)["sent"]
    took = time.monotonic() - started
    assert sent == 6 and len(smtp.envelopes) == 3
    # Three calls hanging one after another would take over 0.9 s before the first text.
    assert took < 0.9 and not calls.requests
    assert delivery.run_once(channel=Channel.VOICE)["retry"] == 3


def test_without_a_phone_call_provider_a_school_in_use_gives_the_call_up_loudly(settings, school, head):
    settings.DOORSTEP_SMS_PROVIDERS = ["notify"]
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(ProviderError, match="no phone-call provider"):
        voice_provider()
    ring([head], school)
    assert delivery.run_once(channel=Channel.VOICE)["failed"] == 1
    assert list(failed_recent(school).filter(channel="voice")) == voice_rows()
    assert AuditEntry.objects.filter(action="message.failed").exists()


def test_on_a_development_machine_the_call_is_written_to_the_log(settings, school, head, caplog):
    settings.DOORSTEP_SMS_PROVIDERS = ["console"]
    settings.TWILIO_ACCOUNT_SID = ""
    ring([head], school)
    with caplog.at_level("INFO", logger="notify.console"):
        assert delivery.run_once(channel=Channel.VOICE)["sent"] == 1
    assert "Phone call to 07700 900111" in caplog.text and "Press 1" in caplog.text


def test_calls_not_yet_placed_are_cancelled_when_the_alert_is_taken_on(voice, calls, school, head):
    office = StaffFactory(school=school, roles=["office"], full_name="Olu Office", mobile="07700 900222")
    ring([head], school)
    delivery.run_once(channel=Channel.VOICE)
    ring([office], school, key="alert:7:step:2")
    assert cancel_calls(7) == 1
    assert delivery.run_once(channel=Channel.VOICE)["sent"] == 0
    assert len(calls.placed()) == 1  # the office's phone never rang
    statuses = dict(Message.objects.filter(channel="voice").values_list("recipient__full_name", "status"))
    assert statuses == {"Helen Head": "sent", "Olu Office": "cancelled"}


def test_the_twiml_escapes_what_it_says(school, head):
    [row] = [m for m in ring([head], school, spoken="Doorstep alert from St Mary & St John <Infants>.")
             if m.channel == Channel.VOICE]
    assert "St Mary &amp; St John &lt;Infants&gt;." in call_twiml(row)


def test_doorstep_start_runs_a_worker_for_phone_calls_and_deliver_accepts_the_channel(voice, calls, school, head):
    children = {c.name: c.argv for c in Start().children({"bind": "127.0.0.1:8000", "workers": 1})}
    assert children["deliver-voice"][-3:] == ["deliver", "--channel", "voice"]
    ring([head], school)
    call_command("deliver", "--once", "--channel", "voice")
    assert len(calls.placed()) == 1
