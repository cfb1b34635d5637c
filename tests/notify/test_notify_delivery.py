"""The delivery worker against real local servers: an aiosmtpd SMTP server, and a small
threaded HTTP server playing GOV.UK Notify and Twilio (it checks their authentication,
records every request, and can be told to fail with 500 or 429, or to hang past the
timeout). Time is controlled with time-machine; nothing here sleeps for long."""
import datetime
import email
import threading
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from notify import delivery, services
from notify.models import Channel, DeliveryAttempt, DeliveryHeartbeat, Message
from notify.services import notify

from tests.factories import StaffFactory

from tests.notify.support import SERVICE_ID, TEMPLATE_ID, TWILIO_FROM, alert_for, fresh, run

pytestmark = pytest.mark.django_db


def test_an_email_reaches_the_smtp_server_and_is_marked_sent(configured, smtp, head, clock):
    rows = alert_for(head)
    run()

    assert fresh(rows["email"]).status == Message.Status.SENT
    assert len(smtp.envelopes) == 1
    envelope = smtp.envelopes[0]
    assert envelope.rcpt_tos == ["head@school.example"]
    mail = email.message_from_bytes(envelope.content)
    assert mail["Subject"] == "Doorstep: Visit overdue"
    assert mail["Message-ID"] == f"<{rows['email'].reference}@doorstep.school.example>"
    assert "https://doorstep.school.example/board/alerts/1/" in mail.get_payload()


def test_an_sms_goes_through_notify_with_our_reference_and_is_marked_sent(configured, provider, head, clock):
    rows = alert_for(head)
    counts = run()

    sms = fresh(rows["sms"])
    assert counts["sent"] == 2
    assert sms.status == Message.Status.SENT and sms.provider == "notify" and sms.attempts == 1
    [sent] = provider.accepted
    assert sent["reference"] == sms.reference and sms.provider_ref == sent["id"]
    assert sent["phone_number"] == "07700 900111" and sent["template_id"] == TEMPLATE_ID
    assert sent["body"] == "Doorstep: Visit overdue. Sam has not checked in. Call Sam now. https://doorstep.school.example/board/alerts/1/"


def test_an_sms_goes_through_twilio_when_twilio_is_first(configured, provider, head, clock):
    configured.DOORSTEP_SMS_PROVIDERS = ["twilio", "notify"]
    rows = alert_for(head)
    run()

    [sent] = provider.accepted
    assert sent["service"] == "twilio" and sent["to"] == "+447700900111" and sent["from"] == TWILIO_FROM
    assert fresh(rows["sms"]).provider_ref == sent["sid"]


def test_the_console_provider_writes_the_text_to_the_log(settings, head, caplog):
    settings.DOORSTEP_SMS_PROVIDERS = ["console"]
    rows = alert_for(head)
    with caplog.at_level("INFO", logger="notify.console"):
        run()
    assert fresh(rows["sms"]).status == Message.Status.SENT
    assert "SMS to 07700 900111: Doorstep: Visit overdue." in caplog.text


def test_in_app_messages_are_never_sent_by_the_worker(configured, provider, head, clock):
    rows = alert_for(head)
    _, claimed = delivery.claim()
    assert rows["in_app"].pk not in [m.pk for m in claimed]


# ----------------------------------------------------------------------------- retried

def test_a_provider_500_is_retried_after_a_back_off_and_then_sent(configured, provider, head, clock):
    provider.script = [500]
    rows = alert_for(head)
    run()

    sms = fresh(rows["sms"])
    assert sms.status == Message.Status.PENDING and sms.attempts == 1
    assert "HTTP 500" in sms.last_error
    wait = (sms.next_attempt_at - timezone.now()).total_seconds()
    assert 2.5 <= wait <= 5  # first back-off: 5 s with up to half taken off as jitter

    run()  # not due yet: nothing is sent
    assert len(provider.sends("notify")) == 1

    clock.shift(datetime.timedelta(seconds=5))
    run()
    sms = fresh(sms)
    assert sms.status == Message.Status.SENT and sms.attempts == 2
    assert len(provider.accepted) == 1
    assert [a.ok for a in DeliveryAttempt.objects.filter(message=sms)] == [False, True]


def test_a_429_waits_as_long_as_the_provider_asks(configured, provider, head, clock):
    provider.script = [429]
    rows = alert_for(head)
    run()
    wait = (fresh(rows["sms"]).next_attempt_at - timezone.now()).total_seconds()
    assert wait == pytest.approx(30)


