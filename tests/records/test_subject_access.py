"""Subject access (docs/security.md, "Subject access"): everything held about one pupil or one member of staff, as a
ZIP of JSON and CSV, only for the headteacher and the DSL, only for their own school, and
every export written in the audit trail."""
import csv
import datetime
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEntry
from audit.services import record
from notify.models import Message
from pupils.models import HouseholdNote

from tests.factories import PupilFactory, Staffed, StaffFactory, VisitFactory
from tests.records.test_retention import a_whole_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def school():
    return Staffed("coteford", name="Coteford Junior School")


def signed_in(client, staff):
    client.force_login(staff.user)
    return client


def unzip(data):
    zf = zipfile.ZipFile(io.BytesIO(data))
    records = json.loads(zf.read("records.json"))
    tables = {name[4:-4]: list(csv.DictReader(io.StringIO(zf.read(name).decode())))
              for name in zf.namelist() if name.startswith("csv/")}
    return records, tables, zf.read("README.txt").decode()


def test_the_headteacher_downloads_everything_held_about_a_pupil_and_the_export_is_audited(school, client):
    pupil, visit = a_whole_record(school, datetime.date(2016, 5, 1))
    HouseholdNote.objects.create(pupil=pupil, kind="other", text="=HYPERLINK(\"http://x\",\"click\")",
                                 recorded_at=visit.starts_at)
    someone_else = PupilFactory(school=school.school, first_name="Other")
    VisitFactory(school=school.school, pupil=someone_else)

    response = signed_in(client, school.head).post(reverse("retention:index"), {"pupil": pupil.pk})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f"subject-access-pupil-{pupil.pk}.zip" in response["Content-Disposition"]
    records, tables, readme = unzip(response.content)

    assert records["pupil"][0]["first_name"] == "Ava" and records["pupil"][0]["upn"] == pupil.upn
    expected = {"contacts": 1, "household_notes": 2, "attendance_marks": 4, "visits": 1, "visit_events": 1,
                "alerts": 1, "reports": 1, "concerns": 1, "agreements": 1, "home_visit_risk_assessments": 1}
    for section, n in expected.items():
        assert len(records[section]) == n, section
        assert len(tables[section]) == n, section
    assert records["concerns"][0]["details"] == "Bruising on the arm."
    assert {r["visit_id"] for r in records["visit_staff"]} == {visit.pk}  # nobody else's visit
    assert records["audit_entries_about_them"], "the entries about the visit, report and concern are included"
    assert all(e["object_type"] != "visits.visit" or e["object_id"] == str(visit.pk)
               for e in records["audit_entries_about_them"])
    # The CSV copy is safe to open in a spreadsheet; the JSON keeps the text exactly.
    assert any(r["text"] == "'=HYPERLINK(\"http://x\",\"click\")" for r in tables["household_notes"])
    assert any(r["text"].startswith("=HYPERLINK") for r in records["household_notes"])
    assert "Ava Brown" in readme and "may name other people" in readme

    entry = AuditEntry.objects.get(action="subject_access.exported")
    assert (entry.object_type, entry.object_id) == ("pupils.pupil", str(pupil.pk))
    assert entry.actor == school.head.user and "Ava" not in entry.summary and "Brown" not in entry.summary
    assert entry.data["counts"]["visits"] == 1


@pytest.mark.parametrize("role", ["deputy", "office", "teacher", "officer", "sbm"])
def test_only_the_headteacher_and_the_dsl_may_export(school, client, role):
    response = signed_in(client, getattr(school, role)).post(reverse("retention:index"), {"pupil": school.pupil.pk})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="subject_access.exported").exists()
    assert signed_in(client, school.dsl).get(reverse("retention:index")).status_code == 200


def test_another_schools_pupil_cannot_be_chosen_and_a_form_with_no_choice_says_so(school, client):
    other = Staffed("potton", name="Potton Primary School")
    c = signed_in(client, school.head)
    response = c.post(reverse("retention:index"), {"pupil": other.pupil.pk})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = c.post(reverse("retention:index"), {})
    assert response.status_code == 400 and "Choose one pupil or one member of staff" in response.content.decode()
    response = c.post(reverse("retention:index"), {"pupil": school.pupil.pk, "staff": school.officer.pk})
    assert "not both, not neither" in response.content.decode()
    assert not AuditEntry.objects.filter(action="subject_access.exported").exists()


