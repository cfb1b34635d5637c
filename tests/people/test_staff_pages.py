"""Staff on Doorstep's own pages (issue 14 §2): adding staff one by one and from a CSV file
(all or nothing, every bad line named), editing the register with before → after in the audit
trail, leavers (deactivated, never deleted) and who may do any of it."""
import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Invitation
from audit.models import AuditEntry
from notify.models import Message
from people.models import DbsCheck, StaffMember
from people.services import set_pins
from reports import services as report_services
from visits import services as visit_services

from tests.factories import PASSWORD, Staffed, _hashed_password

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    _hashed_password()


@pytest.fixture
def school():
    return Staffed("coteford")


def signed_in(client, staff):
    client.force_login(staff.user)
    return client


def upload(text, name="staff.csv"):
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


GOOD = "name,email,mobile,roles\nNia Newhead,nia@school.example,07700 900111,Teacher\n" \
       "Sam Smith,sam@school.example,,Teacher; Designated safeguarding lead\n"


def test_csv_is_all_or_nothing_with_every_bad_line_named(school, client):
    signed_in(client, school.sbm)
    bad = ("name,email,mobile,roles\n"
           "Nia Newhead,nia@school.example,07700 900111,Teacher\n"            # line 2: fine
           "Bob Bad,not-an-email,12345,Teacher\n"                             # line 3: email, mobile
           f"Tess Again,{school.teacher.email},,Teacher\n"                    # line 4: already on the register
           "Nia Twice,NIA@school.example,,Teacher\n"                          # line 5: twice in the file
           "Rory Role,rory@school.example,,Caretaker\n")                      # line 6: unknown role
    before = StaffMember.objects.count()
    page = client.post(reverse("accounts:staff_import"), {"file": upload(bad)})
    text = page.content.decode()
    assert page.status_code == 200 and "nothing was added" in text
    named = {(3, "email"), (3, "mobile"), (4, "email"), (5, "email"), (6, "roles")}
    for line, column in named:
        assert f'<td data-label="Line">{line}</td><td data-label="Column">{column}</td>' in text, (line, column)
    assert "Caretaker" in text and "also on line 2" in text
    assert StaffMember.objects.count() == before
    assert not Message.objects.filter(kind="staff.invitation").exists() and not Invitation.objects.exists()

    done = client.post(reverse("accounts:staff_import"), {"file": upload(GOOD)})
    assert done.status_code == 302
    sam = StaffMember.objects.get(email="sam@school.example")
    assert sorted(sam.role_names) == ["dsl", "teacher"] and sam.school == school.school
    assert Message.objects.filter(kind="staff.invitation", recipient=sam, to_address="sam@school.example").exists()
    assert AuditEntry.objects.filter(action="staff.imported").count() == 1
    # The same file again: everyone is already there, so nobody is added twice.
    again = client.post(reverse("accounts:staff_import"), {"file": upload(GOOD)})
    assert "already on the staff register" in again.content.decode()
    assert StaffMember.objects.filter(email="sam@school.example").count() == 1


def test_adding_one_person_shows_errors_by_the_field_and_invites(school, client):
    signed_in(client, school.head)
    page = client.post(reverse("accounts:staff_add"), {"full_name": "Zed Zee", "email": "zed@school.example",
                                                        "mobile": "0123", "roles": ["teacher"]})
    assert page.status_code == 200
    assert 'id="field-mobile"' in page.content.decode() and "not a UK mobile" in page.content.decode()
    assert not StaffMember.objects.filter(full_name="Zed Zee").exists()
    done = client.post(reverse("accounts:staff_add"), {"full_name": "Zed Zee", "email": "zed@school.example",
                                                        "mobile": "07700 900222", "roles": ["teacher", "office"]})
    assert done.status_code == 302
    zed = StaffMember.objects.get(full_name="Zed Zee")
    assert Invitation.objects.filter(staff=zed).count() == 1


def test_register_edits_are_audited_with_before_and_after(school, client):
    signed_in(client, school.sbm)
    teacher = school.teacher
    old_mobile = teacher.mobile
    response = client.post(reverse("people:staff_edit", args=[teacher.pk]), {
        "full_name": teacher.full_name, "job_title": "", "mobile": "07700 900999", "email": teacher.email,
        "appearance": "", "trained_home_visitor": "on", "roles": ["teacher", "dsl"]})
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(action="staff.changed").latest("id")
    assert entry.data["changes"]["mobile"] == [old_mobile, "07700 900999"]
    assert entry.data["changes"]["roles"] == ["Teacher", "Designated safeguarding lead, Teacher"]
    assert entry.actor == school.sbm.user and f"{old_mobile} → 07700 900999" in entry.summary

    bad = client.post(reverse("people:staff_row_add", args=[teacher.pk, "dbs"]),
                      {"level": "enhanced", "certificate_number": "001234567890", "issued_on": ""})
    assert bad.status_code == 200 and 'id="field-issued_on"' in bad.content.decode()
    issued = timezone.localdate() - datetime.timedelta(days=30)
    client.post(reverse("people:staff_row_add", args=[teacher.pk, "dbs"]),
                {"level": "standard", "certificate_number": "001234567890", "issued_on": issued.isoformat()})
    dbs = DbsCheck.objects.get(staff=teacher, certificate_number="001234567890")
    client.post(reverse("people:staff_row_edit", args=[teacher.pk, "dbs", dbs.pk]),
                {"level": "enhanced", "barred_list_checked": "on", "certificate_number": "001234567890",
                 "issued_on": issued.isoformat()})
    changed = AuditEntry.objects.filter(action="staff.dbscheck_changed").latest("id")
    assert changed.data["changes"]["level"] == ["Standard", "Enhanced"]
    assert changed.data["changes"]["barred_list_checked"] == ["no", "yes"]
    client.post(reverse("people:staff_row_remove", args=[teacher.pk, "dbs", dbs.pk]))
    assert not DbsCheck.objects.filter(pk=dbs.pk).exists()
    assert AuditEntry.objects.filter(action="staff.dbscheck_removed").exists()

    renewed = (timezone.localdate() + datetime.timedelta(days=200)).isoformat()
    car = {"make": "Ford", "model": "Fiesta", "colour": "Blue", "registration": "AB12 CDE",
           "insurance_expires_on": (timezone.localdate() + datetime.timedelta(days=10)).isoformat(),
           "business_use_cover": "on", "active": "on"}
    client.post(reverse("people:staff_row_add", args=[teacher.pk, "vehicle"]), car)
    vehicle = teacher.vehicles.get(registration="AB12 CDE")
    client.post(reverse("people:staff_row_edit", args=[teacher.pk, "vehicle", vehicle.pk]),
                {**car, "insurance_expires_on": renewed})
    insurance = AuditEntry.objects.filter(action="staff.vehicle_changed").latest("id").data["changes"]
    assert list(insurance) == ["insurance_expires_on"]
    vehicle.refresh_from_db()
    assert vehicle.insurance_expires_on.isoformat() == renewed


