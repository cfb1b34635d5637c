"""The readiness panel and test alarms (docs/safety-core.md, "Readiness and drills"): the
providers are asked for real, at local fakes, each on its own (one down, hanging or broken
never stops the others being checked); stale heartbeats are said loudly; a drill sounds on
the office board, texts and emails the person testing only, is ended by whoever answers it,
and is never counted as an alert."""
import datetime
import html
import re
import time

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from doorstep.management.commands import daily
from notify import delivery
from notify.models import Channel, DeliveryHeartbeat, Message
from people.services import set_pins
from safety import board as board_data
from safety import live, watchdog
from safety.alerts.models import Alert
from safety.readiness import probes
from safety.readiness.models import Drill, ProviderCheck
from safety.readiness.services import DRILL_SOUNDS_FOR, end_drill, run_checks, start_drill

from tests.browser_support import DESKTOP, PHONE, shoot, signed_in_page
from tests.factories import Staffed, StaffFactory
from tests.notify.support import SmtpSink, free_port, serving
from tests.notify.support import point_at
from tests.safety.readiness_support import WRONG_NOTIFY_KEY, ProviderFake, serving_with_login
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db


@pytest.fixture
def school():
    return Staffed("coteford", name="Coteford Junior School")


@pytest.fixture
def notify_fake():
    fake = ProviderFake()
    yield fake
    fake.stop()


@pytest.fixture
def twilio_fake():
    fake = ProviderFake()
    yield fake
    fake.stop()


@pytest.fixture
def smtp():
    yield from serving(SmtpSink())


@pytest.fixture
def providers(settings, notify_fake, twilio_fake, smtp):
    # A generous timeout, so a busy test machine is not taken for a provider down; the test of a
    # provider that hangs sets its own.
    return point_at(settings, notify=notify_fake, twilio=twilio_fake, smtp=smtp, timeout=3)


def as_(client, staff):
    client.force_login(staff.user)
    return client