def test_a_provider_that_hangs_past_the_timeout_is_retried_and_the_email_still_goes(configured, provider, smtp, head, clock):
    configured.DOORSTEP_SMS_PROVIDERS = ["notify"]
    provider.script = ["hang"]
    rows = alert_for(head)
    run()

    sms = fresh(rows["sms"])
    assert sms.status == Message.Status.PENDING and "did not answer" in sms.last_error
    assert fresh(rows["email"]).status == Message.Status.SENT and len(smtp.envelopes) == 1

    clock.shift(datetime.timedelta(seconds=6))
    run()
    assert fresh(sms).status == Message.Status.SENT


@pytest.mark.parametrize("first", ["notify", "twilio"])
def test_a_send_whose_answer_was_lost_is_not_sent_twice(configured, provider, head, clock, first):
    configured.DOORSTEP_SMS_PROVIDERS = [first]
    provider.script = ["lost"]  # the provider takes the text, but its answer never arrives
    rows = alert_for(head)
    run()
    assert fresh(rows["sms"]).status == Message.Status.PENDING
    assert len(provider.accepted) == 1

    clock.shift(datetime.timedelta(seconds=6))
    run()
    sms = fresh(rows["sms"])
    assert sms.status == Message.Status.SENT
    assert len(provider.accepted) == 1  # found the first copy instead of sending another
    assert sms.provider_ref == (provider.accepted[0].get("id") or provider.accepted[0].get("sid"))


def test_when_notify_is_down_twilio_sends_the_text(configured, provider, smtp, head, clock):
    provider.script = [500, "ok", 500]  # notify fails; the look-up before its retry works; it fails again
    rows = alert_for(head)
    run()
    clock.shift(datetime.timedelta(seconds=6))
    run()  # second failure with Notify: moves to Twilio and is due at once
    sms = fresh(rows["sms"])
    assert sms.provider == "twilio" and sms.next_attempt_at <= timezone.now()

    run()
    sms = fresh(sms)
    assert sms.status == Message.Status.SENT and sms.provider == "twilio" and sms.attempts == 3
    assert [a["service"] for a in provider.accepted] == ["twilio"]
    assert [a.provider for a in sms.attempt_log.all()] == ["notify", "notify", "twilio"]
    assert len(smtp.envelopes) == 1


def test_a_provider_that_refuses_our_credentials_is_left_for_the_next_at_once(configured, provider, head, clock):
    configured.NOTIFY_API_KEY = f"doorstep_test-{SERVICE_ID}-{uuid.uuid4()}"  # wrong secret: Notify answers 403
    rows = alert_for(head)
    run()
    assert fresh(rows["sms"]).provider == "twilio"
    run()
    assert fresh(rows["sms"]).status == Message.Status.SENT
    assert [a["service"] for a in provider.accepted] == ["twilio"]


# ----------------------------------------------------------------------------- leases

def test_a_row_claimed_by_one_worker_cannot_be_claimed_by_another(configured, head, clock):
    rows = alert_for(head)
    token_a, first = delivery.claim()
    token_b, second = delivery.claim()

    assert {m.pk for m in first} == {rows["sms"].pk, rows["email"].pk}
    assert second == []
    assert token_a != token_b


def test_a_killed_workers_lease_runs_out_and_another_worker_sends_the_message(configured, provider, smtp, head, clock):
    rows = alert_for(head)
    dead_token, taken = delivery.claim()  # this worker is killed before it sends anything
    assert len(taken) == 2

    run("w2")
    assert not provider.accepted and not smtp.envelopes  # still leased to the dead worker

    clock.shift(datetime.timedelta(seconds=delivery.LEASE_SECONDS + 1))
    run("w2")
    assert fresh(rows["sms"]).status == fresh(rows["email"]).status == Message.Status.SENT
    assert len(provider.accepted) == 1 and len(smtp.envelopes) == 1

    # Had the first worker only been slow, it finds its lease gone and sends nothing.
    assert delivery.deliver(taken[0], dead_token, worker="w1") == "lost"
    assert len(provider.accepted) == 1 and len(smtp.envelopes) == 1


