"""Hostile and broken input (docs/security.md, "Hostile and broken input"): the classic attacks on each interface, and bad input
answered with a clear message that changes nothing.

  cross-site request forgery   a form page and the API (session sign-in) refuse a POST without the token
  stored script injection      every free-text field shown on a page or in a PDF is shown as text
  SQL-shaped input             searched and stored literally; never a server error
  uploads                      folders in the name, a picture renamed .csv, an oversized or empty file
  CSV exports                  every one goes through core.csvsafe
  API tokens                   expired, revoked, another school's, or without the scope
"""
import datetime
import re
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken
from attendance.models import ImportRun
from safety.checkins.models import VisitEvent
from core import csvsafe, uploads
from pupils.models import HouseholdNote, Pupil
from reports import documents
from reports import services as report_services
from reports.models import Concern
from visits.models import Visit

from tests.factories import PupilFactory, Staffed, VisitFactory
from tests.records_support import ended_visit, png_data_url, report_data

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"{SCRIPT} and {ATTRIBUTE}"
# How Django's autoescaping writes the payload: text, not markup.
ESCAPED = ["&lt;script&gt;alert(1)&lt;/script&gt;", "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"]
SQL = "Robert'); DROP TABLE pupils_pupil;--"


@pytest.fixture
def school():
    return Staffed("coteford", name="Coteford Junior School")


def signed_in(staff, **kwargs):
    client = Client(**kwargs)
    client.force_login(staff.user)
    return client


def assert_shown_as_text(html: str, where: str):
    for escaped in ESCAPED:
        assert escaped in html, f"{where}: the text is not shown escaped"
    assert "<script>alert(1)" not in html, f"{where}: a raw <script> tag"
    assert "<img src=x" not in html, f"{where}: a raw <img> tag"


# ------------------------------------------------------------------ cross-site request forgery

def test_a_form_posted_without_the_csrf_token_is_refused_and_changes_nothing(school):
    client = signed_in(school.head, enforce_csrf_checks=True)
    response = client.post(reverse("risk:note_new", args=[school.pupil.pk]),
                           {"kind": "other", "text": "Posted from another site"})
    assert response.status_code == 403
    assert not HouseholdNote.objects.filter(text="Posted from another site").exists()
    response = client.post(reverse("retention:index"), {"pupil": school.pupil.pk})
    assert response.status_code == 403 and response["Content-Type"].startswith("text/html")