def text(response):
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def review_page(client):
    """The alerts review page, less its per-response CSRF token (masked afresh each time)."""
    page = client.get(reverse("alerts:review")).content.decode()
    return re.sub(r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', r"\1", page)


def panel(client):
    response = client.get(reverse("readiness:panel"))
    assert response.status_code == 200
    return text(response)


def latest(provider):
    return ProviderCheck.objects.filter(provider=provider).first()


def beating():
    """A watchdog and the three delivery workers heard from just now."""
    watchdog.beat("host:1")
    for channel in ("sms", "email", "voice"):
        DeliveryHeartbeat.objects.create(worker=f"host:2 {channel}", last_run=timezone.now())


# ----------------------------------------------------------------------------- the providers

def test_check_now_asks_every_provider_and_shows_twilios_credit(school, providers, client, notify_fake, twilio_fake,
                                                                smtp):
    as_(client, school.head)
    assert "Not checked yet" in panel(client)
    response = client.post(reverse("readiness:check"), follow=True)
    page = text(response)
    assert "Checked: every text and email service answered." in page
    assert "Credit left: <strong>23.45 GBP</strong>" in page
    assert "GOV.UK Notify answered and accepted Doorstep's key" in page
    assert f"The mail server at 127.0.0.1:{smtp.port} answered" in page
    assert {c.provider: c.ok for c in ProviderCheck.objects.all()} == {"notify": True, "twilio": True, "smtp": True}
    assert str(latest("twilio").balance) == "23.4500" and latest("twilio").currency == "GBP"
    # Really asked, with the credentials: Notify's JWT and Twilio's basic auth were accepted.
    assert [r["path"] for r in notify_fake.asked("notify")] == ["/v2/notifications"]
    assert twilio_fake.asked("twilio")[0]["path"].endswith("/Balance.json")
    assert not notify_fake.accepted and not twilio_fake.accepted and not smtp.envelopes  # nothing was sent
    entry = AuditEntry.objects.get(action="readiness.providers_checked")
    assert entry.actor_name == "Hana Head" and entry.school_id == school.school.pk


def test_low_credit_says_to_top_it_up(school, providers, client, twilio_fake):
    twilio_fake.balance = {"balance": "2.10", "currency": "GBP"}
    run_checks()
    assert "Low: top it up" in panel(as_(client, school.office))


def test_a_provider_down_is_shown_down_while_the_others_are_checked(school, providers, client, twilio_fake):
    twilio_fake.down = True
    page = text(as_(client, school.head).post(reverse("readiness:check"), follow=True))
    assert "Twilio did not answer as it should" in page
    assert "Twilio answered with an error (500)" in page
    assert latest("twilio").ok is False
    assert latest("notify").ok is True and latest("smtp").ok is True
    assert 'id="readiness-summary"' in page and "could stop an alert reaching someone" in page


def test_a_provider_that_hangs_does_not_hold_up_the_others(school, providers, twilio_fake, settings):
    settings.DOORSTEP_PROVIDER_TIMEOUT = 0.6
    twilio_fake.script = ["hang"]  # answers nothing for 0.9 seconds: past the timeout
    started = time.monotonic()
    run_checks()
    assert time.monotonic() - started < 3
    assert latest("twilio").ok is False and "did not answer within" in latest("twilio").detail
    assert latest("notify").ok is True and latest("smtp").ok is True


def test_a_probe_that_breaks_unexpectedly_is_reported_and_the_others_checked(school, providers, monkeypatch):
    def broken(timeout):
        raise RuntimeError("a bug in the probe")

    monkeypatch.setitem(probes.PROBES, "notify", broken)
    run_checks()
    assert latest("notify").ok is False and "could not be checked: RuntimeError" in latest("notify").detail
    assert latest("twilio").ok is True and latest("smtp").ok is True


def test_notify_refusing_the_key_is_said_plainly(school, providers, client, settings):
    settings.NOTIFY_API_KEY = WRONG_NOTIFY_KEY
    run_checks()
    assert latest("notify").ok is False
    assert "GOV.UK Notify refused Doorstep's key: texts through Notify will not go (it answered 403)" \
        in panel(as_(client, school.head))


def test_a_mail_server_not_listening_is_shown_down(school, providers, settings):
    settings.EMAIL_PORT = free_port()  # nothing listens there
    run_checks()
    assert latest("smtp").ok is False and "could not be reached" in latest("smtp").detail
    assert latest("notify").ok is True and latest("twilio").ok is True


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("password, ok", [("right-password", True), ("wrong-password", False)])
def test_the_mail_servers_login_is_checked_when_one_is_set(school, providers, settings, password, ok):
    for sink in serving_with_login(SmtpSink(), "doorstep", "right-password"):
        settings.EMAIL_PORT = sink.port
        settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "doorstep", password
        run_checks()
        assert latest("smtp").ok is ok
        assert ("accepted Doorstep's login" if ok else "refused Doorstep's user name or password") \
            in latest("smtp").detail
        assert not sink.envelopes


def test_nothing_set_up_is_said_plainly_and_nothing_is_probed(school, client, settings):
    settings.DOORSTEP_SMS_PROVIDERS = ["console", "twilio"]
    settings.TWILIO_ACCOUNT_SID = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    page = panel(as_(client, school.head))
    assert "Text messages only go to the log: no text provider is set up." in page
    assert "Twilio is named as a text provider, but its account details are missing, so texts skip it." in page
    assert "Emails only go to the log: no mail server is set up." in page
    assert "Check now" not in page
    assert run_checks() == []


def test_the_daily_job_checks_the_providers(school, providers):
    assert "check_providers" in daily.JOBS
    call_command("daily")
    assert {c.provider for c in ProviderCheck.objects.filter(checked_by__isnull=True)} == {"notify", "twilio", "smtp"}


def test_a_check_older_than_a_day_says_the_daily_check_has_stopped(school, providers, client):
    run_checks()
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=27)):
        assert "The daily check has not run since." in panel(as_(client, school.head))


# ----------------------------------------------------------------------------- heartbeats and people

def test_stale_heartbeats_are_said_loudly(school, client, settings):
    as_(client, school.head)
    page = panel(client)
    assert "The watchdog is not running" in page and "no delivery worker has ever run" in page
    beating()
    page = panel(client)
    assert "The watchdog is watching visits: last heard from" in page
    assert "Texts and emails are going out" in page
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5)):
        page = panel(client)
    assert "The watchdog is not running</strong>: it was last heard from 5 minutes ago" in page
    assert "Texts and emails are not going out</strong>: the delivery worker was last heard from 5 minutes ago" in page
    assert "Texts: <strong>stopped</strong>" in page and "Emails: <strong>stopped</strong>" in page
    assert "Phone calls: <strong>stopped</strong>" in page


def test_the_people_that_an_alert_would_not_reach_are_listed(school, client):
    set_pins(school.officer, safe_pin="2468", duress_pin="1357", by=school.officer)
    school.office.mobile = ""
    school.office.save()
    page = panel(as_(client, school.head))
    gaps = page.split('id="people"')[1]
    assert "Tess Teacher have not set their check-in PINs" in gaps and "Ali Attendance" not in gaps
    assert "Olu Office gets alerts, but has no mobile on record: no text reaches them." in gaps


# ----------------------------------------------------------------------------- the test alarm

def board_text(client):
    response = client.get(reverse("alerts:live"))
    assert response.status_code == 200
    return text(response)


