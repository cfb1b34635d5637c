"""Term dates and closures: school days skip the school's holidays and INSET days, so a report
owed from the Friday before half-term is not overdue in the holiday; the page where the
headteacher, business manager or office record them; every change audited."""
import datetime

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from policies import calendar as term_dates
from reports import services as reports
from schools import calendar
from schools.models import SchoolClosure

from tests.factories import Staffed
from tests.records_support import ended_visit

pytestmark = pytest.mark.django_db

FRIDAY = datetime.date(2027, 2, 12)  # the Friday before a February half-term
HALF_TERM = (datetime.date(2027, 2, 15), datetime.date(2027, 2, 19))


def signed_in(staff):
    client = Client()
    client.force_login(staff.user)
    return client


def test_school_days_skip_weekends_and_the_schools_own_closures(coteford):
    other = Staffed("potton", name="Potton Primary School")
    SchoolClosure.objects.create(school=coteford.school, first_day=HALF_TERM[0], last_day=HALF_TERM[1], label="Half-term")
    SchoolClosure.objects.create(school=coteford.school, first_day=datetime.date(2027, 2, 23),
                                 last_day=datetime.date(2027, 2, 23), label="INSET day")
    # Friday + 2 school days: Mon 22 Feb (after half-term), then Wed 24 Feb (Tue 23 is INSET).
    assert calendar.add_school_days(coteford.school, FRIDAY, 2) == datetime.date(2027, 2, 24)
    # Another school's closures are not ours: Tuesday 16 February there.
    assert calendar.add_school_days(other.school, FRIDAY, 2) == datetime.date(2027, 2, 16)
    assert calendar.closure_on(coteford.school, datetime.date(2027, 2, 17)).label == "Half-term"
    assert calendar.closure_on(other.school, datetime.date(2027, 2, 17)) is None


def test_back_to_back_and_overlapping_closures_are_all_skipped(coteford):
    # The longest closure allowed (70 days), then building work overlapping its last days and
    # running on, then an INSET day: 82 days closed in a row.
    for first, last, label in [("2027-07-19", "2027-09-26", "Summer and rebuilding"),
                               ("2027-09-20", "2027-10-04", "Building work"), ("2027-10-05", "2027-10-05", "INSET")]:
        SchoolClosure.objects.create(school=coteford.school, first_day=datetime.date.fromisoformat(first),
                                     last_day=datetime.date.fromisoformat(last), label=label)
    # From the Friday before, the first school day is Wednesday 6 October 2027.
    assert calendar.add_school_days(coteford.school, datetime.date(2027, 7, 16), 1) == datetime.date(2027, 10, 6)


@pytest.mark.clock("2027-02-12 17:00", tick=False)  # the school, its staff and the visit are made that Friday
def test_a_report_owed_from_the_friday_before_half_term_is_not_overdue_in_the_holiday(coteford, marked_clock):
    visit = ended_visit(coteford, day=FRIDAY)
    assert reports.report_due_on(visit) == datetime.date(2027, 2, 16)  # no closures yet: Tuesday
    signed_in(coteford.office).post(reverse("term_dates"), {
        "label": "February half-term", "first_day": "2027-02-15", "last_day": "2027-02-19"})
    assert reports.report_due_on(visit) == datetime.date(2027, 2, 23)  # the Tuesday after half-term
    marked_clock.move_to(datetime.datetime(2027, 2, 19, 12, tzinfo=datetime.UTC))
    assert [(v, overdue) for v, _, overdue in reports.reports_owed(coteford.officer)] == [(visit, False)]
    marked_clock.move_to(datetime.datetime(2027, 2, 24, 9, tzinfo=datetime.UTC))
    assert [(v, overdue) for v, _, overdue in reports.reports_owed(coteford.officer)] == [(visit, True)]


