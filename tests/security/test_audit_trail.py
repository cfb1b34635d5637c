"""The audit trail (docs/security.md, "Audit"): append-only in Doorstep and in the database, every read of
a sensitive record written with who, when and from where, and a page on which the
headteacher and the DSL search and export it (itself audited)."""
import csv
import datetime
import io

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit import guard
from audit.models import AuditEntry
from audit.services import record, record_read
from reports.models import Concern
from tests.factories import PupilFactory, SchoolFactory, Staffed, UserFactory

pytestmark = pytest.mark.django_db

FROM = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "Mozilla/5.0 (iPhone) TestPhone"}
TABLE = connection.ops.quote_name(AuditEntry._meta.db_table)


@pytest.fixture
def school():
    return Staffed("coteford", name="Coteford Junior School")


def _entry(school, **kwargs):
    return record(actor=school.head, school=school.school, action=kwargs.pop("action", "visit.approved"),
                  obj=school.pupil, summary=kwargs.pop("summary", "Approved a visit"), **kwargs)


# ----------------------------------------------------------- append-only, through Doorstep

def test_an_entry_cannot_be_changed_or_deleted_through_the_orm(school):
    entry = _entry(school)
    entry.summary = "rewritten"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="rewritten")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).summary == "Approved a visit"


def test_not_even_a_superuser_can_edit_or_delete_entries_in_the_admin(school, client):
    entry = _entry(school)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    change = client.get(f"/admin/audit/auditentry/{entry.pk}/change/")
    assert change.status_code == 200 and b'name="_save"' not in change.content
    assert client.post(f"/admin/audit/auditentry/{entry.pk}/change/", {"summary": "x"}).status_code == 403
    assert client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = client.get("/admin/audit/auditentry/")
    assert b"delete_selected" not in listing.content
    assert AuditEntry.objects.get(pk=entry.pk).summary == "Approved a visit"


# ----------------------------------------------------------- append-only, in the database

def test_the_database_guard_is_installed_by_the_migrations():
    expected = {"sqlite": {"audit_entry_no_update", "audit_entry_no_delete"},
                "postgresql": {"audit_entry_append_only"}}[connection.vendor]
    assert expected <= guard.trigger_names()


def test_the_database_refuses_a_raw_sql_update_or_delete(school):
    entry = _entry(school)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET summary = %s WHERE id = %s", ["rewritten", entry.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")
    assert AuditEntry.objects.get(pk=entry.pk).summary == "Approved a visit"


def test_only_the_documented_purge_may_delete_and_it_still_cannot_update(school):
    keep, remove = _entry(school), _entry(school, summary="demo entry")
    with pytest.raises(DatabaseError, match="append-only"), guard.allow_purge():
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET summary = %s WHERE id = %s", ["rewritten", keep.pk])
    with guard.allow_purge(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [remove.pk])
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [keep.pk]
    # The permission ends with the block.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")


@pytest.mark.django_db(transaction=True)
def test_flushing_the_whole_database_between_tests_still_works():
    s = Staffed()
    _entry(s)
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEntry.objects.exists()


# ----------------------------------------------------------- reads of sensitive records

def test_opening_a_pupils_details_writes_who_when_and_from_where(school, client):
    client.force_login(school.teacher.user)
    response = client.get(reverse("pupils:detail", args=[school.pupil.pk]), **FROM)
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="pupil.viewed")
    assert (entry.actor, entry.actor_name) == (school.teacher.user, school.teacher.full_name)
    assert entry.ip_address == "203.0.113.7" and "TestPhone" in entry.user_agent
    assert entry.object_type == "pupils.pupil" and entry.object_id == str(school.pupil.pk)
    assert entry.school == school.school and abs(entry.at - timezone.now()) < datetime.timedelta(minutes=1)


def test_a_pupil_read_through_the_api_is_written_too(school, client):
    client.force_login(school.teacher.user)
    assert client.get(f"/api/pupils/{school.pupil.pk}", **FROM).status_code == 200
    entry = AuditEntry.objects.get(action="pupil.viewed")
    assert entry.actor == school.teacher.user and entry.ip_address == "203.0.113.7"