def test_a_slow_batch_does_not_send_a_row_whose_lease_passed_to_another_worker(configured, provider, smtp, head, clock):
    rows = alert_for(head)
    slow_token, batch = delivery.claim()
    clock.shift(datetime.timedelta(seconds=delivery.LEASE_SECONDS + 1))  # the first rows took a long time
    fast_token, taken_over = delivery.claim()
    assert {m.pk for m in taken_over} == {m.pk for m in batch}

    assert [delivery.deliver(m, slow_token, worker="slow") for m in batch] == ["lost", "lost"]
    assert [delivery.deliver(m, fast_token, worker="fast") for m in taken_over] == ["sent", "sent"]
    assert len(provider.accepted) == 1 and len(smtp.envelopes) == 1
    assert fresh(rows["sms"]).status == Message.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_at_once_send_each_message_exactly_once(configured, provider, school):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:memorydb"):
        pytest.skip("an in-memory SQLite database shared between threads reports 'table is locked' instead of waiting")
    configured.DOORSTEP_SMS_PROVIDERS = ["twilio"]
    people = [StaffFactory(school=school, roles=["office"], mobile=f"07700 9002{n:02d}", email="") for n in range(12)]
    for person in people:
        alert_for(person)

    start = threading.Barrier(2)
    errors = []

    def worker(name):
        try:
            start.wait()
            for _ in range(3):
                delivery.run_once(worker=name, limit=5)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert Message.objects.filter(channel=Channel.SMS, status=Message.Status.SENT).count() == 12
    assert sorted(a["to"] for a in provider.accepted) == sorted(f"+4477009002{n:02d}" for n in range(12))


# ----------------------------------------------------------------------------- giving up, loudly

def test_a_text_that_cannot_be_sent_is_marked_failed_shown_to_the_board_and_the_email_still_goes(configured, provider, smtp, head, clock):
    provider.down = True
    rows = alert_for(head)
    for _ in range(40):
        run()
        clock.shift(datetime.timedelta(seconds=delivery.BACKOFF_CAP))
        if fresh(rows["sms"]).status != Message.Status.PENDING:
            break

    sms = fresh(rows["sms"])
    assert sms.status == Message.Status.FAILED and "HTTP 500" in sms.last_error
    assert {a.provider for a in sms.attempt_log.all()} == {"notify", "twilio"}
    assert list(services.failed_recent(head.school)) == [sms]
    assert AuditEntry.objects.filter(action="message.failed", object_id=str(sms.pk)).exists()
    assert fresh(rows["email"]).status == Message.Status.SENT and len(smtp.envelopes) == 1
    assert fresh(rows["in_app"]).status == Message.Status.SENT


def test_with_no_sms_provider_configured_the_text_fails_visibly(settings, head, clock):
    settings.DOORSTEP_SMS_PROVIDERS = ["notify"]
    settings.NOTIFY_API_KEY = ""
    rows = alert_for(head)
    run()
    sms = fresh(rows["sms"])
    assert sms.status == Message.Status.FAILED and "no SMS provider is configured" in sms.last_error
    assert list(services.failed_recent(head.school)) == [sms]


def test_a_refused_email_address_fails_at_once(configured, smtp, head, clock):
    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 no such mailbox"

    smtp.handle_RCPT = refuse
    rows = alert_for(head)
    run()
    assert fresh(rows["email"]).status == Message.Status.FAILED


def test_back_off_doubles_and_is_capped():
    class Top:
        @staticmethod
        def uniform(a, b):
            return b

    assert [delivery.backoff(n, rng=Top) for n in (1, 2, 3, 4, 10)] == [5, 10, 20, 40, 300]


# ----------------------------------------------------------------------------- the command

def test_the_deliver_command_runs_once_and_writes_its_heartbeat(configured, smtp, head, capsys):
    alert_for(head)
    call_command("deliver", "--once", "--worker", "cmd-test")
    assert "sent 2" in capsys.readouterr().out
    assert DeliveryHeartbeat.objects.get(worker="cmd-test").sent == 2
    assert not services.delivery_is_stale()


def test_a_message_past_the_age_limit_is_failed_without_waiting_for_its_next_try(configured, provider, smtp, head, clock):
    configured.DOORSTEP_SMS_PROVIDERS = ["notify"]
    provider.down = True
    rows = alert_for(head)
    run()
    Message.objects.filter(pk=rows["sms"].pk).update(next_attempt_at=timezone.now() + datetime.timedelta(hours=5))
    clock.shift(datetime.timedelta(seconds=3601))
    assert run()["failed"] == 1
    assert fresh(rows["sms"]).status == Message.Status.FAILED


def test_a_long_text_is_shortened_but_keeps_its_link(configured, provider, head, clock):
    rows = {m.channel: m for m in notify([head], kind="alert.overdue", subject="Visit overdue", body="Call now. " * 200,
                                          link="/board/alerts/1/", school=head.school, idempotency_key="long")}
    run()
    [sent] = provider.accepted
    assert len(sent["body"]) <= 612
    assert sent["body"].endswith("… https://doorstep.school.example/board/alerts/1/")
    assert fresh(rows["sms"]).status == Message.Status.SENT