def test_a_drill_sounds_on_the_board_reaches_the_tester_only_and_is_ended_by_whoever_answers(
        school, providers, client, notify_fake, twilio_fake, smtp):
    head, office = school.head, school.office
    response = as_(client, head).post(reverse("readiness:drill_start"), follow=True)
    assert "Test alarm started" in text(response)
    drill = Drill.objects.get()
    assert drill.started_by == head and drill.ended_at is None

    # The outbox: one text and one email (and the in-app copy), to the person testing and nobody else.
    sent = Message.objects.filter(idempotency_key=f"drill:{drill.pk}")
    assert {(m.recipient_id, m.channel) for m in sent} == {(head.pk, Channel.IN_APP), (head.pk, Channel.SMS),
                                                           (head.pk, Channel.EMAIL)}
    assert Message.objects.count() == 3
    for m in sent:
        assert m.kind == "drill" and m.alert_id is None
        assert "TEST" in m.subject and "Nobody is in danger" in m.body
        assert "Ava" not in m.subject + m.body and "Brown" not in m.subject + m.body
        assert m.link == reverse("alerts:board")

    # The worker takes them to the providers (texts through Notify, the first listed).
    delivery.run_once(worker="w1")
    assert [s["phone_number"] for s in notify_fake.accepted] == [head.mobile]
    assert "TEST ALARM" in notify_fake.accepted[0]["body"]
    assert not twilio_fake.accepted
    assert [e.rcpt_tos for e in smtp.envelopes] == [[head.email]]

    # The board sounds it: an element with data-alarm, for the board's JS.
    as_(client, office)
    at = f"{timezone.localtime(drill.started_at):%H:%M}"
    board = board_text(client)
    assert f'data-alarm="drill-{drill.pk}"' in board
    assert f"TEST ALARM started by Hana Head at {at}: this is a drill." in board
    assert f'data-alarm="drill-{drill.pk}"' in text(client.get(reverse("alerts:board")))

    # The office answers it from the board.
    response = client.post(reverse("readiness:drill_end", args=[drill.pk]), {"back": "board"})
    assert response.status_code == 302 and response["Location"] == reverse("alerts:board")
    drill.refresh_from_db()
    assert drill.acknowledged_by == office and drill.acknowledged_at is not None and drill.ended_at is not None
    assert "data-alarm" not in board_text(client)

    # The panel says what happened.
    page = panel(as_(client, head))
    assert "Ended by Olu Office" in page and "after it started" in page
    assert "The text reached GOV.UK Notify today at" in page
    assert "The email reached the mail server today at" in page
    assert [e.action for e in AuditEntry.objects.filter(object_type="readiness.drill").order_by("at", "pk")] \
        == ["drill.started", "drill.ended"]


def test_a_drill_is_never_counted_as_an_alert(school, client):
    office, head = school.office, school.head
    with time_machine.travel(timezone.now(), tick=False):
        as_(client, head)
        review_before = review_page(client)
        tile_before = board_data.home_tile(head)
        counts_before = board_data.board_context([office])["counts"]
        drill = start_drill(office)
        context = board_data.board_context([office])
        assert [d["id"] for d in context["drills"]] == [drill.pk]
        assert context["counts"] == counts_before
        assert context["latest_alert_id"] == 0 and context["unacknowledged"] is False
        assert board_data.home_tile(head) == tile_before
        assert review_page(client) == review_before
        end_drill(drill, by=office)
        assert review_page(client) == review_before
    assert not Alert.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="alert.").exists()


def test_two_presses_start_one_drill_and_end_it_once(school, client):
    as_(client, school.office)
    client.post(reverse("readiness:drill_start"))
    response = client.post(reverse("readiness:drill_start"), follow=True)
    assert "A test alarm is already running at this school" in text(response)
    drill = Drill.objects.get()
    assert Message.objects.filter(idempotency_key=f"drill:{drill.pk}").count() == 3
    assert end_drill(drill, by=school.office) is True
    assert end_drill(drill, by=school.head) is False
    drill.refresh_from_db()
    assert drill.acknowledged_by == school.office
    assert AuditEntry.objects.filter(action="drill.ended").count() == 1
    response = client.post(reverse("readiness:drill_end", args=[drill.pk]), follow=True)
    assert "This test alarm had already ended." in text(response)