def test_reading_a_concern_and_a_chronology_is_written(school, client):
    concern = Concern.objects.create(school=school.school, pupil=school.pupil, kind=Concern.Kind.SAFEGUARDING,
                                     details="Bruise on the arm", raised_by=school.teacher,
                                     raised_at=timezone.now(), clause="default")
    client.force_login(school.dsl.user)
    assert client.get(reverse("reports:concern", args=[concern.pk]), **FROM).status_code == 200
    assert client.get(reverse("reports:chronology", args=[school.pupil.pk]), **FROM).status_code == 200
    read = AuditEntry.objects.get(action="concern.viewed")
    assert read.actor == school.dsl.user and read.ip_address == "203.0.113.7" and read.user_agent
    assert AuditEntry.objects.filter(action="chronology.viewed", object_id=str(school.pupil.pk)).exists()


def test_a_refused_read_writes_nothing_and_shows_nothing(school, client):
    other = PupilFactory(school=SchoolFactory())
    client.force_login(school.teacher.user)
    assert client.get(reverse("pupils:detail", args=[other.pk])).status_code == 404
    assert not AuditEntry.objects.filter(action="pupil.viewed").exists()


def test_record_read_needs_no_staff_record_to_say_who():
    user = UserFactory(first_name="Ada", last_name="Admin")
    from django.test import RequestFactory

    request = RequestFactory().get("/x", **FROM)
    request.user = user
    entry = record_read(request, None, "something")
    assert entry.actor == user and entry.actor_name == "Ada Admin" and entry.data["path"] == "/x"


# ----------------------------------------------------------- the audit trail page

@pytest.fixture
def trail(school):
    """Entries of several kinds over three days, and one of another school."""
    now = timezone.now()
    other = Staffed("potton", name="Potton Primary School")
    other_pupil_entry = record(actor=other.head, school=other.school, action="pupil.viewed", obj=other.pupil,
                               summary="Other school's secret read")
    a = record(actor=school.teacher, school=school.school, action="pupil.viewed", obj=school.pupil,
               summary="Viewed pupil details: Ava Brown")
    b = record(actor=school.head, school=school.school, action="visit.approved", obj=school.pupil,
               summary="Approved the visit", reason="=HYPERLINK(\"http://evil\",\"x\")")
    c = record(actor=school.office, school=school.school, action="alert.police_card_read", obj=school.head,
               summary="Opened the police card")
    # Back-date one entry with a fresh insert (entries are never updated).
    old = AuditEntry.objects.create(school=school.school, at=now - datetime.timedelta(days=10), actor=school.dsl.user,
                                    actor_name=school.dsl.full_name, action="concern.viewed",
                                    object_type="reports.concern", object_id="1", summary="Read a concern long ago")
    return {"viewed": a, "approved": b, "police": c, "old": old, "other": other_pupil_entry}


def _summaries(response):
    """The entries shown: the page below its search form (whose menu lists every action)."""
    return response.content.decode().split("</form>")[-1]


@pytest.mark.parametrize("role", ["head", "dsl"])
def test_the_headteacher_and_the_dsl_can_search_the_trail(school, trail, client, role):
    client.force_login(getattr(school, role).user)
    page = client.get(reverse("audit:trail"))
    assert page.status_code == 200
    html = _summaries(page)
    assert "Approved the visit" in html and "Opened the police card" in html
    assert "Other school" not in html


@pytest.mark.parametrize("role", ["deputy", "office", "teacher", "sbm", "officer", "family"])
def test_nobody_else_may_see_the_trail(school, trail, client, role):
    client.force_login(getattr(school, role).user)
    assert client.get(reverse("audit:trail")).status_code == 403
    assert client.get(reverse("audit:export")).status_code == 403


@pytest.mark.parametrize("query, shown, hidden", [
    ({"person": "Olu"}, ["Opened the police card"], ["Approved the visit"]),
    ({"pupil": "Brown"}, ["Viewed pupil details", "Approved the visit"], ["Opened the police card"]),
    ({"action": "visit."}, ["Approved the visit"], ["Viewed pupil details"]),
    ({"action": "pupil.viewed"}, ["Viewed pupil details"], ["Approved the visit"]),
    ({"action": "visit.appr"}, ["Approved the visit"], ["Viewed pupil details"]),
    ({"text": "police"}, ["Opened the police card"], ["Approved the visit"]),
    ({"text": "HYPERLINK"}, ["Approved the visit"], ["Opened the police card"]),
])
def test_the_trail_is_searched_by_person_pupil_action_and_words(school, trail, client, query, shown, hidden):
    client.force_login(school.head.user)
    html = _summaries(client.get(reverse("audit:trail"), query))
    for words in shown:
        assert words in html
    for words in hidden:
        assert words not in html


