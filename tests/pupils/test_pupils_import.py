"""Importing pupils and contacts from a MIS export (CSV): all or nothing, idempotent, presets."""
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditEntry
from pupils.csv_import import (
    BUILTIN_MAPPINGS, ImportFailed, Mapping, UnknownMapping, import_file, mapping_for, save_mapping,
)
from pupils.models import Contact, Pupil
from tests.factories import PupilFactory, SchoolFactory

pytestmark = pytest.mark.django_db
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
SIMS = (EXAMPLES / "pupils-sims.csv").read_text()


def run(school, text: str, mapping: str = "sims", **kw):
    return import_file(school, io.BytesIO(text.encode()), mapping_for(school, mapping), by=None,
                       file_name="pupils.csv", **kw)


def lines() -> list[str]:
    return SIMS.splitlines()


@pytest.mark.parametrize("preset", sorted(BUILTIN_MAPPINGS))
def test_each_presets_example_file_imports(preset):
    school = SchoolFactory()
    counts = run(school, (EXAMPLES / f"pupils-{preset}.csv").read_text(), preset)
    assert (counts.added, counts.contacts_added) == (3, 3)
    amara = Pupil.objects.get(school=school, first_name="Amara")
    assert (amara.year_group, amara.address_line1, amara.postcode, amara.mis_id) == ("5", "12 Brook Street",
                                                                                      "CF1 2AB", "1001")
    assert [(c.name, c.priority, c.lives_with_pupil) for c in amara.contacts.all()] == [
        ("Grace Okafor", 1, True), ("Daniel Okafor", 2, False)]


def test_one_bad_line_writes_nothing_and_names_line_and_column():
    school = SchoolFactory()
    bad = lines()
    bad[3] = bad[3].replace(",Year 6,", ",Year 16,")           # line 4: the year group
    bad[2] = bad[2].replace("grace", "").replace(",,Yes,No", ",not-an-email,Yes,No")  # line 3: the email
    with pytest.raises(ImportFailed) as failed:
        run(school, "\n".join(bad))
    where = {(p.line, p.column) for p in failed.value.problems}
    assert where == {(4, "Year"), (3, "Contact Email")}, failed.value.errors
    assert "Year 16" in str(failed.value.problems[-1])
    assert not Pupil.objects.filter(school=school).exists() and not Contact.objects.exists()
    assert AuditEntry.objects.filter(school=school, action="pupils.import_failed").count() == 1


def test_a_bad_upn_and_a_missing_column_are_named():
    school = SchoolFactory()
    bad = lines()
    bad[4] = bad[4].replace("L820200100003", "A820200100003")
    with pytest.raises(ImportFailed) as failed:
        run(school, "\n".join(bad))
    (problem,) = failed.value.problems
    assert (problem.line, problem.column) == (5, "UPN") and "check letter" in problem.why
    with pytest.raises(ImportFailed) as failed:
        run(school, SIMS.replace("Legal Surname", "Surname"))
    assert failed.value.problems[0].line == 1 and failed.value.problems[0].column == "Legal Surname"


def test_reimport_changes_nothing_and_changes_are_updated_and_missing_pupils_marked_left():
    school = SchoolFactory()
    run(school, SIMS)
    again = run(school, SIMS)
    assert (again.added, again.updated, again.unchanged, again.left,
            again.contacts_added, again.contacts_updated, again.contacts_removed) == (0, 0, 3, 0, 0, 0, 0)
    leo = Pupil.objects.get(school=school, first_name="Leo")
    note = leo.household_notes.create(kind="access", text="Side gate", recorded_at=timezone.now())
    changed = lines()
    changed[1] = changed[1].replace("Brook Street", "Tanner Row").replace("07700 900101", "07700 900555")
    changed[2] = changed[2].replace("Brook Street", "Tanner Row").replace("07700 900102", "07700 900555")
    changed[1] = changed[1].replace(",Year 5,", ",Year 6,")
    changed[2] = changed[2].replace(",Year 5,", ",Year 6,")
    del changed[3]  # Leo has gone
    counts = run(school, "\n".join(changed))
    assert (counts.updated, counts.unchanged, counts.left, counts.contacts_updated, counts.contacts_removed) == (
        1, 1, 1, 2, 0)
    amara = Pupil.objects.get(school=school, first_name="Amara")
    assert (amara.address_line1, amara.year_group) == ("12 Tanner Row", "6")
    assert set(amara.contacts.values_list("phone", flat=True)) == {"07700 900555"}
    leo.refresh_from_db()
    assert not leo.on_roll and leo.left_on is not None
    assert leo.household_notes.get() == note and leo.contacts.count() == 1  # history kept


