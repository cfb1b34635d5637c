"""The live sync from Wonde (mis), against a local fake of Wonde's API the test starts."""
import datetime
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from attendance.models import AttendanceMark, monday, penalty_counts, school_weeks
from audit.models import AuditEntry
from mis import services
from mis.client import WondeClient
from mis.models import SyncRun, WondeConnection
from pupils.models import Contact, Pupil
from pupils.upn import make_upn
from tests.factories import PupilFactory, SchoolFactory, StaffFactory
from tests.mis.fake_wonde import make_student, session_mark

pytestmark = pytest.mark.django_db

TOKEN = "wonde-secret-token-1234"


def dob() -> datetime.date:
    return datetime.date(timezone.localdate().year - 9, 3, 1)


def upn(n: int) -> str:
    return make_upn(f"9360000{n:05d}")


def last_school_day() -> datetime.date:
    day = timezone.localdate() - datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return day


@pytest.fixture
def school(fake_wonde):
    s = SchoolFactory(name="Wonde Primary")
    head = StaffFactory(school=s, roles=["headteacher"])
    services.save_connection(s, wonde_school_id="A100", token=TOKEN, by=head)
    fake_wonde.page_size = 2  # three students: two pages
    for n in (1, 2, 3):
        fake_wonde.add_student("A100", make_student(n, upn(n), dob=dob(), contacts=2 if n == 1 else 1))
    s.head = head
    return s


def pupils_snapshot(school):
    return sorted(Pupil.objects.filter(school=school).values_list("upn", "address_line1", "on_roll", "mis_id")), \
        sorted(Contact.objects.filter(pupil__school=school).values_list("name", "phone", "email"))


def test_a_full_sync_reads_two_pages_with_the_token_and_writes_pupils_and_contacts(school, fake_wonde):
    run = services.sync(school, by=school.head)
    assert run.ok, run.error
    assert run.full and run.since is None
    pupils = Pupil.objects.filter(school=school).order_by("mis_id")
    assert [p.upn for p in pupils] == [upn(1), upn(2), upn(3)]
    first = pupils[0]
    assert (first.first_name, first.address_line1, first.town, first.postcode, first.year_group, first.date_of_birth) \
        == ("Pupil1", "1 Mill Lane", "Testford", "UB10 0AA", "4", dob())
    assert sorted(first.contacts.values_list("name", "relationship", "phone", "email")) == [
        ("Mr Parent1 Example", "Father", "07700 900001", "parent1-1@home.example"),
        ("Mrs Parent0 Example", "Mother", "07700 900001", "parent1-0@home.example")]
    student_pages = [q for p, q, _a in fake_wonde.requests if p.endswith("/students")]
    assert len(student_pages) == 2  # followed meta.pagination.next to page 2, then stopped
    assert student_pages[0]["include"] == ["contacts,contact_details,extended_details,year"]
    assert student_pages[1]["page"] == ["2"]
    assert all(a == f"Bearer {TOKEN}" for _p, _q, a in fake_wonde.requests)
    assert run.counts["added"] == 3 and run.counts["contacts_added"] == 4
    assert services.last_sync(school) == run
    assert AuditEntry.objects.filter(school=school, action="mis.synced").count() == 1


