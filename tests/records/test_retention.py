"""Retention (docs/security.md, "Data kept no longer than needed"): each kind of record is kept for its period, listed on the day it
falls due, removed only with --apply, all or nothing, and every removal leaves an audit entry
that says what went without saying who it was about."""
import datetime
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from safety.alerts.models import Alert
from attendance.models import AttendanceMark, ImportRun
from audit.models import AuditEntry
from safety.checkins.models import VisitEvent
from notify.models import Message
from pupils.models import Contact, HouseholdNote, Pupil
from reports import services as report_services
from reports.models import Agreement, Concern, VisitReport
from retention import services
from retention.models import RetentionRule
from retention.rules import add_years
from visits.models import Visit

from tests.factories import HouseholdNoteFactory, PupilFactory, Staffed
from tests.records_support import ended_visit, marks, report_data

pytestmark = pytest.mark.django_db


def noon(day):
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


def run(*args):
    out = io.StringIO()
    call_command("retention", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def school():
    return Staffed("coteford", name="Coteford Junior School")


def test_attendance_marks_are_kept_until_six_years_after_the_last_entry_then_listed_then_removed(school):
    pupil = PupilFactory(school=school.school, first_name="Zed", last_name="Quill")
    marks(pupil, datetime.date(2020, 3, 2), "//")  # a Monday: the last entry is 2 March 2020
    due = datetime.date(2026, 3, 2)

    with time_machine.travel(noon(due - datetime.timedelta(days=1))):
        assert f"attendance #{pupil.pk}" not in run()
        run("--apply")
    assert AttendanceMark.objects.filter(pupil=pupil).count() == 2

    with time_machine.travel(noon(due)):
        listed = run()
        assert f"due     attendance #{pupil.pk} (2 marks), due 2026-03-02 (6 years from the date of the pupil's last entry" in listed
        assert "Nothing was changed" in listed
        assert AttendanceMark.objects.filter(pupil=pupil).count() == 2  # a dry run by default
        removed = run("--apply")
    assert f"removed attendance #{pupil.pk}" in removed
    assert not AttendanceMark.objects.filter(pupil=pupil).exists()
    assert Pupil.objects.filter(pk=pupil.pk).exists()  # the pupil's own record has its own period
    entry = AuditEntry.objects.get(action="retention.removed")
    assert (entry.object_type, entry.object_id) == ("pupils.pupil", str(pupil.pk))
    assert "attendance #" in entry.summary and "due 2026-03-02" in entry.summary and "6 years" in entry.summary
    assert entry.data["anchor"] == "2020-03-02" and entry.data["rule_years"] == 6
    for personal in ("Zed", "Quill", pupil.upn):
        assert personal not in entry.summary + str(entry.data)


def a_whole_record(school, dob):
    """A pupil with contacts, a household note, marks, a completed visit with a check-in event,
    an alert, a report, a concern and an agreement."""
    pupil = school.pupil
    Pupil.objects.filter(pk=pupil.pk).update(date_of_birth=dob)
    pupil.refresh_from_db()
    HouseholdNoteFactory(pupil=pupil)
    visit = ended_visit(school)
    marks(pupil, datetime.date(2020, 3, 2), "//\\N")  # the register's six years end on 3 March 2026
    VisitEvent.objects.create(visit=visit, school=school.school, type=VisitEvent.Type.ARRIVED, at=visit.starts_at,
                              recorded_at=visit.starts_at, recorded_by=school.officer, note="At the door.")
    Alert.objects.create(school=school.school, visit=visit, kind=Alert.Kind.OVERDUE, raised_at=visit.ends_at,
                         ladder=[], state=Alert.State.RESOLVED)
    report = report_services.submit_report(school.officer, visit, report_data())
    report_services.raise_concern(school.officer, visit, kind=Concern.Kind.SAFEGUARDING,
                                  details="Bruising on the arm.", report=report)
    report_services.record_agreement(school.officer, visit, text="Attends every day.",
                                     review_on=timezone.localdate() + datetime.timedelta(days=14))
    return pupil, visit


def test_a_childs_whole_record_goes_on_the_day_the_date_of_birth_plus_25_years_is_reached(school):
    pupil, visit = a_whole_record(school, datetime.date(2001, 12, 10))
    due = datetime.date(2026, 12, 10)
    other = PupilFactory(school=school.school)  # born 2016: nowhere near due

    with time_machine.travel(noon(due - datetime.timedelta(days=1))):
        assert services.plan(school.school)["pupils"] == []
        listed = run("--school", "Coteford Junior School")
        assert f"attendance #{pupil.pk}" in listed and f"pupils #{pupil.pk}" not in listed
        assert f"visits #{visit.pk}" not in listed

    with time_machine.travel(noon(due)):
        found = services.plan(school.school)
        assert [d.pk for d in found["pupils"]] == [pupil.pk] and [d.pk for d in found["visits"]] == [visit.pk]
        assert len(found["concerns"]) == 1 and all(d.due_on == due for d in found["concerns"])
        assert not any(d.held_by for key in found for d in found[key])
        entries_before = AuditEntry.objects.count()
        output = run("--apply")

    assert "Removed 4 record(s); 0 held" in output
    assert not Pupil.objects.filter(pk=pupil.pk).exists() and not Visit.objects.filter(pk=visit.pk).exists()
    for model in (Contact, HouseholdNote, AttendanceMark, Concern, VisitReport, Agreement):
        assert not model.objects.filter(pupil=pupil.pk).exists(), model
    assert not VisitEvent.objects.filter(visit=visit.pk).exists() and not Alert.objects.filter(visit=visit.pk).exists()
    assert Pupil.objects.filter(pk=other.pk).exists()
    # Earlier entries stay (the trail is append-only); one new entry per record removed.
    removed = AuditEntry.objects.filter(action="retention.removed")
    assert AuditEntry.objects.count() == entries_before + 4 == entries_before + removed.count()
    assert sorted(e.object_type for e in removed) == ["pupils.pupil", "pupils.pupil", "reports.concern", "visits.visit"]
    for entry in removed.exclude(data__record_type="attendance"):
        assert "25 years from the pupil's date of birth" in entry.summary and "due 2026-12-10" in entry.summary
        assert "2001-12-10" not in entry.summary + str(entry.data)  # the date of birth is not repeated
        assert "Ava" not in entry.summary and "Brown" not in entry.summary


def test_a_longer_period_for_concerns_holds_the_visit_and_the_pupil_they_point_at(school):
    pupil, visit = a_whole_record(school, datetime.date(2001, 12, 10))
    call_command("retention", "--school", "Coteford Junior School", "--set", "concerns=50", "--reason", "IICSA order",
                 stdout=io.StringIO())
    assert RetentionRule.objects.get(school=school.school, record_type="concerns").years == 50
    assert AuditEntry.objects.filter(action="retention.rule_changed", reason="IICSA order").exists()

    with time_machine.travel(noon(datetime.date(2026, 12, 10))):
        output = run("--apply")
    assert f"HELD    visits #{visit.pk}" in output and f"HELD    pupils #{pupil.pk}" in output
    assert Visit.objects.filter(pk=visit.pk).exists() and Concern.objects.filter(pupil=pupil).exists()
    # Only the attendance marks went (their own six years were up in March 2026).
    assert [e.data["record_type"] for e in AuditEntry.objects.filter(action="retention.removed")] == ["attendance"]


def test_a_run_that_fails_part_way_removes_nothing_and_writes_no_entry(school, monkeypatch):
    pupil, visit = a_whole_record(school, datetime.date(2001, 12, 10))

    def broken(pupil):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_remove_pupil", broken)
    with time_machine.travel(noon(datetime.date(2026, 12, 10))), pytest.raises(RuntimeError):
        run("--apply")
    assert Visit.objects.filter(pk=visit.pk).exists() and Concern.objects.filter(pupil=pupil).count() == 1
    assert not AuditEntry.objects.filter(action="retention.removed").exists()


def test_sent_messages_go_after_a_year_and_waiting_ones_never(school):
    written = noon(datetime.date(2025, 1, 10))
    kw = dict(school=school.school, recipient=school.office, channel="sms", kind="alert.overdue", subject="s",
              body="b", created_at=written)
    sent = Message.objects.create(**kw, idempotency_key="a", status=Message.Status.SENT)
    waiting = Message.objects.create(**kw, idempotency_key="b", status=Message.Status.PENDING)
    run_row = ImportRun.objects.create(school=school.school, at=written, file_name="wk1.csv", mapping="sims", rows=1,
                                       created=1, updated=0, unchanged=0)
    with time_machine.travel(noon(datetime.date(2026, 1, 9))):
        assert services.plan(school.school)["messages"] == []
    with time_machine.travel(noon(datetime.date(2026, 1, 10))):
        run("--apply")
    assert not Message.objects.filter(pk=sent.pk).exists() and Message.objects.filter(pk=waiting.pk).exists()
    assert ImportRun.objects.filter(pk=run_row.pk).exists()  # six years for import runs
    with time_machine.travel(noon(datetime.date(2031, 1, 10))):
        run("--apply")
    assert not ImportRun.objects.filter(pk=run_row.pk).exists()
    assert Message.objects.filter(pk=waiting.pk).exists()


def test_old_audit_entries_go_only_through_retention_and_only_when_what_they_describe_has_gone(school):
    old = noon(datetime.date(2000, 3, 1))
    about_gone = AuditEntry.objects.create(school=school.school, at=old, action="visit.approved",
                                           object_type="visits.visit", object_id="987654", summary="x")
    about_kept = AuditEntry.objects.create(school=school.school, at=old, action="pupil.viewed",
                                           object_type="pupils.pupil", object_id=str(school.pupil.pk), summary="x")
    recent = AuditEntry.objects.create(school=school.school, at=noon(datetime.date(2001, 3, 2)), action="x",
                                       object_type="visits.visit", object_id="987655", summary="x")
    with pytest.raises(PermissionError):
        about_gone.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=about_gone.pk).delete()

    with time_machine.travel(noon(datetime.date(2025, 2, 28))):
        assert "due     audit: 0 entries" not in run() and "audit:" not in run()
    with time_machine.travel(noon(datetime.date(2025, 3, 1))):
        assert "due     audit: 1 entries" in run() and "1 HELD" in run()
        output = run("--apply")
    assert "removed audit: 1 entries" in output
    assert not AuditEntry.objects.filter(pk=about_gone.pk).exists()
    assert AuditEntry.objects.filter(pk__in=[about_kept.pk, recent.pk]).count() == 2
    entry = AuditEntry.objects.get(action="retention.removed")
    assert "1 audit entries" in entry.summary and entry.data["count"] == 1 and entry.data["first_id"] == about_gone.pk
    # Everything else still refuses to delete an entry.
    with pytest.raises(PermissionError):
        entry.delete()