@pytest.mark.parametrize("role", ["head", "sbm", "office"])
def test_the_head_business_manager_and_office_record_and_remove_a_closure_with_an_audit_entry(coteford, role):
    client = signed_in(getattr(coteford, role))
    response = client.post(reverse("term_dates"), {"label": "INSET day", "first_day": "2027-01-04", "last_day": "2027-01-04"},
                           follow=True)
    assert "Added: INSET day (Mon 4 Jan 2027)." in response.content.decode()
    closure = SchoolClosure.objects.get()
    assert (closure.school, closure.added_by) == (coteford.school, getattr(coteford, role))
    assert AuditEntry.objects.filter(action="calendar.closure_added", object_id=str(closure.pk)).exists()
    client.post(reverse("term_date_remove", args=[closure.pk]))
    assert not SchoolClosure.objects.exists()
    removed = AuditEntry.objects.get(action="calendar.closure_removed")
    assert removed.data["label"] == "INSET day" and removed.actor_name == getattr(coteford, role).full_name


@pytest.mark.parametrize("fields, field, message", [
    ({"label": "Half-term", "first_day": "2027-02-19", "last_day": "2027-02-15"}, "last_day", "The last day is before the first day."),
    ({"label": "Summer", "first_day": "2027-07-20", "last_day": "2027-10-20"}, "last_day", "longer than any school holiday"),
    ({"label": "  ", "first_day": "2027-02-15", "last_day": "2027-02-19"}, "label", "This field is required."),
    ({"label": "Half-term", "first_day": "2027-02-30", "last_day": "2027-03-01"}, "first_day", "Enter a valid date."),
])
def test_bad_dates_are_refused_next_to_the_field_and_nothing_is_written(coteford, fields, field, message):
    response = signed_in(coteford.head).post(reverse("term_dates"), fields)
    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field])
    assert message in response.content.decode().replace("&quot;", '"')
    assert not SchoolClosure.objects.exists() and not AuditEntry.objects.filter(action__startswith="calendar.").exists()


@pytest.mark.parametrize("role", ["teacher", "officer", "dsl", "deputy"])
def test_other_roles_cannot_see_or_change_the_term_dates(coteford, role):
    closure = SchoolClosure.objects.create(school=coteford.school, first_day=FRIDAY, last_day=FRIDAY, label="INSET day")
    client = signed_in(getattr(coteford, role))
    assert client.get(reverse("term_dates")).status_code == 403
    assert client.post(reverse("term_date_remove", args=[closure.pk])).status_code == 403
    assert SchoolClosure.objects.count() == 1


def test_another_schools_closure_cannot_be_removed_or_seen(coteford):
    other = Staffed("potton", name="Potton Primary School")
    theirs = SchoolClosure.objects.create(school=other.school, first_day=FRIDAY, last_day=FRIDAY, label="Their INSET")
    client = signed_in(coteford.head)
    assert "Their INSET" not in client.get(reverse("term_dates")).content.decode()
    assert client.post(reverse("term_date_remove", args=[theirs.pk])).status_code == 404
    assert SchoolClosure.objects.filter(pk=theirs.pk).exists()


def test_closures_read_as_people_write_dates_on_the_page_and_in_messages(coteford):
    def closure(first, last, label="Closed"):
        return SchoolClosure(school=coteford.school, first_day=first, last_day=last, label=label)

    d = datetime.date
    assert str(closure(d(2027, 1, 4), d(2027, 1, 4), "INSET day")) == "INSET day (Mon 4 Jan 2027)"
    assert closure(d(2027, 2, 15), d(2027, 2, 19)).dates == "Mon 15 Feb to Fri 19 Feb 2027"
    # Over the new year each end has its own year.
    christmas = term_dates.add_closure(coteford.head, first_day=d(2099, 12, 21), last_day=d(2100, 1, 1),
                                     label="Christmas holidays")
    assert christmas.dates == "Mon 21 Dec 2099 to Fri 1 Jan 2100"
    page = signed_in(coteford.head).get(reverse("term_dates")).content.decode()
    assert "Mon 21 Dec 2099 to Fri 1 Jan 2100" in page