def test_an_import_for_one_school_never_touches_anothers_pupil_with_the_same_upn():
    a, b = SchoolFactory(), SchoolFactory()
    theirs = PupilFactory(school=b, upn="H820200100001", first_name="Someone", address_line1="1 Other Road")
    run(a, SIMS)
    run(a, "\n".join(lines()[:2]))  # A's roll shrinks: only A's pupils are marked left
    theirs.refresh_from_db()
    assert (theirs.first_name, theirs.address_line1, theirs.on_roll) == ("Someone", "1 Other Road", True)
    assert Pupil.objects.filter(school=a, on_roll=False).count() == 2


def test_preview_counts_without_writing():
    school = SchoolFactory()
    counts = run(school, SIMS, preview=True)
    assert counts.added == 3 and not Pupil.objects.filter(school=school).exists()


def test_a_saved_mapping_reads_the_schools_own_headers():
    school = SchoolFactory()
    columns = dict(BUILTIN_MAPPINGS["sims"].columns, last_name="Family name")
    save_mapping(school, Mapping("ours", columns), "ours")
    counts = run(school, SIMS.replace("Legal Surname", "Family name"), "ours")
    assert counts.added == 3


def test_command_exit_codes(tmp_path, capsys):
    school = SchoolFactory(name="Exit Code Primary")
    good = tmp_path / "pupils.csv"
    good.write_text(SIMS)
    call_command("import_pupils", str(good), school="Exit Code Primary")
    assert "3 new" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(SIMS.replace("14/03/2016", "31/02/2016"))
    with pytest.raises(CommandError) as refused:
        call_command("import_pupils", str(bad), school="Exit Code Primary")
    assert refused.value.returncode == 1
    assert "bad.csv, line 2, column DOB: '31/02/2016' is not a date" in capsys.readouterr().err
    for args, kw in [((str(good),), {"school": "No Such School"}), ((str(good),), {"school": school.name,
                                                                                   "mapping": "nope"}),
                     ((str(tmp_path / "missing.csv"),), {"school": school.name})]:
        with pytest.raises(CommandError) as wrong:
            call_command("import_pupils", *args, **kw)
        assert wrong.value.returncode == 2
    assert Pupil.objects.filter(school=school).count() == 3


def test_the_command_adjusts_columns_and_saves_them_for_next_time(tmp_path):
    school = SchoolFactory(name="Own Columns Primary")
    ours = tmp_path / "ours.csv"
    ours.write_text(SIMS.replace("Legal Surname", "Family name").replace("14/03/2016", "2016-03-14")
                    .replace("02/11/2014", "2014-11-02").replace("30/06/2018", "2018-06-30"))
    call_command("import_pupils", str(ours), school=school.name, column=["last_name=Family name"],
                 date_format="%Y-%m-%d", save_mapping="ours")
    assert Pupil.objects.get(school=school, first_name="Amara").last_name == "Okafor"
    assert mapping_for(school, "ours").header_of("last_name") == "Family name"
    call_command("import_pupils", str(ours), school=school.name, mapping="ours")
    assert Pupil.objects.filter(school=school, on_roll=True).count() == 3
    with pytest.raises(CommandError) as wrong:
        call_command("import_pupils", str(ours), school=school.name, column=["surname=Family name"])
    assert wrong.value.returncode == 2
    with pytest.raises(UnknownMapping):
        mapping_for(SchoolFactory(), "ours")  # saved for that school only


def test_a_upn_another_pupil_of_the_school_keeps_is_refused_not_a_crash():
    school = SchoolFactory()
    run(school, SIMS)
    # Leo's MIS id now carries Amara's UPN, and Amara's rows are gone: two pupils, one UPN.
    clash = [lines()[0], lines()[3].replace("X820200100002", "H820200100001"), lines()[4]]
    with pytest.raises(ImportFailed) as failed:
        run(school, "\n".join(clash))
    (problem,) = failed.value.problems
    assert (problem.line, problem.column) == (2, "UPN") and "another pupil of the school" in problem.why
    assert Pupil.objects.get(school=school, first_name="Leo").upn == "X820200100002"
    assert Pupil.objects.filter(school=school, on_roll=True).count() == 3
