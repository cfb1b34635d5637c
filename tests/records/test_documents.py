"""Every PDF is rendered, its text read back (pdftotext) and checked, and its first page
saved as a PNG in test-artifacts/ to be looked at. Also the chronology CSV and the
calendar feed, which leave Doorstep too."""
import csv
import datetime
import io
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from reports import chronology, documents, services
from reports.models import CalendarFeed, Letter
from visits.models import Visit

from tests.factories import PASSWORD, Staffed, VisitFactory, at, next_school_day
from tests.records_support import ended_visit, marks, png_data_url, report_data

pytestmark = pytest.mark.django_db

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def coteford():
    school = Staffed("coteford", name="Coteford Junior School")
    school.school.address = "Coteford Road, Eastcote, Pinner HA5 2XX"
    school.school.phone = "01632 960634"
    school.school.save()
    return school


def text_of(pdf: bytes, name: str) -> str:
    """The PDF's text; its first page is also written to test-artifacts/<name>.png."""
    assert pdf.startswith(b"%PDF")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(path),
                    str(ARTIFACTS / name)], check=True)
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    path.unlink()
    return " ".join(out.split())


def letterhead_in(text, school):
    assert school.name in text and "Eastcote" in text and "01632 960634" in text


def test_the_visit_report_pdf_has_every_appendix_2_heading_and_the_figures(coteford):
    visit = ended_visit(coteford)
    start = services.school_year_start(timezone.localdate(visit.starts_at))
    marks(coteford.pupil, start, "////IO////")
    report = services.submit_report(coteford.officer, visit, report_data(
        parent_signature=png_data_url(), parent_signatory="Dana Brown", staff_signature=png_data_url()))
    text = text_of(documents.visit_report_pdf(report), "pdf-visit-report")
    letterhead_in(text, coteford.school)
    for heading in ("Pupil Name", "Year/Class", "Date of visit", "Time of visit", "Staff member(s) present",
                    "Reason for visit", "People present at home", "Summary of discussion", "Actions agreed",
                    "Total school sessions missed", "Authorised absences", "Unauthorised absences",
                    "Current attendance percentage", "Follow-up actions", "Report completed by", "Child seen",
                    "Child spoken to"):
        assert heading.lower() in text.lower(), heading
    assert "Ava Brown" in text and "2 of 10 possible" in text and "80.0%" in text
    assert "Talked about mornings" in text and "Parent/carer: Dana Brown" in text


def test_a_corrected_report_pdf_says_so_and_the_correction_names_its_reason(coteford):
    visit = ended_visit(coteford)
    original = services.submit_report(coteford.officer, visit, report_data())
    correction = services.correct_report(coteford.officer, original, report_data(summary="Father present too."),
                                         reason="Left out the father.")
    assert "later corrected" in text_of(documents.visit_report_pdf(original), "pdf-visit-report-original")
    text = text_of(documents.visit_report_pdf(correction), "pdf-visit-report-correction")
    assert "Correction" in text and "Left out the father." in text and "Father present too." in text


def test_the_missed_you_card_has_the_time_and_the_schools_number_but_no_name_or_address(coteford):
    visit = ended_visit(coteford, state=Visit.State.NOT_SEEN)
    text = text_of(documents.not_seen_card_pdf(visit), "pdf-not-seen-card")
    assert "Sorry we missed you" in text and "01632 960634" in text and "10:00" in text
    assert f"V{visit.pk:05d}" in text
    for private in ("Ava", "Brown", coteford.pupil.address_line1, coteford.pupil.postcode, "Dana"):
        assert private not in text, private


def test_the_reminder_letter_is_addressed_to_the_parent_and_marked_draft_until_sent(coteford):
    visit = ended_visit(coteford, day=timezone.localdate() - datetime.timedelta(days=21))
    start = timezone.localdate(visit.starts_at) + datetime.timedelta(days=1)
    a = services.record_agreement(coteford.officer, visit, text="Ava attends every day next week.",
                                  review_on=start + datetime.timedelta(days=7), check_kind="no_unauthorised",
                                  window_from=start, window_to=start + datetime.timedelta(days=7))
    marks(coteford.pupil, start, "OO////////")
    services.review_due_agreements()
    letter = Letter.objects.get(agreement=a)
    text = text_of(documents.letter_pdf(letter), "pdf-reminder-letter")
    letterhead_in(text, coteford.school)
    assert coteford.contact.name in text and "no absence from school without a good reason" in text
    assert "Ava attends every day next week." not in text  # the staff's note is not quoted to the parent
    assert "Hana Head" in text and "Draft" in text
    sent = services.send_letter(coteford.head, letter)
    assert "Draft" not in text_of(bytes(sent.sent_pdf), "pdf-reminder-letter-sent")


def test_the_written_reason_for_the_headteacher_reads_the_abandonment_record(coteford):
    visit = ended_visit(coteford, state=Visit.State.ABANDONED, closed_reason="A large dog loose in the front garden.")
    text = text_of(documents.closure_reason_pdf(visit), "pdf-written-reason")
    letterhead_in(text, coteford.school)
    assert "A large dog loose in the front garden." in text and "Ava Brown" in text
    assert "C 3.8" in text  # felt unsafe is the default reason when no event says otherwise