def test_an_incremental_sync_moves_an_address_and_marks_a_deleted_student_as_left(school, fake_wonde):
    first = services.sync(school, by=school.head)
    assert first.ok
    fake_wonde.requests.clear()
    fake_wonde.add_student("A100", make_student(2, upn(2), dob=dob(), street="Canal Street"))
    fake_wonde.delete_student("A100", "B000000003")
    run = services.sync(school, by=school.head)
    assert run.ok, run.error
    assert not run.full and run.since == first.started
    queries = {p.rsplit("/", 1)[-1] if "attendance" not in p else "session": q for p, q, _a in fake_wonde.requests}
    assert queries["students"]["updated_after"] == [first.started.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")]
    assert queries["deletions"]["type"] == ["student"]
    moved = Pupil.objects.get(school=school, upn=upn(2))
    assert moved.address_line1 == "2 Canal Street" and moved.on_roll
    gone = Pupil.objects.get(school=school, upn=upn(3))
    assert not gone.on_roll and gone.left_on == timezone.localdate()  # never deleted
    assert Pupil.objects.get(school=school, upn=upn(1)).on_roll  # not in the changes: untouched
    assert (run.counts["updated"], run.counts["left"]) == (1, 1)


def test_an_incremental_sync_with_nothing_changed_changes_nothing(school, fake_wonde):
    services.sync(school, by=school.head)
    before = pupils_snapshot(school)
    run = services.sync(school)
    assert run.ok and run.counts["students"] in (0, 3)  # Wonde may resend what changed in the same second
    assert run.counts["added"] == run.counts["updated"] == run.counts["left"] == 0
    assert pupils_snapshot(school) == before


@pytest.mark.parametrize("fault, words", [
    (401, "refused the school's token"),
    (403, "has not approved Doorstep's access"),
    (500, "problem on its side (error 500)"),
    ((429, "0"), "limiting how often"),
    ("malformed", "not readable (not JSON)"),
    ("no-data", "no list of records"),
])
def test_wonde_failing_on_a_later_page_changes_nothing_and_says_why(school, fake_wonde, client, fault, words):
    assert services.sync(school).ok
    fake_wonde.add_student("A100", make_student(2, upn(2), dob=dob(), street="Canal Street"))
    fake_wonde.add_student("A100", make_student(4, upn(4), dob=dob()))
    fake_wonde.delete_student("A100", "B000000003")
    before = pupils_snapshot(school)
    # Page 1 of the students is fine; then the fault, as many times as a 429 is retried.
    fake_wonde.script = [None] + [fault] * 5
    run = services.sync(school, by=school.head, client=WondeClient(
        fake_wonde.url, "A100", TOKEN, sleep=lambda s: None))
    assert run.ok is False and words in run.error and "Nothing was changed" in run.error
    assert pupils_snapshot(school) == before
    assert AuditEntry.objects.filter(school=school, action="mis.sync_failed").count() == 1
    client.force_login(school.head.user)
    page = client.get(reverse("mis:wonde")).content.decode()
    assert "The last sync failed" in page and words.replace("'", "&#x27;") in page


def test_a_429_is_waited_out_as_retry_after_says(school, fake_wonde):
    waits = []
    fake_wonde.script = [(429, "7"), (429, "2")]
    run = services.sync(school, client=WondeClient(fake_wonde.url, "A100", TOKEN, sleep=waits.append))
    assert run.ok, run.error
    assert waits == [7.0, 2.0]
    assert Pupil.objects.filter(school=school).count() == 3


def test_a_student_wonde_sends_without_an_address_refuses_the_whole_sync_naming_it(school, fake_wonde):
    bad = make_student(5, upn(5), dob=dob())
    bad["contact_details"]["data"]["addresses"] = None  # the school did not share addresses
    fake_wonde.add_student("A100", bad)
    run = services.sync(school)
    assert run.ok is False
    assert "Wonde id B000000005" in run.error and "postcode" in run.error
    assert not Pupil.objects.filter(school=school).exists()


def test_the_token_is_encrypted_at_rest_and_never_shown_back(school, client):
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_encrypted, token_hint FROM mis_wondeconnection")
        stored, hint = cursor.fetchone()
    assert TOKEN not in stored and TOKEN[:8] not in stored
    assert hint == "1234"
    assert not AuditEntry.objects.filter(summary__contains=TOKEN).exists()
    assert not any(TOKEN in str(e.data) for e in AuditEntry.objects.all())
    client.force_login(school.head.user)
    page = client.get(reverse("mis:wonde")).content.decode()
    assert TOKEN not in page and "•••• 1234" in page


def test_a_new_token_from_the_page_replaces_the_old_and_a_blank_one_keeps_it(school, client):
    client.force_login(school.head.user)
    response = client.post(reverse("mis:wonde"), {"action": "save", "wonde_school_id": "A100", "token": ""})
    assert response.status_code == 302
    assert services.client_for(WondeConnection.objects.get(school=school)).session.headers["Authorization"] \
        == f"Bearer {TOKEN}"
    client.post(reverse("mis:wonde"), {"action": "save", "wonde_school_id": "A100", "token": "new-token-9876"})
    conn = WondeConnection.objects.get(school=school)
    assert conn.token_hint == "9876" and "new-token" not in conn.token_encrypted


def test_sync_now_on_the_page(school, client, fake_wonde, settings, django_capture_on_commit_callbacks):
    # The worker's part runs at once here (docs/mis-sync.md: "Sync now" runs in the background).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    client.force_login(school.head.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mis:wonde"), {"action": "sync"})
    # (The captured commit runs the worker's part after the response here: the page said "requested".)
    assert "Sync requested" in client.get(response.url).content.decode()
    assert Pupil.objects.filter(school=school).count() == 3


def test_only_the_head_and_business_manager_reach_the_page(school, client):
    teacher = StaffFactory(school=school, roles=["teacher"])
    client.force_login(teacher.user)
    assert client.get(reverse("mis:wonde")).status_code == 403
    assert client.post(reverse("mis:wonde"), {"action": "sync"}).status_code == 403
    assert not SyncRun.objects.exists()
    manager = StaffFactory(school=school, roles=["business_manager"])
    client.force_login(manager.user)
    assert client.get(reverse("mis:wonde")).status_code == 200


def test_school_a_sync_never_touches_school_b(school, fake_wonde):
    other = SchoolFactory(name="Other School")
    # School B already has a pupil with the same UPN as one of A's students in Wonde.
    theirs = PupilFactory(school=other, upn=upn(1), address_line1="9 Their Road")
    other_head = StaffFactory(school=other, roles=["headteacher"])
    services.save_connection(other, wonde_school_id="B200", token=TOKEN, by=other_head)
    fake_wonde.add_student("B200", make_student(50, upn(50), dob=dob()))
    assert services.sync(school).ok
    theirs.refresh_from_db()
    assert theirs.address_line1 == "9 Their Road" and theirs.on_roll
    assert list(Pupil.objects.filter(school=other).values_list("upn", flat=True)) == [upn(1)]
    assert all("/schools/A100/" in p for p in fake_wonde.paths())
    assert services.last_sync(other) is None
    # And a full sync of B (which marks pupils missing from Wonde as left) leaves A alone.
    assert services.sync(other, full=True).ok
    assert Pupil.objects.filter(school=school, on_roll=True).count() == 3


def test_attendance_marks_come_through_the_attendance_import(school, fake_wonde):
    day = last_school_day()
    fake_wonde.add_mark("A100", session_mark(1, "B000000001", day, "AM", "/"))
    fake_wonde.add_mark("A100", session_mark(2, "B000000001", day, "PM", "O"))
    fake_wonde.add_mark("A100", session_mark(3, "B000000002", day, "AM", "-"))  # no mark taken yet
    run = services.sync(school)
    assert run.ok, run.error
    marks = sorted(AttendanceMark.objects.filter(pupil__school=school).values_list("pupil__upn", "session", "code"))
    assert marks == [(upn(1), "AM", "/"), (upn(1), "PM", "O")]
    assert run.counts["marks_new"] == 2


def test_marks_from_wonde_count_towards_the_penalty_indicator_in_their_school_week(school, fake_wonde):
    day = last_school_day()
    fake_wonde.add_mark("A100", session_mark(1, "B000000001", day, "AM", "N"))
    fake_wonde.add_mark("A100", session_mark(2, "B000000001", day, "PM", "O"))
    assert services.sync(school).ok
    # The sync's marks note their week like any import's, so the indicator finds them.
    assert school_weeks(school, day) == [monday(day)]
    counts, span = penalty_counts(school, day)
    assert span == (monday(day), day) and counts == {Pupil.objects.get(upn=upn(1)).pk: 2}


def test_a_bad_attendance_code_refuses_everything_including_the_pupils(school, fake_wonde):
    fake_wonde.add_mark("A100", session_mark(1, "B000000001", last_school_day(), "AM", "9"))
    run = services.sync(school)
    assert run.ok is False
    assert "attendance mark 1: '9' is not an attendance code" in run.error
    assert not Pupil.objects.filter(school=school).exists()
    assert not AttendanceMark.objects.exists()


def test_the_command_exits_0_synced_1_failed_2_bad_arguments(school, fake_wonde):
    out = io.StringIO()
    call_command("sync_mis", "--school", "Wonde Primary", stdout=out)
    assert "3 new" in out.getvalue()
    fake_wonde.script = [401]
    err = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("sync_mis", "--school", "Wonde Primary", "--full", stderr=err)
    assert failed.value.returncode == 1 and "refused the school's token" in err.getvalue()
    with pytest.raises(CommandError) as bad:
        call_command("sync_mis", "--school", "No Such School")
    assert bad.value.returncode == 2
    with pytest.raises(CommandError) as neither:
        call_command("sync_mis")
    assert neither.value.returncode == 2


def test_the_daily_job_syncs_every_connected_school(school, fake_wonde):
    from doorstep.management.commands import daily

    assert "sync_mis" in daily.JOBS
    call_command("daily", stdout=io.StringIO(), stderr=io.StringIO())
    assert Pupil.objects.filter(school=school).count() == 3


def test_a_week_after_the_last_full_sync_the_next_one_reads_everything_again(school, fake_wonde):
    first = services.sync(school)
    assert first.full
    assert not services.sync(school).full  # the next day: changes only
    SyncRun.objects.filter(pk=first.pk).update(started=first.started - datetime.timedelta(days=8))
    SyncRun.objects.exclude(pk=first.pk).update(full=False, started=timezone.now() - datetime.timedelta(days=1))
    # A pupil Wonde no longer has, whose deletion Wonde never listed, is found out by the full read.
    fake_wonde.school("A100")["students"].pop("B000000002")
    run = services.sync(school)
    assert run.full and run.since is None and run.ok
    assert not Pupil.objects.get(school=school, upn=upn(2)).on_roll


def test_sync_mis_all_carries_on_past_a_school_whose_sync_fails_then_exits_1_naming_it(school, fake_wonde):
    other = SchoolFactory(name="Refused School")
    other_head = StaffFactory(school=other, roles=["headteacher"])
    services.save_connection(other, wonde_school_id="B200", token="a-revoked-token", by=other_head)
    err = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("sync_mis", "--all", stdout=io.StringIO(), stderr=err)
    assert failed.value.returncode == 1 and "Refused School" in str(failed.value)
    assert "refused the school's token" in err.getvalue()
    assert Pupil.objects.filter(school=school).count() == 3  # the other school was still synced


def test_a_token_stored_under_another_key_fails_the_sync_in_words(school, settings):
    settings.DOORSTEP_ENCRYPTION_KEY = "a-different-key-after-a-rotation"
    run = services.sync(school)
    assert run.ok is False and "Enter the school's Wonde token again" in run.error
    assert not Pupil.objects.filter(school=school).exists()
