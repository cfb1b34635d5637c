"""A real school goes live in an afternoon, in Chromium, on Doorstep's own pages only (issue 14,
"Done means"). From an empty database with one superuser made by `createsuperuser` (docs/setup.md):

1. the first administrator signs in, enrols two-step sign-in, makes the trust and a school and
   invites the headteacher;
2. the headteacher opens the link from the email the app sent (to a local SMTP server), chooses
   a password and enrols two-step sign-in;
3. adapts a preset on the policy page (a check-in interval and its clause) and publishes it;
4. invites staff from a CSV file (their invitations are emailed);
5. imports pupils and contacts from a SIMS export: a file with one bad line is refused with the
   line and column named and nothing written, then the corrected file is imported;
6. connects Wonde (a local fake) and syncs two pages, then an incremental sync moves a pupil's
   address and marks one as left, both seen on the pupils' pages;
7. finishes what the checklist says is missing for proposing; an attendance officer from the CSV
   accepts their invitation, sets their PINs and proposes the first visit; the head approves it.

Nothing here writes through the ORM what a person does: the database is read only to assert.
DOORSTEP_SCREENSHOTS=1 saves each main step at phone and desk size in test-artifacts/ (or in the
folder it names, e.g. DOORSTEP_SCREENSHOTS=/tmp/shots)."""
import base64
import datetime
import email
import email.policy
import os
import re
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP

from audit.models import AuditEntry
from notify import delivery
from people.models import StaffMember
from pupils.models import Pupil
from pupils.upn import make_upn
from schools.models import School
from visits.models import Visit

from tests.browser_support import ARTIFACTS, DESKTOP, PHONE, SLOW
from tests.mis.fake_wonde import FakeWonde, make_student
from tests.notify.support import SmtpSink, point_email_at, serving
from tests.pages_support import next_school_day