def test_the_page_shows_the_retention_schedule_with_its_sources(school, client):
    text = signed_in(client, school.head).get(reverse("retention:index")).content.decode()
    assert "6 years from the date of the pupil&#x27;s last entry in the register" in text
    assert "IRMS" in text and "Doorstep default" in text and "never by hand" in text and "school-domain.md" not in text and "Staff" in text
    assert "1 year from the day it was written" in text and "1 years" not in text


def test_a_staff_export_from_the_console_has_their_register_entries_visits_and_what_they_did(school, tmp_path):
    pupil, visit = a_whole_record(school, datetime.date(2016, 5, 1))
    Message.objects.create(school=school.school, recipient=school.officer, channel="in_app", kind="alert.overdue",
                           subject="Check-in overdue", body="Open Doorstep", idempotency_key="k1")
    record(actor=school.officer, school=school.school, action="staff.note", obj=school.officer, summary="About them")
    out = tmp_path / "officer.zip"
    call_command("subject_access", "--staff", str(school.officer.pk), "--out", str(out), stdout=io.StringIO())
    records, tables, _ = unzip(out.read_bytes())
    assert records["staff_member"][0]["full_name"] == "Ali Attendance"
    assert records["dbs_checks"] and records["roles"][0]["role"] == "attendance_officer"
    assert [v["id"] for v in records["visits"]] == [visit.pk]
    assert len(records["visit_events"]) == 1 and len(records["alerts"]) == 1 and len(records["messages"]) == 1
    by_them = {e["action"] for e in records["audit_entries_by_them"]}
    assert {"report.submitted", "concern.raised", "agreement.recorded", "staff.note"} <= by_them
    assert [e["action"] for e in records["audit_entries_about_them"]] == ["staff.note"]
    entry = AuditEntry.objects.get(action="subject_access.exported")
    assert entry.object_type == "people.staffmember" and entry.actor is None and "Ali" not in entry.summary


def test_a_staff_export_holds_only_this_schools_entries_for_someone_on_the_staff_of_two_schools(school, client):
    other = Staffed("potton", name="Potton Primary School")
    # The same sign-in works at both schools (a shared attendance officer).
    twin = StaffFactory(school=other.school, user=school.officer.user, roles=["attendance_officer"],
                        full_name=school.officer.full_name)
    record(actor=school.officer, school=school.school, action="staff.note", obj=school.officer, summary="At Coteford")
    record(actor=twin, school=other.school, action="staff.note", obj=twin, summary="At Potton: not Coteford's to give")
    data = signed_in(client, school.head).post(reverse("retention:index"), {"staff": school.officer.pk}).content
    records, _, _ = unzip(data)
    summaries = [e["summary"] for e in records["audit_entries_by_them"] + records["audit_entries_about_them"]]
    assert "At Coteford" in summaries
    assert not [s for s in summaries if "Potton" in s]
    assert {e["school_id"] for e in records["audit_entries_by_them"]} == {school.school.pk}


@pytest.mark.parametrize("args, message", [
    (["--pupil", "999999", "--out", "{tmp}/a.zip"], "No pupil with id 999999"),
    (["--staff", "999999", "--out", "{tmp}/a.zip"], "No member of staff with id 999999"),
    (["--pupil", "1", "--out", "{tmp}/a.txt"], "ending in .zip"),
    (["--pupil", "1", "--out", "{tmp}/missing/a.zip"], "does not exist"),
    (["--pupil", "1", "--out", "{tmp}/exists.zip"], "already exists"),
])
def test_the_command_refuses_bad_arguments_with_a_clear_message(school, tmp_path, args, message):
    (tmp_path / "exists.zip").write_bytes(b"keep me")
    with pytest.raises(CommandError, match=message):
        call_command("subject_access", *[a.format(tmp=tmp_path) for a in args], stdout=io.StringIO())
    assert (tmp_path / "exists.zip").read_bytes() == b"keep me"
    assert not AuditEntry.objects.filter(action="subject_access.exported").exists()