def test_the_written_reason_uses_the_checkins_abandonment_event_when_there_is_one(coteford):
    from safety.checkins.models import VisitEvent

    visit = ended_visit(coteford, state=Visit.State.ABANDONED)
    VisitEvent.objects.create(visit=visit, school=visit.school, type="abandoned", at=visit.starts_at,
                              recorded_at=visit.starts_at, recorded_by=coteford.officer, reason="animals",
                              note="Two dogs; the family would not shut them away.", concerns="Child looked unwell.")
    text = text_of(documents.closure_reason_pdf(visit), "pdf-written-reason-animals")
    assert "Animals not shut away" in text and "Two dogs; the family would not shut them away." in text
    assert "Child looked unwell." in text and "C 3.9" in text and "Ali Attendance" in text


def test_the_chronology_pdf_lists_everything_and_leaves_concerns_out_for_the_office(coteford):
    visit = ended_visit(coteford)
    services.submit_report(coteford.officer, visit, report_data(safeguarding_concern="Bruising on the arm."))
    services.record_filing(coteford.office, visit, system="CPOMS", reference="CP-2291")
    dsl_text = text_of(documents.chronology_pdf(coteford.pupil, coteford.dsl), "pdf-chronology-dsl")
    assert "Bruising on the arm." in dsl_text and "CP-2291" in dsl_text and "includes safeguarding" in dsl_text.lower()
    office_text = text_of(documents.chronology_pdf(coteford.pupil, coteford.office), "pdf-chronology-office")
    assert "Bruising" not in office_text and "Report of the visit" in office_text and "not included" in office_text


def test_the_chronology_csv_neutralises_cells_a_spreadsheet_would_run(coteford, client):
    visit = ended_visit(coteford)
    services.submit_report(coteford.officer, visit, report_data(summary="=HYPERLINK(\"http://evil\")"))
    services.record_filing(coteford.office, visit, system="+CPOMS", reference="@ref")
    client.login(username=coteford.office.user.username, password=PASSWORD)
    response = client.get(reverse("reports:chronology_csv", args=[coteford.pupil.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["date", "time", "kind", "entry", "detail", "clause", "link"]
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
    assert chronology.neutralise("-1") == "'-1" and chronology.neutralise("ok") == "ok"


def test_the_documents_are_served_to_staff_of_the_school_only(coteford, client):
    visit = ended_visit(coteford, state=Visit.State.NOT_SEEN)
    services.submit_report(coteford.officer, visit, report_data(child_seen="no", child_spoken_to="no", people_present=""))
    client.login(username=coteford.officer.user.username, password=PASSWORD)
    for name in ("report_pdf", "not_seen_card", "closure_reason"):
        response = client.get(reverse(f"reports:{name}", args=[visit.pk]))
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf", name
    other = Staffed("coteford", name="Another School")
    client.login(username=other.head.user.username, password=PASSWORD)
    assert client.get(reverse("reports:report_pdf", args=[visit.pk])).status_code == 404
    # The card goes to those the permission matrix lists for the visit's papers, as the others do.
    client.force_login(coteford.sbm.user)
    assert client.get(reverse("reports:not_seen_card", args=[visit.pk])).status_code == 403


# ------------------------------------------------------------------------- calendar feed

def scheduled(school, staff, **kwargs):
    day = next_school_day()
    return VisitFactory(school=school.school, pupil=kwargs.pop("pupil", school.pupil), state=Visit.State.SCHEDULED,
                        starts_at=at(day, 14), ends_at=at(day, 14, 45), staff=staff, proposed_by=staff[0], **kwargs)


def test_the_calendar_feed_holds_only_my_visits_and_no_names_or_addresses(coteford, client):
    mine = scheduled(coteford, [coteford.officer, coteford.teacher])
    safeguarding = scheduled(coteford, [coteford.officer, coteford.dsl], purpose="safeguarding")
    not_mine = scheduled(coteford, [coteford.family, coteford.teacher])
    token = services.create_calendar_feed(coteford.officer)
    assert not CalendarFeed.objects.filter(token_hash=token).exists()  # only the hash is stored
    response = client.get(reverse("reports:calendar_feed", args=[token]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    body = response.content.decode()
    events = {str(e["uid"]): e for e in Calendar.from_ical(response.content).walk("VEVENT")}
    assert set(events) == {f"visit-{mine.pk}@doorstep", f"visit-{safeguarding.pk}@doorstep"}
    assert f"visit-{not_mine.pk}" not in body
    assert str(events[f"visit-{mine.pk}@doorstep"]["summary"]) == "Home visit (attendance)"
    assert str(events[f"visit-{safeguarding.pk}@doorstep"]["summary"]) == "Home visit"
    for private in ("Ava", "Brown", coteford.pupil.address_line1, coteford.pupil.postcode, "afeguarding"):
        assert private not in body, private


def test_a_calendar_address_stops_working_when_revoked_or_replaced(coteford, client):
    first = services.create_calendar_feed(coteford.officer)
    second = services.create_calendar_feed(coteford.officer)
    assert client.get(reverse("reports:calendar_feed", args=[first])).status_code == 404
    assert client.get(reverse("reports:calendar_feed", args=[second])).status_code == 200
    services.revoke_calendar_feeds(coteford.officer)
    assert client.get(reverse("reports:calendar_feed", args=[second])).status_code == 404
    assert client.get(reverse("reports:calendar_feed", args=["made-up"])).status_code == 404


def test_the_calendar_page_shows_the_new_address_once(coteford, client):
    client.login(username=coteford.officer.user.username, password=PASSWORD)
    page = client.post(reverse("reports:calendar"), {"action": "create"}).content.decode()
    assert "/reports/calendar/" in page and ".ics" in page
    again = client.get(reverse("reports:calendar")).content.decode()
    assert ".ics" not in again and "is on" in again
