"""The delivery worker under faults: a database that errors or is locked, a text provider
that hangs, a mail server that greylists, a worker killed between the provider's "accepted"
and its own record, and a provider down long enough that the office must be told.

In-process tests use the local fake servers of tests/notify/test_notify_delivery.py and a
time-machine clock. Two tests run the real `doorstep deliver` as a separate process
against a throwaway SQLite file (migrated once per module), because a lock held by another
process and two threads with their own connections are what they are about."""
import datetime
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from notify import delivery
from notify.models import Message
from notify.services import notify

from tests.factories import StaffFactory
from tests.notify.support import NOTIFY_KEY, TEMPLATE_ID, alert_for, fresh, run, serving

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- database errors

def test_the_deliver_command_rides_out_database_errors_and_then_sends(configured, smtp, head, monkeypatch, caplog):
    rows = alert_for(head)
    real_claim, real_beat = delivery.claim, delivery.beat
    failures = []

    def locked_three_times(**kwargs):
        if len(failures) < 3:
            failures.append(timezone.now())
            raise OperationalError("database is locked")
        return real_claim(**kwargs)

    def beat_then_stop(worker, *, sent=0, failed=0):
        real_beat(worker, sent=sent, failed=failed)
        if sent:  # the email went: stop the worker as an operator would
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(delivery, "claim", locked_three_times)
    monkeypatch.setattr(delivery, "beat", beat_then_stop)
    monkeypatch.setattr(delivery, "DB_BACKOFF_CAP", 0.05, raising=False)  # keep the test quick
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    give_up = threading.Timer(20, os.kill, (os.getpid(), signal.SIGTERM))  # never hang the suite
    give_up.start()
    try:
        call_command("deliver", "--channel", "email", "--interval", "0.01")
    finally:
        give_up.cancel()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    assert len(failures) == 3
    assert fresh(rows["email"]).status == Message.Status.SENT and len(smtp.envelopes) == 1
    assert fresh(rows["sms"]).status == Message.Status.PENDING  # --channel email leaves texts to the other worker
    assert caplog.text.count("round failed") == 3  # each hiccup is in the log


# ----------------------------------------------------------------------------- greylisting

def test_a_greylisted_email_is_tried_again_and_delivered(configured, smtp, head, clock):
    answers = ["450 4.2.0 Greylisted, please try again later"]

    async def greylist(server, session, envelope, address, rcpt_options):
        if answers:
            return answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp.handle_RCPT = greylist
    rows = alert_for(head)
    run()

    email = fresh(rows["email"])
    assert email.status == Message.Status.PENDING and "try again later" in email.last_error
    clock.shift(datetime.timedelta(seconds=16))
    run()
    assert fresh(email).status == Message.Status.SENT
    assert [e.rcpt_tos for e in smtp.envelopes] == [["head@school.example"]]


# ----------------------------------------------------------------------------- a killed worker