def test_a_leaver_cannot_sign_in_and_their_token_feed_and_pins_stop(school, client):
    teacher = school.teacher
    set_pins(teacher, safe_pin="2468", duress_pin="1357", by=teacher)
    token, raw = ApiToken.make(staff=teacher, name="Phone", scopes=["read"],
                               expires_at=timezone.now() + datetime.timedelta(days=30), created_by=teacher.user)
    feed = report_services.create_calendar_feed(teacher)
    assert client.get("/api/visits", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    assert client.get(reverse("reports:calendar_feed", args=[feed])).status_code == 200

    head = signed_in(client, school.head)
    assert head.post(reverse("accounts:staff_leave", args=[teacher.pk])).status_code == 302
    client.logout()
    teacher.refresh_from_db()
    assert not teacher.active and not teacher.has_pins and StaffMember.objects.filter(pk=teacher.pk).exists()
    assert not client.login(username=teacher.user.username, password=PASSWORD)
    assert client.get("/api/visits", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert client.get(reverse("reports:calendar_feed", args=[feed])).status_code == 404
    entry = AuditEntry.objects.get(action="staff.deactivated")
    assert entry.data["api_tokens_ended"] == 1 and entry.data["calendar_feeds_ended"] == 1 and entry.data["pins_cleared"]

    # A mistake: brought back, they can sign in again (PINs are for them to set again).
    signed_in(client, school.head).post(reverse("accounts:staff_reactivate", args=[teacher.pk]))
    client.logout()
    teacher.refresh_from_db()
    assert teacher.active and client.login(username=teacher.user.username, password=PASSWORD)
    assert AuditEntry.objects.filter(action="staff.reactivated").exists()


def test_refused_while_on_visits_ahead(school, client):
    visit = visit_services.propose(school.officer, **school.visit_kwargs())
    signed_in(client, school.sbm)
    page = client.get(reverse("accounts:staff_leave", args=[school.teacher.pk]))
    text = page.content.decode()
    assert "still to come" in text and reverse("visits:detail", args=[visit.pk]) in text
    # Each visit's line offers both ways out the page above it names, not only withdrawing.
    assert "(proposed) — hand it over or withdraw it" in text
    refused = client.post(reverse("accounts:staff_leave", args=[school.teacher.pk]))
    assert refused.status_code == 200 and "Give each one to someone else" in refused.content.decode()
    school.teacher.refresh_from_db()
    assert school.teacher.active and not AuditEntry.objects.filter(action="staff.deactivated").exists()


@pytest.mark.parametrize("who", ["teacher", "office", "deputy", "dsl"])
def test_only_the_head_and_business_manager_may_change_staff(school, client, who):
    signed_in(client, getattr(school, who))
    target = school.family
    assert client.get(reverse("accounts:staff_add")).status_code == 403
    assert client.post(reverse("accounts:staff_import"), {"file": upload(GOOD)}).status_code == 403
    assert client.post(reverse("accounts:staff_leave", args=[target.pk])).status_code == 403
    assert client.post(reverse("accounts:staff_invite", args=[target.pk])).status_code == 403
    assert client.post(reverse("people:staff_edit", args=[target.pk]), {"full_name": "X"}).status_code == 403
    assert client.get(reverse("people:staff_row_add", args=[target.pk, "dbs"])).status_code == 403
    target.refresh_from_db()
    assert target.active and target.full_name == "Fran Family"
    assert not StaffMember.objects.filter(email="sam@school.example").exists()


def test_one_school_cannot_touch_anothers_staff(school, client):
    other = Staffed("potton", name="Other Primary")
    signed_in(client, other.head)
    target = school.teacher
    assert client.post(reverse("accounts:staff_leave", args=[target.pk])).status_code == 404
    assert client.post(reverse("accounts:staff_invite", args=[target.pk])).status_code == 404
    assert client.post(reverse("accounts:staff_reactivate", args=[target.pk])).status_code == 404
    assert client.get(reverse("people:staff_edit", args=[target.pk])).status_code == 404
    assert client.post(reverse("people:staff_row_add", args=[target.pk, "training"]),
                       {"course": "first_aid", "completed_on": timezone.localdate().isoformat()}).status_code == 404
    target.refresh_from_db()
    assert target.active and not target.training.filter(course="first_aid").exists()
