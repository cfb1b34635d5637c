"""The pupils import page: check the file, see the counts (or every bad line), then Import."""
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from pupils.models import Pupil
from tests.factories import SchoolFactory, StaffFactory

pytestmark = pytest.mark.django_db
SIMS = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "pupils-sims.csv").read_bytes()


def client_for(staff):
    c = Client()
    c.force_login(staff.user)
    return c


def upload(c, data, name="pupils.csv", mapping="sims"):
    return c.post(reverse("pupils:import"), {"action": "check", "mapping": mapping,
                                             "file": SimpleUploadedFile(name, data, "text/csv")})


@pytest.mark.parametrize("role,allowed", [("headteacher", True), ("business_manager", True), ("office", True),
                                          ("teacher", False), ("dsl", False), ("attendance_officer", False)])
def test_who_may_open_the_import_page(role, allowed):
    staff = StaffFactory(school=SchoolFactory(), roles=[role])
    assert client_for(staff).get(reverse("pupils:import")).status_code == (200 if allowed else 403)


def test_check_shows_the_counts_and_writes_nothing_until_import():
    school = SchoolFactory()
    c = client_for(StaffFactory(school=school, roles=["business_manager"]))
    body = upload(c, SIMS).content.decode()
    assert "pupils.csv is ready to import" in body and "<th scope=\"row\">New pupils</th><td>3</td>" in body
    assert not Pupil.objects.filter(school=school).exists()
    r = c.post(reverse("pupils:import"), {"action": "import"})
    assert r.status_code == 302
    assert Pupil.objects.filter(school=school).count() == 3
    assert AuditEntry.objects.filter(school=school, action="pupils.imported").count() == 1
    assert "Imported pupils.csv: 3 new" in c.get(r["Location"]).content.decode()
    # Import again with nothing pending does nothing.
    assert c.post(reverse("pupils:import"), {"action": "import"}).status_code == 200
    assert AuditEntry.objects.filter(school=school, action="pupils.imported").count() == 1


def test_a_bad_line_is_named_on_the_page_and_nothing_is_written():
    school = SchoolFactory()
    c = client_for(StaffFactory(school=school, roles=["office"]))
    body = upload(c, SIMS.replace(b"02/11/2014", b"2014/31/31")).content.decode()
    assert "Nothing was imported: 1 problem to fix" in body
    assert "line 4, column DOB: &#x27;2014/31/31&#x27; is not a date" in body
    assert "ready to import" not in body
    assert c.post(reverse("pupils:import"), {"action": "import"}).status_code == 200
    assert not Pupil.objects.filter(school=school).exists()


def test_a_preview_in_one_school_cannot_be_imported_into_another():
    a, b = SchoolFactory(), SchoolFactory()
    head_a = StaffFactory(school=a, roles=["headteacher"])
    c = client_for(head_a)
    upload(c, SIMS)
    head_a.school = b
    head_a.save()
    c.post(reverse("pupils:import"), {"action": "import"})
    assert not Pupil.objects.filter(school__in=[a, b]).exists()