pytestmark = [
    pytest.mark.browser,
    pytest.mark.both_databases,  # a school's first afternoon, on both databases
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

ADMIN_PASSWORD = "first-admin-Passphrase-2026"
HEAD_PASSWORD = "brookside-Head-passphrase"
AMIR_PASSWORD = "amir-Attendance-passphrase"
SIMS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "pupils-sims.csv"
STAFF_CSV = (
    "name,email,mobile,roles\n"
    "Olu Adeyemi,olu@brookside.example,07700 900201,School office\n"
    "Amir Hassan,amir@brookside.example,07700 900202,Attendance officer\n"
    "Tess Morgan,tess@brookside.example,07700 900203,Teacher\n"
)
INVITATION_LINK = re.compile(r"https?://[^\s\"<>]+/accounts/invitation/[^\s\"<>/]+/")


@pytest.fixture
def smtp():
    yield from serving(SmtpSink())


@pytest.fixture
def wonde(settings):
    fake = FakeWonde(token="wonde-brookside-token-5678", page_size=2)
    settings.WONDE_BASE_URL = fake.url
    settings.WONDE_TIMEOUT = 5
    yield fake
    fake.stop()


def snap(page, name):
    """Each main step at a phone's size and a desk's, when DOORSTEP_SCREENSHOTS asks for them."""
    wanted = os.environ.get("DOORSTEP_SCREENSHOTS", "")
    if not wanted:
        return
    folder = ARTIFACTS if wanted == "1" else Path(wanted)
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in (("phone", PHONE), ("desk", DESKTOP)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(folder / f"afternoon-{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)


@pytest.fixture
def new_page(browser, request):
    """A new person's browser; if the test fails, each one's last page is saved to look at."""
    pages = []

    def make():
        page = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Europe/London").new_page()
        page.set_default_timeout(int(os.environ.get("DOORSTEP_BROWSER_TIMEOUT", SLOW)))
        pages.append(page)
        return page

    failed_before = request.session.testsfailed
    yield make
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        for n, page in enumerate(pages):
            page.screenshot(path=str(ARTIFACTS / f"afternoon-failed-{n}.png"), full_page=True)


def main_text(page):
    return page.inner_text("main")


def deliver_email():
    """What the delivery worker (`doorstep start` runs it) does: send what is in the outbox."""
    while delivery.run_once()["sent"]:
        pass


def invitation_link(smtp, address):
    """The link in the latest invitation emailed to `address`, as the person would click it."""
    for envelope in reversed(smtp.envelopes):
        if address in envelope.rcpt_tos:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            body = message.get_body(preferencelist=("plain", "html")).get_content()
            found = INVITATION_LINK.search(body)
            assert found, f"no invitation link in the email to {address}: {body!r}"
            return found.group(0)
    raise AssertionError(f"no email reached {address}; sent to {[e.rcpt_tos for e in smtp.envelopes]}")


def code_from(secret):
    """The code an authenticator app shows for the key typed from the page (django-otp's TOTP,
    which checks it), waiting for a fresh time step if this one is nearly over."""
    if 30 - time.time() % 30 < 2:
        time.sleep(2.5)
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time()
    return f"{totp.token():06d}"


def enrol_second_factor(page, shot=None):
    """The enrol page: type the key into the 'app', give its code, then past the backup codes."""
    page.get_by_role("heading", name="Set up two-factor sign-in").wait_for()
    if shot:
        snap(page, shot)
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Code from your app").fill(code_from(secret))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Your backup codes").wait_for()
    assert page.locator("#backup-codes li").count() == 10
    page.get_by_role("link", name="Continue").click()


def sign_in_first_time(page, url, username, password):
    page.goto(url + reverse("login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def accept_invitation(page, link, password, shot=None):
    page.goto(link)
    if shot:
        snap(page, shot)
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password confirmation").fill(password)
    page.get_by_role("button", name="Set my password").click()


def sims_student(n, upn, first, last, dob, street, town="Coteford", postcode="CF1 2AB"):
    """A Wonde student for one of the pupils in the school's SIMS export (the same UPN)."""
    student = make_student(n, upn, dob=dob, street=street, surname=last)
    student.update(forename=first, legal_forename=first, legal_surname=last)
    address = student["contact_details"]["data"]["addresses"]["home"]
    address.update(house_number=str(n), town=town, postcode=postcode)
    return student


def test_a_school_goes_from_an_empty_database_to_its_first_approved_visit(
        live_server, settings, smtp, wonde, new_page, monkeypatch, tmp_path):
    url = live_server.url
    point_email_at(settings, smtp)
    settings.DOORSTEP_BASE_URL = url  # the links in the emails lead to this server
    assert not School.objects.exists() and not get_user_model().objects.exists()
    # The first administrator, made on the server the way docs/setup.md says.
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", ADMIN_PASSWORD)
    call_command("createsuperuser", interactive=False, username="admin", email="it@brooktrust.example",
                 verbosity=0)

    # 1. The first administrator: two-step sign-in, the trust, a school, its headteacher.
    admin = new_page()
    sign_in_first_time(admin, url, "admin", ADMIN_PASSWORD)
    enrol_second_factor(admin)
    admin.wait_for_url(url + reverse("setup:start"))
    assert admin.get_by_role("heading", level=1).inner_text() == "Set up Doorstep"
    snap(admin, "1-trust")
    admin.get_by_label("The trust's name").fill("Brook Learning Trust")
    admin.get_by_role("button", name="Set up the trust").click()
    admin.get_by_text("Brook Learning Trust is set up. Now add its schools.").wait_for()
    admin.get_by_label("School name").fill("Brookside Primary School")
    admin.get_by_label("URN").fill("123456")
    admin.get_by_label("Address").fill("1 Brook Lane, Coteford CF1 1AA")
    admin.get_by_label("Office phone").fill("01632 960000")
    admin.get_by_role("button", name="Add the school").click()
    admin.get_by_text("Brookside Primary School is added. Now invite its headteacher.").wait_for()
    admin.get_by_label("Headteacher's name").fill("Helen Carter")
    admin.get_by_label("Their email address").fill("helen@brookside.example")
    admin.get_by_label("Their mobile").fill("07700 900100")
    admin.get_by_role("button", name="Add and invite the headteacher").click()
    admin.get_by_text("has been sent an invitation to helen@brookside.example").wait_for()
    snap(admin, "1-head-invited")
    school = School.objects.get(name="Brookside Primary School")
    deliver_email()

    # 2. The headteacher: the emailed link, a password, two-step sign-in.
    head = new_page()
    accept_invitation(head, invitation_link(smtp, "helen@brookside.example"), HEAD_PASSWORD, "2-invitation")
    head.get_by_text("Password set. Your role needs a second step when you sign in").wait_for()
    enrol_second_factor(head, "2-two-step")
    head.wait_for_url(url + reverse("home"))
    head.get_by_role("link", name="The school's set-up checklist").click()
    head.get_by_role("heading", name="Set-up checklist").wait_for()
    assert "Visits cannot be proposed yet" in main_text(head)
    snap(head, "2-checklist")

    # 3. The policy: a preset adapted (a check-in interval and its clause), published with a reason.
    head.locator("#item-policy").get_by_role("link").click()
    head.get_by_role("link", name="Change the policy").click()
    head.get_by_label("Start from").select_option("coteford")
    head.get_by_role("button", name="Start the draft").click()
    head.wait_for_url(url + reverse("policy_draft:editor"))
    # The preset is another school's: the head makes it Brookside's, in Brookside's own numbering.
    head.get_by_label("School", exact=True).fill("Brookside Primary School")
    head.get_by_label("Name in messages").fill("Brookside")
    head.get_by_label("Title of your written policy").fill("Brookside Primary School Home Visits Policy")
    head.get_by_label("Clause prefix (every clause starts with it, optional)").fill("")
    setting = head.locator('[id="setting-check_in.interval_minutes"]')
    setting.get_by_label("Value").fill("15")
    setting.get_by_label("Your clause").fill("HV 4.2")
    snap(head, "3-policy-draft")
    head.get_by_role("button", name="Save the draft and review it").click()
    head.wait_for_url(url + reverse("policy_draft:review"))
    changes = head.locator("#changes").locator("xpath=..").inner_text()
    assert "every 15 min" in changes and "HV 4.2" in changes
    snap(head, "3-policy-review")
    head.get_by_label("Why is the policy changing?").fill("Our own policy: Coteford's, with a check-in every 15 minutes")
    head.get_by_role("button", name="Publish the new version").click()
    head.wait_for_url(url + reverse("policies:show"))
    assert "Version 1 of the policy is published" in main_text(head)
    policy = school.current_policy().load()
    assert policy.check_in.interval_minutes.value == 15
    assert policy.clause("check_in.interval_minutes") == "HV 4.2"
    head.goto(url + reverse("audit:trail"))
    trail = main_text(head)
    assert "Policy version 1 adopted" in trail and "with a check-in every 15 minutes" in trail
    assert AuditEntry.objects.filter(school=school, action="policy.adopted",
                                     reason__contains="every 15 minutes").exists()

    # 4. Staff from a CSV file, each invited by email.
    head.goto(url + reverse("people:register"))
    head.get_by_role("link", name="Add staff from a CSV file").click()
    staff_file = tmp_path / "staff.csv"
    staff_file.write_text(STAFF_CSV)
    head.get_by_label("CSV file").set_input_files(str(staff_file))
    head.get_by_role("button", name="Check and add everyone").click()
    head.get_by_text("Added 3 members of staff to the register and emailed each an invitation.").wait_for()
    snap(head, "4-staff-invited")
    deliver_email()
    for address in ("olu@brookside.example", "amir@brookside.example", "tess@brookside.example"):
        assert invitation_link(smtp, address)

    # 5. Pupils and contacts from the SIMS export: one bad UPN refuses the whole file.
    head.goto(url + reverse("setup:checklist"))
    head.get_by_role("link", name="Import pupils and contacts").click()
    roll = tmp_path / "roll.csv"
    roll.write_text(SIMS.read_text().replace("X820200100002", "X820200100009"))
    head.get_by_label("CSV file exported from your MIS").set_input_files(str(roll))
    head.get_by_label("Your MIS, or your saved columns").select_option(label="SIMS student list with contacts")
    head.get_by_role("button", name="Check the file").click()
    refused = head.get_by_role("alert").inner_text()
    assert "line 4, column UPN: X820200100009 is not a valid UPN" in refused
    snap(head, "5-pupils-refused")
    assert not Pupil.objects.filter(school=school).exists()
    roll.write_text(SIMS.read_text())
    head.get_by_label("CSV file exported from your MIS").set_input_files(str(roll))
    head.get_by_role("button", name="Check the file").click()
    head.get_by_role("heading", name="roll.csv is ready to import").wait_for()
    head.get_by_role("button", name="Import", exact=True).click()
    head.get_by_text("Imported roll.csv: 3 new").wait_for()
    snap(head, "5-pupils-imported")
    assert Pupil.objects.filter(school=school, on_roll=True).count() == 3

    # 6. Wonde: the same three pupils and a new one, two pages; then only what changed.
    dob = datetime.date(timezone.localdate().year - 9, 3, 1)
    pupils = [(1, "H820200100001", "Amara", "Okafor", "Brook Street"),
              (2, "X820200100002", "Leo", "Brennan", "Orchard Close"),
              (3, "L820200100003", "Priya", "Shah", "Canal Road"),
              (4, make_upn("820200100004"), "Noah", "Price", "Mill Lane")]
    for n, upn, first, last, street in pupils:
        wonde.add_student("A1930", sims_student(n, upn, first, last, dob, street))
    # "Sync now" hands the sync to the task worker (`doorstep start` runs one); here it runs
    # as the request commits, so the page shows the result at once.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    head.get_by_role("navigation", name="Main").get_by_role("link", name="Pupils", exact=True).click()
    head.get_by_role("link", name="Sync from your MIS (Wonde)").click()
    head.get_by_label("Wonde school id").fill("A1930")
    head.get_by_label("Wonde token").fill(wonde.token)
    head.get_by_role("button", name="Save").click()
    head.get_by_text("Saved the school's Wonde connection").wait_for()
    head.get_by_role("button", name="Sync now").click()
    head.get_by_text("Synced from Wonde").wait_for()
    assert "4 students read: 1 new" in head.locator("#last-counts").inner_text()
    pages = [q.get("page", ["1"])[0] for p, q, _ in wonde.requests if p.endswith("/students")]
    assert pages == ["1", "2"]
    snap(head, "6-wonde-synced")
    leo = sims_student(2, "X820200100002", "Leo", "Brennan", dob, "Station Road", postcode="CF3 4XY")
    wonde.add_student("A1930", leo)
    wonde.delete_student("A1930", "B000000003")  # Priya Shah
    head.get_by_role("button", name="Sync now").click()
    head.get_by_text("Synced from Wonde").wait_for()
    assert "1 changed, 1 marked as left" in head.locator("#last-counts").inner_text()
    assert "changes only" in head.locator("table").inner_text()
    head.goto(url + reverse("pupils:index"))
    assert "3 pupils on roll" in main_text(head)
    head.get_by_label("Find a pupil").fill("Brennan")
    head.get_by_role("button", name="Search").click()
    head.get_by_role("link", name="Brennan, Leo").click()
    assert "2 Station Road" in head.locator("#h-home ~ dl").inner_text()
    head.goto(url + reverse("pupils:index"))
    head.get_by_label("Find a pupil").fill("Shah")
    head.get_by_role("button", name="Search").click()
    assert "Left" in head.get_by_role("row", name=re.compile("Shah, Priya")).inner_text()
    snap(head, "6-pupils-search")
    head.get_by_role("link", name="Shah, Priya").click()
    assert "has left the school" in main_text(head)
    snap(head, "6-pupil-left")

    # 7. What the checklist says is still missing before visits can be proposed.
    head.goto(url + reverse("setup:checklist"))
    blocking = head.locator(".finding--block").all_inner_texts()
    assert len(blocking) == 1 and "watchdog" in blocking[0], blocking
    # The watchdog is a process of its own (`doorstep start` runs `doorstep watchdog`): one pass
    # of that command here writes the heartbeat the checklist looks for.
    call_command("watchdog", "--once", "--name", "afternoon-test")
    head.reload()
    assert "Visits can be proposed." in head.locator("#checklist-summary").inner_text()
    snap(head, "7-checklist-ready")
    issued = (timezone.localdate() - datetime.timedelta(days=200)).isoformat()
    for name in ("Amir Hassan", "Tess Morgan"):
        head.goto(url + reverse("people:register"))
        head.get_by_role("link", name=name).first.click()
        head.get_by_role("link", name="Add a DBS check").click()
        head.get_by_label("Level").select_option(label="Enhanced")
        head.get_by_label("Children's barred list checked").check()
        head.get_by_label("Certificate number").fill("001234567890")
        head.get_by_label("Date issued").fill(issued)
        head.get_by_role("button", name="Save", exact=True).click()
        head.get_by_text("barred list checked").wait_for()

    # The attendance officer, invited from the CSV, accepts, sets PINs and proposes the visit.
    amir = new_page()
    accept_invitation(amir, invitation_link(smtp, "amir@brookside.example"), AMIR_PASSWORD)
    amir.get_by_text("Password set. Welcome to Doorstep.").wait_for()
    amir.goto(url + reverse("checkins:pins"))
    amir.get_by_label("Safe PIN").fill("2468")
    amir.get_by_label("Duress PIN").fill("1357")
    amir.get_by_role("button", name="Save my PINs").click()
    amir.get_by_text("Your PINs are set.").wait_for()
    call_command("watchdog", "--once", "--name", "afternoon-test")  # still running (it beats every second)
    amir.goto(url + reverse("visits:propose"))
    day = next_school_day()
    amara = amir.locator("#id_pupil option", has_text="Okafor, Amara").get_attribute("value")
    amir.get_by_label("Pupil").select_option(amara)
    amir.get_by_label("Purpose").select_option("attendance")
    amir.get_by_label("Why is this visit needed?").fill("Absent for two weeks and no answer to calls.")
    amir.get_by_label("Date").fill(day.isoformat())
    amir.get_by_label("Start time").fill("10:00")
    amir.get_by_label("End time").fill("10:45")
    amir.get_by_label(re.compile("Amir Hassan")).check()
    amir.get_by_label(re.compile("Tess Morgan")).check()
    # The page checks the plan against the policy as it is filled in: let the last check finish
    # (the test's in-memory SQLite locks a table while another request writes to it).
    amir.locator("#plan-findings .verdict").first.wait_for()
    amir.wait_for_load_state("networkidle")
    for name in ("Amir Hassan", "Tess Morgan"):  # both still ticked once the checks have settled
        amir.get_by_label(re.compile(name)).check()
    snap(amir, "7-propose")
    amir.get_by_role("button", name="Propose this visit").click()
    amir.get_by_text("Visit proposed. It now waits for approval").wait_for()
    visit = Visit.objects.get(school=school)
    assert visit.proposed_by == StaffMember.objects.get(email="amir@brookside.example")

    # The headteacher approves it from the approvals page.
    head.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals", exact=True).click()
    card = head.locator(".card", has_text="Amara Okafor")
    snap(head, "7-approvals")
    card.get_by_role("button", name="Approve").click()
    head.get_by_text("Visit approved.").wait_for()
    snap(head, "7-approved")
    visit.refresh_from_db()
    assert visit.state == Visit.State.APPROVED
    assert visit.approved_by == StaffMember.objects.get(email="helen@brookside.example")
