"""The school's own column headings on the pupils import page: after uploading, each of
Doorstep's fields is matched to one of the file's headings (filled in from the preset or the
school's saved columns), saved as the school's columns and used; a bad choice is refused."""
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from pupils.models import Pupil, PupilImportMapping
from tests.factories import SchoolFactory, StaffFactory

pytestmark = pytest.mark.django_db
SIMS = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "pupils-sims.csv").read_bytes()
RENAMED = {b"Person ID": b"Pupil Ref", b"Legal Surname": b"Family name", b"DOB": b"Birth date",
           b"Year": b"NC Year", b"Contact Surname": b"Carer surname"}


def own_headings() -> bytes:
    header, rest = SIMS.split(b"\n", 1)
    cells = header.split(b",")
    return b",".join(RENAMED.get(c, c) for c in cells) + b"\n" + rest


def client_for(staff):
    c = Client()
    c.force_login(staff.user)
    return c


def upload(c, data, mapping="sims"):
    return c.post(reverse("pupils:import"), {"action": "check", "mapping": mapping,
                                             "file": SimpleUploadedFile("export.csv", data, "text/csv")})


def choices(response, **changes):
    """What the column form would post as filled in on the page, with `changes` (field=heading)."""
    columns = response.context["columns"]
    data = {"action": "columns", "date_format": columns["date_format"], "name": columns["name"]}
    for row in columns["rows"]:
        data[f"col_{row['field']}"] = row["first"]
        if row["joinable"]:
            data[f"col2_{row['field']}"] = row["second"]
    data.update({f"col_{k}": v for k, v in changes.items()})
    return data


@pytest.fixture
def school():
    s = SchoolFactory(name="Own Columns Primary")
    s.manager = StaffFactory(school=s, roles=["business_manager"], full_name="Sam Business")
    return s


def test_a_file_with_its_own_headings_is_matched_saved_and_imported(school):
    c = client_for(school.manager)
    step = upload(c, own_headings())
    html = step.content.decode()
    assert "Which column of export.csv holds what" in html and "ready to import" not in html
    rows = {r["field"]: r for r in step.context["columns"]["rows"]}
    # Filled in where the file's headings are the preset's; left to choose where they are not.
    assert rows["upn"]["first"] == "UPN" and (rows["address_line1"]["first"], rows["address_line1"]["second"]) == \
        ("House No", "Street")
    assert rows["last_name"]["first"] == "" and rows["date_of_birth"]["first"] == ""
    assert "Family name (e.g. Okafor)" in html  # each heading with its value on the first line
    assert not PupilImportMapping.objects.exists() and not Pupil.objects.exists()

    done = c.post(reverse("pupils:import"), choices(step, mis_id="Pupil Ref", last_name="Family name",
                                                    date_of_birth="Birth date", year_group="NC Year",
                                                    contact_last_name="Carer surname"))
    body = done.content.decode()
    assert "export.csv is ready to import" in body and "Saved your columns as “Our MIS export”" in body
    saved = PupilImportMapping.objects.get(school=school)
    assert saved.name == "Our MIS export" and saved.columns["last_name"] == "Family name"
    assert saved.columns["address_line1"] == ["House No", "Street"]
    entry = AuditEntry.objects.get(action="pupils.mapping_saved")
    assert entry.school == school and entry.actor_name == "Sam Business"
    assert not Pupil.objects.exists()  # nothing written before Import
    c.post(reverse("pupils:import"), {"action": "import"})
    assert Pupil.objects.filter(school=school).count() == 3
    assert set(Pupil.objects.values_list("last_name", flat=True)) >= {"Okafor"}

    # The next import: the saved columns are offered and the file goes straight to its check.
    assert "Our MIS export (saved by your school)" in c.get(reverse("pupils:import")).content.decode()
    again = upload(c, own_headings(), mapping="Our MIS export").content.decode()
    assert "export.csv is ready to import" in again


def test_a_needed_field_left_unmatched_or_a_column_chosen_twice_is_refused_and_nothing_saved(school):
    c = client_for(school.manager)
    step = upload(c, own_headings())
    refused = c.post(reverse("pupils:import"), choices(step, mis_id="Pupil Ref", last_name="Family name",
                                                       date_of_birth="Birth date", year_group="",
                                                       contact_last_name="Family name"))
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Choose the column that holds the year group: Doorstep needs it." in html
    assert "“Family name” is already chosen for the last name: each column holds one thing." in html
    assert 'aria-invalid="true"' in html
    # What was chosen stays chosen.
    rows = {r["field"]: r for r in refused.context["columns"]["rows"]}
    assert rows["date_of_birth"]["first"] == "Birth date"
    assert not PupilImportMapping.objects.exists() and not AuditEntry.objects.filter(action="pupils.mapping_saved")


def test_a_presets_name_or_a_heading_not_in_the_file_is_refused(school):
    c = client_for(school.manager)
    step = upload(c, own_headings())
    data = choices(step, mis_id="Pupil Ref", last_name="Family name", date_of_birth="Birth date",
                   year_group="Secret column", contact_last_name="Carer surname")
    data["name"] = "SIMS student list with contacts"
    html = c.post(reverse("pupils:import"), data).content.decode()
    assert "“Secret column” is not a column of this file." in html
    assert "one of Doorstep&#x27;s own presets" in html
    assert not PupilImportMapping.objects.exists()


def test_columns_can_be_changed_from_the_check_and_the_same_name_replaces_them(school):
    c = client_for(school.manager)
    ready = upload(c, SIMS)
    assert "ready to import" in ready.content.decode()
    step = c.post(reverse("pupils:import"), {"action": "edit_columns"})
    assert "Which column of export.csv holds what" in step.content.decode()
    data = choices(step, town="")
    data["name"] = "Ours"
    c.post(reverse("pupils:import"), data)
    c.post(reverse("pupils:import"), {**data, "col_class_name": ""})
    assert list(PupilImportMapping.objects.filter(school=school).values_list("name", flat=True)) == ["Ours"]
    assert "class_name" not in PupilImportMapping.objects.get().columns
    assert AuditEntry.objects.filter(action="pupils.mapping_saved").count() == 2


def test_one_schools_saved_columns_are_not_another_schools(school):
    c = client_for(school.manager)
    step = upload(c, own_headings())
    c.post(reverse("pupils:import"), choices(step, mis_id="Pupil Ref", last_name="Family name",
                                             date_of_birth="Birth date", year_group="NC Year",
                                             contact_last_name="Carer surname"))
    other = SchoolFactory(name="Other Primary")
    theirs = client_for(StaffFactory(school=other, roles=["business_manager"]))
    page = theirs.get(reverse("pupils:import")).content.decode()
    assert "Our MIS export" not in page and "Family name" not in page
    refused = upload(theirs, own_headings(), mapping="Our MIS export")
    assert "Select a valid choice" in refused.content.decode()
    assert not Pupil.objects.filter(school=other).exists()
    # Saving the same name at the other school makes its own row; the first school's is untouched.
    step = upload(theirs, own_headings())
    theirs.post(reverse("pupils:import"), choices(step, mis_id="Pupil Ref", last_name="Family name",
                                                  date_of_birth="Birth date", year_group="NC Year",
                                                  contact_last_name="Carer surname", town=""))
    assert PupilImportMapping.objects.get(school=school).columns["town"] == "Town"
    assert "town" not in PupilImportMapping.objects.get(school=other).columns
