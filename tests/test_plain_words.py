"""Pages a headteacher reads speak a headteacher's language: no action codes, browser strings,
strftime codes, command lines or file references; sentences say who did what. And the set-up
around them: the trust administrator lands on their work, `make run PORT=…` links to that port."""
import io
import subprocess
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import reverse

from attendance.importer import BUILTIN_MAPPINGS, ImportFailed, parse
from audit.services import record
from core.devices import describe
from safety.alerts.models import Alert
from safety.checkins.models import VisitEvent
from schools.models import Trust

from tests.factories import UserFactory
from tests.records_support import ended_visit

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Mobile Safari/537.36")


@pytest.mark.parametrize("user_agent, words", [
    (ANDROID_CHROME, "Chrome on Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36 Edg/120.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox on a Mac"),
    ("python-requests/2.31.0", "another program"),
    ("", ""),
])
def test_a_browser_is_named_as_people_name_it(user_agent, words):
    assert describe(user_agent) == words


def test_the_audit_trail_says_what_was_done_and_from_what_device_in_words(client, coteford):
    record(actor=coteford.head, school=coteford.school, action="visit.approved", obj=coteford.pupil,
           summary="Approved a visit for Ava Brown")
    client.force_login(coteford.head.user)
    # A look at the pupil's details from a phone: written on the trail with the phone's browser.
    client.get(reverse("pupils:detail", args=[coteford.pupil.pk]), HTTP_USER_AGENT=ANDROID_CHROME)
    html = client.get(reverse("audit:trail")).content.decode()
    table = html.split("</form>")[-1]  # the entries, below the search form and its menu of actions
    assert "Approved the visit" in table
    assert "Chrome on Android" in table
    assert "visit.approved" not in table and "pupil.viewed" not in table
    assert "Mozilla/5.0" not in table and "<code>" not in table


def test_the_audit_search_offers_actions_as_sentences(client, coteford):
    client.force_login(coteford.head.user)
    html = client.get(reverse("audit:trail")).content.decode()
    assert '<option value="visit.approved">Approved the visit</option>' in html
    assert "The start of an action" not in html


def test_the_data_protection_page_has_no_command_lines_or_file_references(client, coteford):
    client.force_login(coteford.head.user)
    html = client.get(reverse("retention:index")).content.decode()
    assert "How long records are kept" in html
    for developer_words in ("doorstep retention", "--apply", "school-domain.md", "§", "<code>", "allow_purge"):
        assert developer_words not in html, developer_words


def test_the_chronology_says_who_left_the_home_on_a_pair_visit(client, coteford):
    visit = ended_visit(coteford, staff=[coteford.officer, coteford.teacher])
    for person in (coteford.officer, coteford.teacher):
        VisitEvent.objects.create(visit=visit, school=coteford.school, type=VisitEvent.Type.LEFT_HOME,
                                  at=visit.ends_at, recorded_at=visit.ends_at, staff=person, recorded_by=person)
    client.force_login(coteford.head.user)
    html = client.get(reverse("reports:chronology", args=[coteford.pupil.pk])).content.decode()
    assert "Left the home (Ali Attendance)" in html
    assert "Left the home (Tess Teacher)" in html


def test_an_alert_is_named_in_plain_words_inside_a_sentence():
    assert Alert(kind=Alert.Kind.DURESS).in_a_sentence == "silent alarm (a duress PIN was entered on a phone)"
    assert all("pin alert" not in Alert(kind=kind).in_a_sentence.lower() for kind in Alert.Kind)


def test_an_attendance_date_the_importer_cannot_read_is_explained_with_an_example(coteford):
    upn = coteford.pupil.upn
    csv = f"UPN,AttendanceDate,SessionName,AttendanceMark\n{upn},2026-31-31,AM,/\n".encode()
    with pytest.raises(ImportFailed) as failed:
        parse(coteford.school, io.BytesIO(csv), BUILTIN_MAPPINGS["sims"])
    words = " ".join(str(e) for e in failed.value.errors)
    assert "dates in this file should be written like 07/12/2026" in words
    assert "%d" not in words


def test_the_attendance_import_page_shows_date_formats_as_dates(client, coteford):
    client.force_login(coteford.head.user)
    html = client.get(reverse("attendance:import")).content.decode()
    assert "07/12/2026" in html
    assert "%d/%m/%Y" not in html.replace('value="%d/%m/%Y"', "")
    assert "doorstep import_attendance" not in html  # a command line means nothing to a headteacher
    assert "doorstep import_pupils" not in client.get(reverse("pupils:import")).content.decode()


def test_the_trust_administrator_lands_on_the_trust_s_schools(client):
    admin_user = UserFactory(username="trustadmin")
    trust = Trust.objects.create(name="Riverside Learning Trust")
    trust.admins.add(admin_user)
    client.force_login(admin_user)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response.url == reverse("setup:start")


def test_the_admin_names_every_kind_of_record_in_good_english():
    wrong = [str(model._meta.verbose_name_plural) for model in admin.site._registry
             if str(model._meta.verbose_name_plural).endswith(("ys", "chs", "shs", "xs", "ss", "sss"))
             and not str(model._meta.verbose_name_plural).endswith(("days", "keys", "ways"))]
    assert wrong == []


def test_make_run_on_another_port_puts_that_port_in_links_in_texts_and_emails():
    dry_run = subprocess.run(["make", "-n", "run", "PORT=8201"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    start = next(line for line in dry_run.splitlines() if "start --bind" in line)
    assert "DOORSTEP_BASE_URL=http://127.0.0.1:8201" in start
    assert "--bind 127.0.0.1:8201" in start
    assert "`PORT`" in (ROOT / "README.md").read_text() or "PORT=8201" in (ROOT / "README.md").read_text()


def test_the_accessibility_statement_is_published_and_linked_from_every_page_s_footer(client, coteford):
    sign_in_page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("accessibility")}"' in sign_in_page.split('<footer')[1]
    statement = client.get(reverse("accessibility"))  # nobody signed in: anyone may read it
    html = statement.content.decode()
    assert statement.status_code == 200
    for heading in ("Accessibility statement for Doorstep", "How accessible this service is",
                    "Feedback and contact information", "Reporting accessibility problems with this service",
                    "Enforcement procedure", "Technical information about this service", "Compliance status",
                    "Non-accessible content", "Preparation of this accessibility statement"):
        assert heading in html, heading
    assert "Web Content Accessibility Guidelines version 2.2" in html and "axe-core 4.14.1" in html
    client.force_login(coteford.head.user)
    assert "Coteford Junior School" in client.get(reverse("accessibility")).content.decode()