class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the worker catches it, nothing after it runs."""


@pytest.mark.parametrize("first", ["notify", "twilio"])
def test_a_worker_killed_after_the_provider_took_a_text_sends_no_duplicate_and_holds_back_nothing_else(
        configured, provider, school, clock, monkeypatch, first):
    configured.DOORSTEP_SMS_PROVIDERS = [first]
    ann = StaffFactory(school=school, roles=["office"], full_name="Ann Office", mobile="07700 900201", email="")
    bob = StaffFactory(school=school, roles=["office"], full_name="Bob Office", mobile="07700 900202", email="")
    rows = {m.recipient_id: m for m in notify([ann, bob], kind="alert.overdue", subject="Visit overdue",
                                              body="Sam has not checked in.", link="/board/", school=school,
                                              idempotency_key="alert:1:step:0") if m.channel == "sms"}
    real_request = requests.Session.request

    def killed_once_accepted(self, method, url, *args, **kwargs):
        response = real_request(self, method, url, *args, **kwargs)
        if method.upper() == "POST" and response.status_code < 300:
            raise WorkerKilled()  # the provider has the text; the worker never hears of it
        return response

    with monkeypatch.context() as patched:
        patched.setattr(requests.Session, "request", killed_once_accepted)
        with pytest.raises(WorkerKilled):
            run("w1")
    assert len(provider.accepted) == 1  # Ann's text went; her row does not know it

    run("w2")  # at once: the dead worker held only the text it was sending
    assert fresh(rows[bob.pk]).status == Message.Status.SENT
    assert fresh(rows[ann.pk]).status == Message.Status.PENDING

    clock.shift(datetime.timedelta(seconds=31))  # a short lease, not two minutes
    run("w2")
    ann_sms = fresh(rows[ann.pk])
    assert ann_sms.status == Message.Status.SENT
    assert len(provider.accepted) == 2  # one text each: Ann's earlier copy was found, not sent again
    assert ann_sms.provider_ref == (provider.accepted[0].get("id") or provider.accepted[0].get("sid"))


# ----------------------------------------------------------------------------- told within a minute

def test_the_board_names_whom_texts_are_not_reaching_within_a_minute_and_they_go_soon_after_recovery(
        configured, provider, smtp, coteford, clock, client):
    provider.down = True  # both text providers answer 500
    people = [coteford.head, coteford.office]
    written = timezone.now()
    notify(people, kind="alert.overdue", subject="Overdue: Ali Attendance", body="Ali Attendance has not checked in.",
           link="/board/", school=coteford.school, idempotency_key="alert:1:step:0")
    client.force_login(coteford.office.user)

    shown_after = page = None
    while timezone.now() - written <= datetime.timedelta(seconds=60):
        run()
        page = client.get(reverse("alerts:board")).content.decode()
        if 'id="delivery-delayed-sms"' in page:
            shown_after = timezone.now() - written
            break
        clock.shift(datetime.timedelta(seconds=5))
    assert shown_after is not None, "no warning on the board within a minute"
    assert "Texts are not going out" in page
    for person in people:
        assert person.full_name in page and person.mobile in page
    assert 'id="delivery-delayed-email"' not in page  # the emails went

    for _ in range(36):  # three more minutes down: long enough for an uncapped back-off to grow
        clock.shift(datetime.timedelta(seconds=5))
        run()
    provider.down = False
    recovered = timezone.now()
    texts = Message.objects.filter(channel="sms", idempotency_key="alert:1:step:0")
    while texts.exclude(status=Message.Status.SENT).exists() and timezone.now() - recovered < datetime.timedelta(minutes=10):
        clock.shift(datetime.timedelta(seconds=1))
        run()
    assert timezone.now() - recovered <= datetime.timedelta(seconds=delivery.URGENT_BACKOFF_CAP + 1)
    assert 'id="delivery-delayed-sms"' not in client.get(reverse("alerts:board")).content.decode()


# ----------------------------------------------------------------------------- a real worker process

FAULT_SETTINGS = """\
from doorstep.settings import *  # noqa: F401,F403

# "database is locked" after half a second instead of 20, so a test can hold a lock past it quickly.
DATABASES["default"]["OPTIONS"]["timeout"] = 0.5
DOORSTEP_SMS_PROVIDERS = ["notify"]
DOORSTEP_PROVIDER_TIMEOUT = {timeout}
NOTIFY_API_KEY = "{notify_key}"
NOTIFY_SMS_TEMPLATE_ID = "{template_id}"
NOTIFY_BASE_URL = "{notify_url}"
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = {smtp_port}
EMAIL_USE_TLS = EMAIL_USE_SSL = False
EMAIL_HOST_USER = EMAIL_HOST_PASSWORD = ""
"""

MAKE_MESSAGES = """\
from notify.services import notify
from tests.factories import SchoolFactory, StaffFactory
school = SchoolFactory()
people = [StaffFactory(school=school, roles=["office"], full_name=f"Person {{n}}", mobile=f"07700 9003{{n:02d}}",
                       email=f"person{{n}}@school.example") for n in range({count})]
notify(people, kind="alert.overdue", subject="Visit overdue", body="Sam has not checked in.", link="/board/",
       school=school, idempotency_key="{key}")
