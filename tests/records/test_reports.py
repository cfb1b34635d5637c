"""The visit report: one per ended visit, attendance from the marks, signatures where the
policy asks, concerns to the right people at once, corrections as new entries, and the
report owed showing on the owner's home page."""
import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from notify.models import Message
from reports import chronology, services
from reports.models import Concern, VisitReport
from visits.models import Visit

from tests.factories import PASSWORD, Staffed, at
from tests.records_support import ended_visit, last_weekday, marks, png_data_url, report_data

pytestmark = pytest.mark.django_db


def test_the_report_takes_its_attendance_figures_from_the_marks_not_from_what_is_typed(coteford):
    visit = ended_visit(coteford)
    start = services.school_year_start(timezone.localdate(visit.starts_at))
    # 10 sessions: 6 present, 1 authorised (I), 2 unauthorised (O), 1 not possible (#).
    marks(coteford.pupil, start, ["/", "\\", "/", "L", "I", "O", "O", "/", "#", "/"])
    report = services.submit_report(coteford.officer, visit, report_data(attendance_percent="100",
                                                                         sessions_missed="0"))
    assert (report.sessions_possible, report.sessions_missed) == (9, 3)
    assert (report.sessions_authorised, report.sessions_unauthorised) == (1, 2)
    assert report.attendance_percent == Decimal("66.7")
    assert report.attendance_from == start and report.attendance_to == timezone.localdate(visit.starts_at)


def test_marks_after_the_visit_day_do_not_count_in_its_report(coteford):
    visit = ended_visit(coteford)
    day = timezone.localdate(visit.starts_at)
    marks(coteford.pupil, day, ["/", "/"])
    marks(coteford.pupil, day + datetime.timedelta(days=1), ["O", "O"])
    report = services.submit_report(coteford.officer, visit, report_data())
    assert report.sessions_possible == 2 and report.attendance_percent == Decimal("100.0")


def test_a_report_holds_what_appendix_2_asks_for_as_it_was_on_the_day(coteford):
    visit = ended_visit(coteford)
    report = services.submit_report(coteford.officer, visit, report_data())
    assert report.year_group == "Year 4" and report.class_name == "4B"
    assert report.visit_time == datetime.time(10, 0)
    assert "Ali Attendance (Attendance officer)" in report.staff_present and "Tess Teacher" in report.staff_present
    assert report.completed_by_name == "Ali Attendance" and report.completed_by_role == "Attendance officer"
    assert report.child_seen and report.child_spoken_to
    assert AuditEntry.objects.filter(action="report.submitted", object_id=str(report.pk)).exists()


def test_a_report_waits_until_the_visit_has_ended(coteford):
    visit = ended_visit(coteford, state=Visit.State.SCHEDULED)
    with pytest.raises(ValidationError, match="once it has ended"):
        services.submit_report(coteford.officer, visit, report_data())
    assert not VisitReport.objects.exists()


def test_someone_who_was_not_on_the_visit_cannot_write_its_report(coteford):
    visit = ended_visit(coteford)
    with pytest.raises(services.NotAllowed):
        services.submit_report(coteford.family, visit, report_data())
    with pytest.raises(services.NotAllowed):
        services.submit_report(coteford.office, visit, report_data())
    assert not VisitReport.objects.exists()


def test_missing_answers_are_named_and_nothing_is_saved(coteford):
    visit = ended_visit(coteford)
    with pytest.raises(ValidationError) as error:
        services.submit_report(coteford.officer, visit, report_data(summary=" ", child_seen="", people_present=""))
    assert {"summary", "child_seen", "people_present"} <= set(error.value.message_dict)
    with pytest.raises(ValidationError) as error:
        services.submit_report(coteford.officer, visit, report_data(child_seen="no", child_spoken_to="yes"))
    assert "child_spoken_to" in error.value.message_dict
    assert not VisitReport.objects.exists()


def test_a_second_report_is_refused_and_a_correction_is_kept_beside_the_original(coteford):
    visit = ended_visit(coteford)
    original = services.submit_report(coteford.officer, visit, report_data())
    with pytest.raises(ValidationError, match="already has a report"):
        services.submit_report(coteford.teacher, visit, report_data(summary="Another go"))
    with pytest.raises(ValidationError, match="corrected"):
        services.correct_report(coteford.officer, original, report_data(summary="Fixed"), reason="  ")
    correction = services.correct_report(coteford.officer, original, report_data(summary="The pupil's father was there too."),
                                         reason="Left out the father.")
    original.refresh_from_db()
    assert original.summary == "Talked about mornings; the pupil finds it hard to get up."
    assert correction.corrects == original and services.current_version(original) == correction
    with pytest.raises(PermissionError):
        original.summary = "changed"
        original.save()
    kinds = [e.kind for e in chronology.entries(coteford.pupil, coteford.head)]
    assert "report" in kinds and "correction" in kinds


def test_the_willows_needs_both_signatures_on_an_attendance_visit(willows):
    visit = ended_visit(willows)
    with pytest.raises(ValidationError) as error:
        services.submit_report(willows.officer, visit, report_data())
    assert set(error.value.message_dict) >= {"parent_signature", "staff_signature"}
    assert "W 2.3" in error.value.message_dict["parent_signature"][0]
    report = services.submit_report(willows.officer, visit, report_data(
        parent_signature=png_data_url(), staff_signature=png_data_url(), parent_signatory="Dana Brown"))
    assert report.parent_signature.startswith("data:image/png;base64,")


def test_the_willows_asks_no_signatures_on_a_welfare_visit_nor_coteford_on_any(willows, coteford):
    services.submit_report(willows.officer, ended_visit(willows, purpose="welfare_check"), report_data())
    services.submit_report(coteford.officer, ended_visit(coteford), report_data())
    assert VisitReport.objects.count() == 2


