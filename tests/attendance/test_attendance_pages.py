"""The attendance pages: import with upload, the referral queue and case, the referral pack PDF
(rendered, text checked, page 1 saved as PNG in test-artifacts/), and the pupil page chart."""
import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from attendance.models import AttendanceMark, ImportRun, ReferralCase
from attendance.services import scan_school
from audit.models import AuditEntry

from tests.factories import PupilFactory, SchoolFactory, StaffFactory, VisitFactory, at

pytestmark = pytest.mark.django_db
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TODAY = datetime.date(2026, 11, 20)


def client_for(staff):
    c = Client()
    c.force_login(staff.user)
    return c


@pytest.fixture
def school():
    return SchoolFactory(name="Coteford Junior School", address="Coteford Road\nCoteford UB10 1AA", phone="01895 000111")


@pytest.fixture
def pupil(school):
    return PupilFactory(school=school, first_name="Ava", last_name="Brown")


def term_of_marks(pupil, end=TODAY, weeks=12):
    """Twelve weeks: attendance falls from full to patchy; some G and N at the end, one X day."""
    marks = []
    day = end - datetime.timedelta(weeks=weeks)
    n = 0
    while day <= end:
        if day.weekday() < 5:
            week = (end - day).days // 7
            for s in ("AM", "PM"):
                n += 1
                code = "/" if s == "AM" else "\\"
                if week < 6 and n % 3 == 0:
                    code = "N" if n % 2 else "G"
                elif week < 8 and n % 5 == 0:
                    code = "I"
                if day.weekday() == 4 and week == 9:
                    code = "X"
                marks.append(AttendanceMark(pupil=pupil, date=day, session=s, code=code))
        day += datetime.timedelta(days=1)
    AttendanceMark.objects.bulk_create(marks)


def test_the_office_imports_a_file_and_a_bad_file_lists_its_lines_and_changes_nothing(school, pupil):
    office = StaffFactory(school=school, roles=["office"])
    c = client_for(office)
    good = f"UPN,AttendanceDate,SessionName,AttendanceMark\n{pupil.upn},06/01/2025,AM,/\n".encode()
    r = c.post(reverse("attendance:import"), {"file": SimpleUploadedFile("wk1.csv", good, "text/csv"), "mapping": "sims"})
    assert r.status_code == 302 and ImportRun.objects.get().created == 1
    bad = f"UPN,AttendanceDate,SessionName,AttendanceMark\n{pupil.upn},06/01/2025,PM,QQ\nNOPE,07/01/2025,AM,/\n".encode()
    r = c.post(reverse("attendance:import"), {"file": SimpleUploadedFile("wk2.csv", bad, "text/csv"), "mapping": "sims"})
    body = r.content.decode()
    assert "Nothing was imported: 2 lines to fix" in body
    assert "line 2, column AttendanceMark" in body and "line 3, column UPN" in body
    assert AttendanceMark.objects.count() == 1 and ImportRun.objects.count() == 1


def test_the_import_page_refuses_a_file_that_is_not_csv_and_a_teacher_cannot_import(school):
    office = StaffFactory(school=school, roles=["office"])
    r = client_for(office).post(reverse("attendance:import"),
                                {"file": SimpleUploadedFile("marks.xlsx", b"PK\x03\x04", "application/zip"), "mapping": "sims"})
    assert "Choose a .csv file" in r.content.decode()
    teacher = StaffFactory(school=school, roles=["teacher"])
    assert client_for(teacher).get(reverse("attendance:import")).status_code == 403


@pytest.mark.clock("2026-11-20 12:00")
def test_the_headteacher_sees_the_case_and_records_a_referral_that_sends_nothing(school, pupil):
    head = StaffFactory(school=school, roles=["headteacher"], full_name="Hana Head")
    term_of_marks(pupil)
    scan_school(school, TODAY)
    c = client_for(head)
    queue = c.get(reverse("attendance:queue")).content.decode()
    assert "Ava Brown" in queue and "C 4.4" in queue
    case = ReferralCase.objects.get()
    page = c.get(reverse("attendance:case", args=[case.pk])).content.decode()
    assert "<svg" in page and "Referral threshold 90%" in page
    r = c.post(reverse("attendance:decide", args=[case.pk]),
               {"referred": "yes", "referred_on": "2026-11-20", "note": "Phoned and emailed the LA attendance team"})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.state == "referred" and case.decided_by == head