def test_the_api_refuses_a_session_post_without_the_csrf_token(school):
    visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, school.teacher])
    client = signed_in(school.head, enforce_csrf_checks=True)
    response = client.post(f"/api/visits/{visit.pk}/decline", {"reason": "Not needed"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    visit.refresh_from_db()
    assert visit.state == Visit.State.PROPOSED
    # With the token (as the pages' JavaScript sends it) the same request goes through.
    client.get(reverse("home"))
    token = client.cookies["csrftoken"].value
    response = client.post(f"/api/visits/{visit.pk}/decline", {"reason": "Not needed"}, content_type="application/json",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    visit.refresh_from_db()
    assert visit.state == Visit.State.DECLINED


# ------------------------------------------------------------------ stored script injection

@pytest.fixture
def poisoned(school):
    """The payload in every free-text field a page or PDF shows."""
    pupil = school.pupil
    Pupil.objects.filter(pk=pupil.pk).update(access_notes=PAYLOAD, medical=True, medical_notes=PAYLOAD)
    HouseholdNote.objects.create(pupil=pupil, kind="other", text=PAYLOAD, recorded_at=timezone.now())
    visit = ended_visit(school, reason=PAYLOAD)
    report = report_services.submit_report(school.officer, visit, report_data(
        summary=PAYLOAD, actions_agreed=PAYLOAD, people_present=PAYLOAD, parent_signature=png_data_url(),
        parent_signatory="Dana Brown", staff_signature=png_data_url()))
    concern = report_services.raise_concern(school.officer, visit, kind=Concern.Kind.SAFEGUARDING, details=PAYLOAD,
                                            report=report)
    abandoned = ended_visit(school, state=Visit.State.ABANDONED, hour=14)
    VisitEvent.objects.create(visit=abandoned, school=school.school, type=VisitEvent.Type.ABANDONED,
                              at=abandoned.starts_at, recorded_at=abandoned.starts_at, recorded_by=school.officer,
                              reason=VisitEvent.AbandonReason.OTHER, note=PAYLOAD, concerns=PAYLOAD)
    return {"pupil": pupil, "visit": visit, "report": report, "concern": concern, "abandoned": abandoned}


@pytest.mark.parametrize("page", [
    "pupil page (access, medical and household notes)",
    "visit page (reason)",
    "report page (summary, actions, people present)",
    "concern page (details)",
    "alerts review page (check-in note of an abandoned visit)",
    "chronology page",
])
def test_script_typed_into_a_free_text_field_is_shown_as_text_on_every_page(school, poisoned, page):
    urls = {
        "pupil page": reverse("pupils:detail", args=[poisoned["pupil"].pk]),
        "visit page": reverse("visits:detail", args=[poisoned["visit"].pk]),
        "report page": reverse("reports:report", args=[poisoned["visit"].pk]),
        "concern page": reverse("reports:concern", args=[poisoned["concern"].pk]),
        "alerts review page": reverse("alerts:review"),
        "chronology page": reverse("reports:chronology", args=[poisoned["pupil"].pk]),
    }
    url = urls[page.split(" (")[0]]
    response = signed_in(school.head).get(url)
    assert response.status_code == 200, url
    assert_shown_as_text(response.content.decode(), page)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_script_in_a_report_or_written_reason_is_printed_literally_in_the_pdf_and_nothing_runs(school, poisoned, tmp_path):
    for pdf in (documents.visit_report_pdf(poisoned["report"]), documents.closure_reason_pdf(poisoned["abandoned"])):
        assert pdf.startswith(b"%PDF")
        # A PDF can carry JavaScript (/JS, /JavaScript) or open links by itself (/OpenAction):
        # WeasyPrint writes none of them, whatever the text says.
        for marker in (b"/JavaScript", b"/JS ", b"/OpenAction", b"/Launch"):
            assert marker not in pdf
        text = " ".join(pdf_text(pdf, tmp_path).split())
        assert "<script>alert(1)</script>" in text and "onerror=alert(1)>" in text


# ------------------------------------------------------------------ SQL-shaped input

def test_sql_shaped_text_is_searched_and_stored_literally(school):
    PupilFactory(school=school.school, first_name="Robert'); DROP TABLE pupils_pupil;--", last_name="Tables")
    client = signed_in(school.head)
    for q in (SQL, "' OR '1'='1", "%", "_", "\\", "é' --"):
        response = client.get(reverse("pupils:index"), {"q": q})
        assert response.status_code == 200, q
    response = client.get(reverse("pupils:index"), {"q": "DROP TABLE"})
    assert "Tables" in response.content.decode()
    # The classic always-true condition matches nobody: it is searched for as words.
    assert "0 pupils match" in client.get(reverse("pupils:index"), {"q": "' OR '1'='1"}).content.decode()
    response = client.post(reverse("risk:note_new", args=[school.pupil.pk]), {"kind": "other", "text": SQL})
    assert response.status_code == 302
    assert HouseholdNote.objects.get(pupil=school.pupil, kind="other").text == SQL
    assert Pupil.objects.count() == 2  # the table is still there
    audit = client.get(reverse("audit:trail"), {"q": SQL})
    assert audit.status_code == 200


def test_a_nul_character_anywhere_is_refused_with_a_clear_message_on_every_database(school):
    client = signed_in(school.head)
    response = client.get(reverse("pupils:index"), {"q": "Ava\x00"})
    assert response.status_code == 400 and "NUL character" in response.content.decode()
    response = client.post(reverse("risk:note_new", args=[school.pupil.pk]), {"kind": "other", "text": "a\x00b"})
    assert response.status_code == 400 and not HouseholdNote.objects.filter(kind="other").exists()
    response = client.get("/api/visits", {"state": "\x00"})
    assert response.status_code == 400 and "NUL character" in response.json()["detail"]
    response = client.post("/api/policy/evaluate", '{"policy": "potton", "plan": {"reason": "x\\u0000"}}',
                           content_type="application/json")
    assert response.status_code == 400 and "NUL character" in response.json()["detail"]


def test_sql_shaped_and_absurd_values_in_the_api_get_a_400_or_404_never_a_500(school):
    client = signed_in(school.head)
    for url in (f"/api/pupils/{SQL}", "/api/visits?pupil_id=1%20OR%201=1", "/api/visits/99999999999999999999999",
                "/api/visits?state=' OR 1=1 --", "/api/pupils/-1"):
        response = client.get(url)
        assert response.status_code in (400, 404), (url, response.status_code)
        assert response["Content-Type"].startswith("application/json"), url
        assert "detail" in response.json()


# ------------------------------------------------------------------ uploads

def upload_page(staff, upload):
    return signed_in(staff).post(reverse("attendance:import"), {"file": upload, "mapping": "sims"})


def test_an_upload_whose_name_climbs_out_of_its_folder_is_refused(school):
    class Named:
        name = "../../etc/passwd.csv"
        size = 10
        content_type = "text/csv"

    with pytest.raises(ValidationError, match="has folders in it"):
        uploads.check(Named())
    assert uploads.safe_name("../../etc/passwd") == "passwd"
    assert uploads.safe_name("..\\..\\windows\\win.ini") == "win.ini"
    assert uploads.safe_name("../.htaccess") == "htaccess"
    # Through the page, Django keeps only the last part of the name; it is still not a .csv file.
    response = upload_page(school.office, SimpleUploadedFile("../../etc/passwd", b"root:x:0:0", "text/csv"))
    assert "passwd is not a .csv file" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_a_picture_renamed_csv_an_empty_file_and_an_oversized_one_are_refused_with_a_clear_message(school, monkeypatch):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = upload_page(school.office, SimpleUploadedFile("marks.csv", png, "text/csv"))
    assert "marks.csv is a PNG image, not a CSV file" in response.content.decode()
    response = upload_page(school.office, SimpleUploadedFile("zip.csv", b"PK\x03\x04rest", "text/csv"))
    assert "a ZIP file" in response.content.decode()
    response = upload_page(school.office, SimpleUploadedFile("blank.csv", b"", "text/csv"))
    assert "The submitted file is empty" in response.content.decode()
    response = upload_page(school.office, SimpleUploadedFile("img.csv", b"UPN,Date\n", "image/png"))
    assert "img.csv was sent as image/png" in response.content.decode()
    monkeypatch.setattr("attendance.views.MAX_UPLOAD_BYTES", 10)
    response = upload_page(school.office, SimpleUploadedFile("big.csv", b"UPN,AttendanceDate\n" * 3, "text/csv"))
    assert "big.csv is 0.0 MB; the page takes up to 25 MB" in response.content.decode()
    assert not ImportRun.objects.exists()


# ------------------------------------------------------------------ CSV exports

def test_every_csv_export_goes_through_the_neutralising_writer():
    root = Path(__file__).resolve().parents[2]
    offenders = []
    skip = {".venv", "tests", "bench", "node_modules", ".git", "var", "staticfiles", "test-artifacts"}
    sources = [p for top in root.iterdir() if top.is_dir() and top.name not in skip for p in top.rglob("*.py")]
    assert len(sources) > 50
    for path in sources:
        if path.name == "csvsafe.py":
            continue
        if re.search(r"\bcsv\.(writer|DictWriter)\(", path.read_text(errors="ignore")):
            offenders.append(str(path.relative_to(root)))
    assert not offenders, f"CSV written without core.csvsafe: {offenders}"
    assert [csvsafe.neutralise(v) for v in ("=1+1", "+44", "-3", "@SUM(A1)", "\tx", "\rx", "ok", None, 7)] == \
        ["'=1+1", "'+44", "'-3", "'@SUM(A1)", "'\tx", "'\rx", "ok", "", "7"]


# ------------------------------------------------------------------ API tokens

def bearer(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_an_expired_revoked_or_other_schools_token_reads_nothing(school):
    other = Staffed("potton", name="Potton Primary School")
    now = timezone.now()
    _, live = ApiToken.make(staff=school.head, name="ok", scopes=["read"], expires_at=now + datetime.timedelta(days=1),
                            created_by=school.head.user)
    _, expired = ApiToken.make(staff=school.head, name="old", scopes=["read"],
                               expires_at=now - datetime.timedelta(seconds=1), created_by=school.head.user)
    revoked_row, revoked = ApiToken.make(staff=school.head, name="gone", scopes=["read"],
                                         expires_at=now + datetime.timedelta(days=1), created_by=school.head.user)
    ApiToken.objects.filter(pk=revoked_row.pk).update(revoked_at=now)
    _, theirs = ApiToken.make(staff=other.head, name="theirs", scopes=["read", "visits:write"],
                              expires_at=now + datetime.timedelta(days=1), created_by=other.head.user)
    url = f"/api/pupils/{school.pupil.pk}"
    client = Client()
    assert client.get(url, **bearer(live)).status_code == 200
    for raw in (expired, revoked, live + "x", "dst_nope_nope", "not-a-token"):
        response = client.get(url, **bearer(raw))
        assert response.status_code == 401, raw
        assert "Sign in" in response.json()["detail"] or response.json()["detail"]
    response = client.get(url, **bearer(theirs))
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    listed = client.get("/api/pupils", **bearer(theirs)).json()
    assert listed and school.pupil.pk not in {p["id"] for p in listed}
    # A read-only token cannot change anything.
    visit = VisitFactory(school=school.school, pupil=school.pupil)
    response = client.post(f"/api/visits/{visit.pk}/decline", {"reason": "x"}, content_type="application/json",
                           **bearer(live))
    assert response.status_code == 403
    visit.refresh_from_db()
    assert visit.state == Visit.State.PROPOSED