def test_a_not_seen_visit_asks_only_the_staff_signature(willows):
    visit = ended_visit(willows, state=Visit.State.NOT_SEEN)
    needed = services.signatures_required(visit)
    assert needed["parent"][0] is False and needed["staff"][0] is True
    with pytest.raises(ValidationError, match="family was met"):
        services.submit_report(willows.officer, visit, report_data(
            child_seen="no", child_spoken_to="no", people_present="", parent_signature=png_data_url(),
            parent_signatory="X", staff_signature=png_data_url()))


@pytest.mark.parametrize("value, message", [
    ("data:image/jpeg;base64,/9j/4AAQ", "PNG image drawn"),
    ("javascript:alert(1)", "PNG image drawn"),
    ("data:image/png;base64,not base64!!", "damaged"),
    ("data:image/png;base64,R0lGODlhAQABAAAAACw=", "not a PNG"),
    ("data:image/png;base64," + "A" * 400_000, "too large"),
    (png_data_url(width=5000, height=10), "5000×10"),
])
def test_a_signature_must_be_a_small_png(willows, value, message):
    visit = ended_visit(willows, purpose="welfare_check")
    with pytest.raises(ValidationError) as error:
        services.submit_report(willows.officer, visit, report_data(staff_signature=value))
    assert message in error.value.message_dict["staff_signature"][0]
    assert not VisitReport.objects.exists()


def test_a_safeguarding_concern_goes_to_the_dsl_at_once_without_the_pupils_name(coteford):
    visit = ended_visit(coteford)
    services.submit_report(coteford.officer, visit, report_data(safeguarding_concern="Bruising on the arm."))
    concern = Concern.objects.get()
    assert concern.kind == "safeguarding" and concern.sent_to == ["Dani Safeguarding"]
    messages = Message.objects.filter(recipient=coteford.dsl)
    assert messages.exists()
    for m in messages:
        assert "Ava" not in m.subject + m.body and "Brown" not in m.subject + m.body
        assert m.link == reverse("reports:concern", args=[concern.pk])
    assert not Message.objects.filter(recipient=coteford.office).exists()


def test_a_physical_intervention_goes_to_the_headteacher_citing_potton(coteford):
    potton = Staffed("potton", name="Potton Primary School")
    visit = ended_visit(potton)
    services.submit_report(potton.officer, visit, report_data(incident="Held a door shut.", physical_intervention="on"))
    concern = Concern.objects.get()
    assert concern.kind == "physical_intervention" and concern.clause == "P §3¶9"
    assert concern.sent_to == ["Hana Head"]
    assert Message.objects.filter(recipient=potton.head).exists()


def test_office_staff_do_not_see_concerns_in_the_chronology_but_the_dsl_does(coteford, client):
    visit = ended_visit(coteford)
    services.submit_report(coteford.officer, visit, report_data(safeguarding_concern="Bruising on the arm."))
    assert "concern" not in [e.kind for e in chronology.entries(coteford.pupil, coteford.office)]
    assert "concern" in [e.kind for e in chronology.entries(coteford.pupil, coteford.dsl)]
    client.login(username=coteford.office.user.username, password=PASSWORD)
    page = client.get(reverse("reports:chronology", args=[coteford.pupil.pk]))
    assert page.status_code == 200 and "Bruising" not in page.content.decode()
    assert client.get(reverse("reports:concern", args=[Concern.objects.get().pk])).status_code == 403
    assert "Bruising" not in chronology.as_csv(coteford.pupil, coteford.office)


def test_a_report_owed_shows_on_the_leads_home_page_and_turns_overdue_after_two_school_days(coteford, client):
    friday = last_weekday(4, before=timezone.localdate() - datetime.timedelta(days=7))
    visit = ended_visit(coteford, day=friday)
    assert services.report_due_on(visit) == friday + datetime.timedelta(days=4)  # the Tuesday after
    client.login(username=coteford.officer.user.username, password=PASSWORD)
    with time_machine.travel(at(friday + datetime.timedelta(days=4), 17), tick=False):
        assert [(v, overdue) for v, _, overdue in services.reports_owed(coteford.officer)] == [(visit, False)]
    with time_machine.travel(at(friday + datetime.timedelta(days=5), 9), tick=False):
        assert [(v, overdue) for v, _, overdue in services.reports_owed(coteford.officer)] == [(visit, True)]
        page = client.get(reverse("home")).content.decode()
    assert "Reports you owe" in page and "overdue" in page.lower()
    assert reverse("reports:report", args=[visit.pk]) in page
    assert services.reports_owed(coteford.teacher) == []  # the lead owes it, not the second person
    services.submit_report(coteford.officer, visit, report_data())
    assert services.reports_owed(coteford.officer) == []


def test_priory_owes_a_report_only_after_danger():
    priory = Staffed("priory", name="Priory Junior School")
    assert not services.report_required(ended_visit(priory))
    assert services.report_required(ended_visit(priory, state=Visit.State.ABANDONED))


def test_the_report_page_takes_a_report_and_then_shows_it(coteford, client):
    visit = ended_visit(coteford)
    client.login(username=coteford.officer.user.username, password=PASSWORD)
    url = reverse("reports:report", args=[visit.pk])
    form = client.get(url)
    assert form.status_code == 200 and "Summary of discussion" in form.content.decode()
    bad = client.post(url, report_data(summary=""))
    assert bad.status_code == 400 and not VisitReport.objects.exists()
    done = client.post(url, report_data(staff_signature=png_data_url()), follow=True)
    assert "Report submitted" in done.content.decode()
    assert "Report as submitted" in done.content.decode()
    assert VisitReport.objects.get().staff_signature