def test_a_teacher_cannot_see_the_referral_queue_and_an_officer_cannot_decide(school, pupil):
    term_of_marks(pupil)
    scan_school(school, TODAY)
    case = ReferralCase.objects.get()
    assert client_for(StaffFactory(school=school, roles=["teacher"])).get(reverse("attendance:queue")).status_code == 403
    officer = client_for(StaffFactory(school=school, roles=["attendance_officer"]))
    assert officer.get(reverse("attendance:queue")).status_code == 200
    r = officer.post(reverse("attendance:decide", args=[case.pk]), {"referred": "no", "note": "x"})
    assert r.status_code in (400, 403)
    case.refresh_from_db()
    assert case.state == "open"
    other = StaffFactory(school=SchoolFactory(), roles=["headteacher"])
    assert client_for(other).get(reverse("attendance:case", args=[case.pk])).status_code == 404


def test_the_pupil_page_shows_the_weekly_chart_with_the_threshold_and_the_visit(school, pupil):
    head = StaffFactory(school=school, roles=["headteacher"])
    today = timezone.localdate()
    term_of_marks(pupil, end=today)
    VisitFactory(school=school, pupil=pupil, starts_at=at(today - datetime.timedelta(days=9), 10),
                 ends_at=at(today - datetime.timedelta(days=9), 11))
    body = client_for(head).get(reverse("pupils:detail", args=[pupil.pk])).content.decode()
    assert "Attendance by week" in body and "Referral threshold 90%" in body
    assert "<polyline" in body and "Visit (proposed)" in body
    assert "Penalty-notice indicator" in body  # 10+ G/N in the last ten school weeks


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils is not installed")
def test_the_referral_pack_pdf_carries_the_school_the_pupil_and_the_figures(school, pupil):
    head = StaffFactory(school=school, roles=["headteacher"])
    term_of_marks(pupil)
    VisitFactory(school=school, pupil=pupil, starts_at=at(TODAY - datetime.timedelta(days=9), 10),
                 ends_at=at(TODAY - datetime.timedelta(days=9), 11))
    scan_school(school, TODAY)
    case = ReferralCase.objects.get()
    r = client_for(head).get(reverse("attendance:pack", args=[case.pk]))
    assert r["Content-Type"] == "application/pdf" and r.content.startswith(b"%PDF")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "referral-pack.pdf"
    pdf.write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Coteford Junior School" in text and "01895 000111" in text and "Coteford Road" in text
    assert "Ava Brown" in text and pupil.upn in text
    assert f"{case.percent}%" in text and "C 4.4" in text
    for figure in (case.possible, case.attended, case.authorised, case.unauthorised):
        assert str(figure) in text
    assert "Penalty-notice indicator" in text and "Attendance" in text
    assert "Home visits" in text and "Proposed" in text
    assert AuditEntry.objects.filter(action="referral.pack_rendered").exists()
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(ARTIFACTS / "referral-pack")], check=True)


def test_the_import_page_refuses_a_file_over_its_size_limit(school, monkeypatch):
    monkeypatch.setattr("attendance.views.MAX_UPLOAD_BYTES", 10)
    office = StaffFactory(school=school, roles=["office"])
    r = client_for(office).post(reverse("attendance:import"),
                                {"file": SimpleUploadedFile("big.csv", b"UPN,AttendanceDate\n" * 3, "text/csv"), "mapping": "sims"})
    assert "the page takes up to 25 MB" in r.content.decode() and not ImportRun.objects.exists()


@pytest.mark.clock("2026-11-20 12:00")
def test_the_queue_puts_the_lowest_attendance_first_among_cases_opened_the_same_day(school, pupil):
    head = StaffFactory(school=school, roles=["headteacher"])
    worse = PupilFactory(school=school, first_name="Zed", last_name="Absent")
    term_of_marks(pupil)
    term_of_marks(worse)
    AttendanceMark.objects.filter(pupil=worse).exclude(code="X").update(code="O")  # 0 %: the worst, not "unknown"
    scan_school(school, TODAY)
    queue = client_for(head).get(reverse("attendance:queue")).content.decode()
    assert ReferralCase.objects.count() == 2
    assert queue.index("Zed Absent") < queue.index("Ava Brown")