def test_the_trail_is_searched_by_date_range(school, trail, client):
    client.force_login(school.head.user)
    today = timezone.localdate()
    recent = _summaries(client.get(reverse("audit:trail"), {"date_from": today.isoformat()}))
    assert "Approved the visit" in recent and "long ago" not in recent
    old_day = (today - datetime.timedelta(days=10)).isoformat()
    old = _summaries(client.get(reverse("audit:trail"), {"date_from": old_day, "date_to": old_day}))
    assert "long ago" in old and "Approved the visit" not in old


def test_a_backwards_date_range_is_refused_with_a_clear_message(school, trail, client):
    client.force_login(school.head.user)
    response = client.get(reverse("audit:trail"), {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()


def test_searching_the_trail_is_itself_written_to_the_trail(school, trail, client):
    client.force_login(school.dsl.user)
    client.get(reverse("audit:trail"), {"pupil": "Brown"}, **FROM)
    entry = AuditEntry.objects.get(action="audit.viewed")
    assert entry.actor == school.dsl.user and entry.data["filters"] == {"pupil": "Brown"}
    assert entry.ip_address == "203.0.113.7"


def test_the_export_is_a_safe_csv_of_the_search_and_is_audited(school, trail, client):
    client.force_login(school.head.user)
    response = client.get(reverse("audit:export"), {"pupil": "Brown"}, **FROM)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["when", "who", "action"]
    body = rows[1:]
    assert {r[2] for r in body} == {"pupil.viewed", "visit.approved"}
    reason = next(r[6] for r in body if r[2] == "visit.approved")
    assert reason.startswith("'=HYPERLINK")  # a spreadsheet shows it as text, never runs it
    assert "Other school" not in response.content.decode()
    exported = AuditEntry.objects.get(action="audit.exported")
    assert exported.actor == school.head.user and exported.data["rows"] == 2


def test_the_audit_link_is_shown_only_to_those_who_may_follow_it(school, client):
    client.force_login(school.head.user)
    assert reverse("audit:trail") in client.get(reverse("home")).content.decode()
    client.force_login(school.office.user)
    assert reverse("audit:trail") not in client.get(reverse("home")).content.decode()


def test_printing_a_letter_and_a_referral_pack_is_written_with_where_from(school, client):
    from attendance.models import ReferralCase
    from reports.models import Letter

    letter = Letter.objects.create(school=school.school, pupil=school.pupil, addressee="Dana Brown",
                                   body="Please come in to talk about attendance.", clause="C 4.4",
                                   prepared_at=timezone.now())
    today = timezone.localdate()
    case = ReferralCase.objects.create(school=school.school, pupil=school.pupil, opened_on=today,
                                       window_start=today - datetime.timedelta(days=30), window_end=today,
                                       possible=10, attended=5, authorised=1, unauthorised=4, percent=50,
                                       threshold_percent=90, clause="P §7¶4")
    client.force_login(school.head.user)
    assert client.get(reverse("reports:letter_pdf", args=[letter.pk]), **FROM).status_code == 200
    assert client.get(reverse("attendance:pack", args=[case.pk]), **FROM).status_code == 200
    printed = AuditEntry.objects.get(action="letter.printed")
    pack = AuditEntry.objects.get(action="referral.pack_rendered")
    for entry in (printed, pack):
        assert entry.actor == school.head.user and entry.ip_address == "203.0.113.7" and "TestPhone" in entry.user_agent


def test_a_search_that_finds_nothing_says_so(school, trail, client):
    client.force_login(school.head.user)
    page = client.get(reverse("audit:trail"), {"action": "no.such.action"})
    assert page.status_code == 200
    assert "0 entries." in page.content.decode()
    assert "No entries match." in page.content.decode()