def test_a_drill_nobody_ends_stops_sounding_after_half_an_hour(school, client):
    drill = start_drill(school.head)
    as_(client, school.office)
    assert f'data-alarm="drill-{drill.pk}"' in board_text(client)
    with time_machine.travel(timezone.now() + DRILL_SOUNDS_FOR + datetime.timedelta(minutes=1)):
        assert "data-alarm" not in board_text(client)
        assert "Nobody ended it: it stopped sounding on its own after 30 minutes." in panel(client)
        # The next drill closes it (recorded as not answered) and starts.
        second = start_drill(school.office)
    drill.refresh_from_db()
    assert drill.ended_at == drill.started_at + DRILL_SOUNDS_FOR and drill.acknowledged_by is None
    assert AuditEntry.objects.filter(action="drill.lapsed", object_id=str(drill.pk)).exists()
    assert second.ended_at is None


def test_only_leaders_the_dsl_the_business_manager_and_the_office_may(school, client):
    for person in (school.head, school.deputy, school.dsl, school.sbm, school.office):
        assert as_(client, person).get(reverse("readiness:panel")).status_code == 200, person.full_name
    drill = start_drill(school.sbm)
    for person in (school.teacher, school.family, school.officer):
        as_(client, person)
        assert client.get(reverse("readiness:panel")).status_code == 403
        assert client.post(reverse("readiness:check")).status_code == 403
        assert client.post(reverse("readiness:drill_start")).status_code == 403
        assert client.post(reverse("readiness:drill_end", args=[drill.pk])).status_code == 404
    drill.refresh_from_db()
    assert drill.ended_at is None and Drill.objects.count() == 1
    assert not ProviderCheck.objects.exists()


def test_the_panel_is_linked_from_the_home_page_and_the_boards_tools_for_those_who_may_see_it(school, client):
    panel_link = f'href="{reverse("readiness:panel")}"'
    assert panel_link in text(as_(client, school.sbm).get(reverse("home")))
    assert panel_link in text(as_(client, school.office).get(reverse("home")))
    assert panel_link in text(client.get(reverse("alerts:board")))
    assert panel_link not in text(as_(client, school.teacher).get(reverse("home")))


def test_another_schools_office_cannot_see_or_end_a_drill(school, client):
    other = Staffed("potton", name="Potton Primary School")
    drill = start_drill(school.head)
    as_(client, other.office)
    assert "data-alarm" not in board_text(client)
    assert client.post(reverse("readiness:drill_end", args=[drill.pk])).status_code == 404
    drill.refresh_from_db()
    assert drill.ended_at is None


def test_a_tester_with_no_mobile_is_told_no_text_went(school, client):
    tester = StaffFactory(school=school.school, roles=["office"], full_name="Nia Nomobile", mobile="")
    start_drill(tester)
    page = panel(as_(client, tester))
    assert "No text was sent: Nia Nomobile has no mobile on record." in page


def test_open_boards_are_told_when_a_drill_starts_and_ends(school, monkeypatch):
    told = []
    monkeypatch.setattr(live, "changed", told.append)
    drill = start_drill(school.head)
    assert told == [school.school.pk]
    end_drill(drill, by=school.office)
    assert told == [school.school.pk, school.school.pk]


# ----------------------------------------------------------------------------- in Chromium

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_panel_checks_runs_a_test_alarm_and_the_board_sounds_it(browser, live_server, providers, twilio_fake):
    school = Staffed("coteford", name="Coteford Junior School")
    twilio_fake.down = True  # one provider down, shown among the others
    beating()
    head = signed_in_page(browser, live_server, school.head.user.username, DESKTOP)
    head.goto(live_server.url + reverse("readiness:panel"))
    head.get_by_role("button", name="Check now").click()
    head.wait_for_url(live_server.url + reverse("readiness:panel"))
    assert "Not answering" in head.locator("#check-twilio").inner_text()
    assert "Answering" in head.locator("#check-notify").inner_text()
    head.get_by_role("button", name="Run a test alarm").click()
    head.wait_for_url(live_server.url + reverse("readiness:panel"))
    assert "Sounding now" in head.locator("#drill").inner_text()
    shoot(head, "desktop-readiness")
    phone = signed_in_page(browser, live_server, school.head.user.username, PHONE)
    phone.goto(live_server.url + reverse("readiness:panel"))
    shoot(phone, "phone-readiness")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    office = signed_in_page(browser, live_server, school.office.user.username, DESKTOP)
    office.goto(live_server.url + reverse("alerts:board"))
    drill = Drill.objects.get()
    banner = office.locator(f'[data-alarm="drill-{drill.pk}"]')
    expect(banner).to_be_visible()
    assert "TEST ALARM started by Hana Head at" in banner.inner_text()
    shoot(office, "desktop-board-drill")
    banner.get_by_role("button", name="End the test").click()
    office.wait_for_url(live_server.url + reverse("alerts:board"))
    assert office.locator("[data-alarm^=drill]").count() == 0
    drill.refresh_from_db()
    assert drill.acknowledged_by == school.office