"""


class TimedSink:
    def __init__(self):
        self.arrived = []

    async def handle_DATA(self, server, session, envelope):
        self.arrived.append((time.monotonic(), envelope.rcpt_tos[0]))
        return "250 Message accepted for delivery"


@pytest.fixture
def timed_smtp():
    yield from serving(TimedSink())


@pytest.fixture
def silent_provider():
    """A text provider that takes the connection and never answers: every send waits for
    the whole provider timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """A migrated SQLite file, copied for each test that runs a worker process."""
    folder = tmp_path_factory.mktemp("delivery-faults")
    template = folder / "template.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DOORSTEP_DB", "DJANGO_SETTINGS_MODULE")}
    env["DATABASE_URL"] = f"sqlite:///{template}"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    return template


class WorkerSite:
    """A throwaway Doorstep (its own SQLite file and settings) for `doorstep deliver` processes."""

    def __init__(self, folder: Path, template: Path, **settings):
        self.db = folder / "doorstep.sqlite3"
        shutil.copy(template, self.db)
        (folder / "fault_settings.py").write_text(FAULT_SETTINGS.format(
            notify_key=NOTIFY_KEY, template_id=TEMPLATE_ID, **settings))
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DOORSTEP_DB")}
        self.env.update(DATABASE_URL=f"sqlite:///{self.db}", DJANGO_SETTINGS_MODULE="fault_settings",
                        PYTHONPATH=os.pathsep.join([str(folder), str(ROOT)]))
        self.workers = []

    def manage(self, *args, timeout=120):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                              timeout=timeout, capture_output=True, text=True)

    def make_messages(self, count, key):
        self.manage("shell", "-c", MAKE_MESSAGES.format(count=count, key=key))

    def start_worker(self, *args):
        worker = subprocess.Popen([sys.executable, "manage.py", "deliver", "--interval", "0.1", *args], cwd=ROOT,
                                  env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.workers.append(worker)
        return worker

    def query(self, sql):
        with sqlite3.connect(self.db, timeout=10) as db:
            return db.execute(sql).fetchall()

    def wait_for(self, condition, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(10)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()


@pytest.fixture
def site_for(tmp_path, migrated):
    sites = []

    def make(**settings):
        sites.append(WorkerSite(tmp_path, migrated, **settings))
        return sites[-1]

    yield make
    for site in sites:
        site.stop()


def test_a_worker_process_outlives_a_database_locked_by_another_process(site_for, timed_smtp, silent_provider):
    site = site_for(timeout=1, notify_url=silent_provider, smtp_port=timed_smtp.port)
    worker = site.start_worker()
    assert site.wait_for(lambda: site.query("SELECT count(*) FROM notify_deliveryheartbeat")[0][0] > 0, 30)

    # Another process takes the write lock for 3 s: six times the worker's busy timeout.
    lock = sqlite3.connect(site.db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    lock.execute("UPDATE notify_deliveryheartbeat SET sent = sent")
    time.sleep(3)
    lock.execute("COMMIT")
    lock.close()

    assert worker.poll() is None, worker.communicate()[0][-2000:]
    site.make_messages(1, "after-the-lock")
    assert site.wait_for(lambda: len(timed_smtp.arrived) == 1, 30), "the email was not sent after the lock"
    site.stop()
    assert "database is locked" in worker.communicate()[0]  # the hiccup is in the worker's log


def test_a_hanging_text_provider_does_not_hold_back_email_in_one_worker_process(site_for, timed_smtp, silent_provider):
    site = site_for(timeout=2, notify_url=silent_provider, smtp_port=timed_smtp.port)
    site.make_messages(6, "alert:1:step:0")
    site.start_worker()  # no --channel: one process sends both

    assert site.wait_for(lambda: len(timed_smtp.arrived) == 6, 60), "not every email was sent"
    first, last = timed_smtp.arrived[0][0], timed_smtp.arrived[-1][0]
    # Six texts each hang for the 2 s timeout; sent in turn with the texts, the emails would
    # be spread over 10 s or more.
    assert last - first < 1.5
    assert site.query("SELECT count(*) FROM notify_message WHERE channel = 'sms' AND status = 'sent'")[0][0] == 0
