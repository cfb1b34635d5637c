"""A pupil and a member of staff who share a name ("Ann Smith" and "Mary Ann Smith") must
never stop an alarm: the check that texts and emails carry no pupil's name used to make
notify() raise, so the overdue alert was rolled back and retried for ever and a panic press
was refused. Now the alert is raised, the in-app copy keeps its words, the text and email go
out in the fixed wording, and the office board says so."""
import pytest
from django.core import mail
from django.urls import reverse

from safety import recording
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert
from audit.models import AuditEntry
from safety.checkins.models import VisitEvent, Watch
from notify import delivery
from notify.models import Message
from notify.providers import email_text, sms_text

from tests.factories import Staffed
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db

PUPIL_WORDS = ("ann smith", "smith ann")


@pytest.fixture
def namesakes(clock):
    """Coteford, whose pupil is Ann Smith and whose attendance officer is Mary Ann Smith,
    inside the pupil's home with a teacher since 10:00 (check-in alert at 10:25)."""
    school = Staffed("coteford", name="Coteford Junior School")
    school.pupil.first_name, school.pupil.last_name = "Ann", "Smith"
    school.pupil.save()
    school.officer.full_name = "Mary Ann Smith"
    school.officer.save()
    visit = scheduled_visit(school, [school.officer, school.teacher], minutes=90)
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=school.officer)
    recording.record_event(visit, "entered", by=school.officer)
    school.visit = visit
    return school


def outside_text(message: Message) -> str:
    """Everything a text or email of this row puts outside the school, lower case."""
    if message.channel == "sms":
        return sms_text(message).lower()
    return f"Doorstep: {message.subject}\n{email_text(message)}".lower()


def test_the_watchdog_raises_the_overdue_alert_for_a_namesake_and_texts_carry_no_pupil_name(namesakes, clock, settings, caplog):
    settings.DOORSTEP_SMS_PROVIDERS = ["console"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    clock.move_to(local(10, 25))

    assert watchdog_loop.poll()["raised"] == 1

    alert = Alert.objects.get(visit=namesakes.visit)
    assert (alert.kind, alert.state) == ("overdue", "open")
    assert Watch.objects.get(visit=namesakes.visit).status == "overdue"
    rows = Message.objects.filter(alert_id=alert.pk)
    in_app = rows.get(channel="in_app", recipient=namesakes.office)
    assert "Mary Ann Smith" in in_app.subject  # the office reads who is in trouble, in Doorstep
    outside = rows.exclude(channel="in_app")
    assert outside.exists()
    for message in outside:
        assert (message.subject, message.body) == ("Alert for your school", "Open Doorstep now.")
        assert message.link == f"/board/#alert-{alert.pk}"
        assert not any(words in outside_text(message) for words in PUPIL_WORDS)

    # What actually leaves: the worker's text (console provider) and email (locmem).
    with caplog.at_level("INFO", logger="notify.console"):
        delivery.run_once()
    assert not outside.exclude(status="sent").exists()
    assert mail.outbox and "sms to" in caplog.text.lower()
    for sent in [m.subject + m.body for m in mail.outbox] + [caplog.text]:
        assert not any(words in sent.lower() for words in PUPIL_WORDS)
        assert f"/board/#alert-{alert.pk}" in sent

    # Reported loudly: the log, the audit trail.
    assert "fixed wording" in caplog.text
    assert AuditEntry.objects.filter(action="message.reworded", school=namesakes.school).count() == 1


def test_a_panic_press_by_a_namesake_is_recorded_and_raises_the_alarm(namesakes, clock):
    clock.move_to(local(10, 10))

    recording.record_event(namesakes.visit, "panic", by=namesakes.officer)

    assert VisitEvent.objects.filter(visit=namesakes.visit, type="panic").count() == 1
    alert = Alert.objects.get(visit=namesakes.visit, kind="panic")
    assert Watch.objects.get(visit=namesakes.visit).status == "alarm"
    outside = Message.objects.filter(alert_id=alert.pk).exclude(channel="in_app")
    assert outside.exists()
    assert all(not any(words in outside_text(m) for words in PUPIL_WORDS) for m in outside)


def test_the_office_board_shows_the_alert_and_says_the_texts_went_out_in_the_fixed_wording(namesakes, clock, client):
    clock.move_to(local(10, 25))
    watchdog_loop.poll()
    alert = Alert.objects.get(visit=namesakes.visit)

    client.force_login(namesakes.office.user)
    page = client.get(reverse("alerts:board")).content.decode()

    assert f'id="alert-{alert.pk}"' in page
    assert 'id="delivery-reworded"' in page
    assert 'saying only "open Doorstep now"' in page
    assert "Check-in overdue alert: " in page and namesakes.office.full_name in page