def test_the_schedule_shows_each_period_with_its_source_and_a_schools_own_change(school):
    services.set_rule(school.school, "visits", 30, actor=school.head, reason="Trust policy")
    text = run("--schedule", "--school", "Coteford Junior School")
    assert "attendance   6 years from the date of the pupil's last entry" in text
    assert "Regulations 2024" in text and "IRMS" in text and "Doorstep default" in text
    assert "audit        25 years from the day it was written" in text and "staff: " in text
    assert "visits       30 years from the pupil's date of birth (school's own; default 25)" in text
    assert "messages     1 year from the day it was written" in text  # not "1 years"
    services.set_rule(school.school, "visits", 25, actor=school.head)  # back to the default: no row of its own
    assert not RetentionRule.objects.filter(school=school.school).exists()


@pytest.mark.parametrize("args, message", [
    (["--set", "visits=30"], "--set needs --school"),
    (["--school", "Coteford Junior School", "--set", "visits=lots"], "write TYPE=YEARS"),
    (["--school", "Coteford Junior School", "--set", "homework=3"], "Unknown record type 'homework'"),
    (["--school", "Coteford Junior School", "--set", "visits=0"], "from 1 to 100"),
    (["--today", "31/12/2030"], "is not a date"),
    (["--apply", "--today", "2999-01-01"], "in the future"),
])
def test_bad_arguments_are_refused_with_a_clear_message_and_change_nothing(school, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("retention", *args, stdout=io.StringIO())
    assert not RetentionRule.objects.exists()


def test_a_leap_day_anchor_falls_due_on_the_first_of_march():
    assert add_years(datetime.date(2004, 2, 29), 25) == datetime.date(2029, 3, 1)
    assert add_years(datetime.date(2004, 2, 28), 6) == datetime.date(2010, 2, 28)


def test_a_pupil_is_held_while_the_registers_six_years_are_not_up(school):
    pupil = PupilFactory(school=school.school, date_of_birth=datetime.date(2000, 1, 5))
    marks(pupil, datetime.date(2024, 9, 2), "//")
    with time_machine.travel(noon(datetime.date(2026, 1, 5))):
        (due,) = services.plan(school.school)["pupils"]
        assert due.pk == pupil.pk and "attendance marks" in due.held_by
        run("--apply")
    assert Pupil.objects.filter(pk=pupil.pk).exists() and AttendanceMark.objects.filter(pupil=pupil).count() == 2
