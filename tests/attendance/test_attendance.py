"""Attendance arithmetic, the 2024 code set and the all-or-nothing CSV import."""
import datetime
import io

import pytest
from django.core.management import CommandError, call_command

from attendance.importer import BUILTIN_MAPPINGS, ImportFailed, Mapping, import_marks, mapping_for, save_mapping
from attendance.models import (
    AEA, AUTHORISED, CODE_INFO, CODES, NOT_POSSIBLE, PRESENT, UNAUTHORISED, WITHDRAWN, AttendanceMark, ImportRun,
    attendance_summary, below, penalty_counts, school_weeks, summaries, summary_for, window,
)
from audit.models import AuditEntry
from pupils.upn import make_upn

from tests.factories import PupilFactory, SchoolFactory, StaffFactory

pytestmark = pytest.mark.django_db
MON = datetime.date(2025, 1, 6)  # a Monday in term


# ----------------------------------------------------------------------------- code set

@pytest.mark.parametrize("code,meaning", [
    ("/", PRESENT), ("\\", PRESENT), ("L", PRESENT), ("K", AEA), ("V", AEA), ("P", AEA), ("W", AEA), ("B", AEA),
    ("C1", AUTHORISED), ("C2", AUTHORISED), ("J1", AUTHORISED), ("M", AUTHORISED), ("I", AUTHORISED),
    ("G", UNAUTHORISED), ("N", UNAUTHORISED), ("O", UNAUTHORISED), ("U", UNAUTHORISED),
    ("D", NOT_POSSIBLE), ("X", NOT_POSSIBLE), ("Q", NOT_POSSIBLE), ("Z", NOT_POSSIBLE), ("#", NOT_POSSIBLE),
    ("Y1", NOT_POSSIBLE), ("Y7", NOT_POSSIBLE),
])
def test_each_2024_code_has_the_statistical_meaning_of_the_research(code, meaning):
    assert CODES[code] == meaning and CODE_INFO[code].description


def test_the_codes_withdrawn_in_2024_are_known_and_flagged():
    assert WITHDRAWN == {"H", "J", "Y", "F"}
    assert CODE_INFO["J"].replaced_by == "J1" and not CODE_INFO["J1"].withdrawn


# ----------------------------------------------------------------------------- arithmetic

def test_arbors_worked_example_26_present_26_late_after_close_is_fifty_percent_and_severe():
    s = attendance_summary(["/"] * 26 + ["U"] * 26 + ["D"] * 10 + ["Y4"] * 4)
    assert (s["possible"], s["percent"], s["unauthorised"], s["not_possible"]) == (52, 50.0, 26, 14)
    assert s["persistent"] and s["severe"]


def test_exactly_ninety_percent_is_persistent_absence_and_ninety_point_five_is_not():
    assert attendance_summary(["/"] * 9 + ["I"])["persistent"]
    assert not attendance_summary(["/"] * 181 + ["I"] * 19)["persistent"]  # 90.5 %


def test_codes_that_are_not_possible_sessions_do_not_lower_the_percentage():
    s = attendance_summary(["/", "\\", "V", "B", "I", "G", "X", "Z", "#", "Q", "Y2", "D"])
    assert (s["possible"], s["attended"], s["authorised"], s["unauthorised"], s["percent"]) == (6, 4, 1, 1, 66.7)


def test_the_database_counts_the_same_as_the_worked_example_over_an_inclusive_window():
    pupil = PupilFactory()
    codes = ["/", "\\", "L", "V", "I", "M", "G", "U", "D", "#"]
    for i, code in enumerate(codes):
        AttendanceMark.objects.create(pupil=pupil, date=MON + datetime.timedelta(days=i // 2), session="AM" if i % 2 == 0 else "PM", code=code)
    AttendanceMark.objects.create(pupil=pupil, date=MON - datetime.timedelta(days=1), session="AM", code="O")  # outside
    s = summary_for(pupil, MON, MON + datetime.timedelta(days=4))
    assert s == attendance_summary(codes)
    assert (s["possible"], s["attended"], s["missed"], s["percent"]) == (8, 4, 4, 50.0)
    assert summaries(AttendanceMark.objects.all(), MON, MON)[pupil.pk]["possible"] == 2  # one day, both ends included


def test_below_is_exact_so_ninety_percent_is_not_below_ninety():
    assert not below(attendance_summary(["/"] * 9 + ["N"]), 90)
    assert below(attendance_summary(["/"] * 899 + ["N"] * 101), 90)  # 89.9 %
    assert not below(attendance_summary(["#"]), 90)


def test_a_three_month_window_ends_on_the_day_and_starts_the_day_after_three_months_before():
    assert window(datetime.date(2026, 11, 23), 3) == (datetime.date(2026, 8, 24), datetime.date(2026, 11, 23))
    assert window(datetime.date(2026, 5, 31), 3) == (datetime.date(2026, 3, 1), datetime.date(2026, 5, 31))


def test_the_penalty_indicator_counts_g_n_o_u_in_the_last_ten_school_weeks_skipping_holidays():
    pupil = PupilFactory()
    # Twelve school weeks with a two-week holiday (no marks) after the fourth.
    mondays = [MON + datetime.timedelta(weeks=w) for w in list(range(4)) + list(range(6, 14))]
    for n, week in enumerate(mondays):
        AttendanceMark.objects.create(pupil=pupil, date=week, session="AM", code="G" if n < 2 else "/")
        AttendanceMark.objects.create(pupil=pupil, date=week, session="PM", code="O" if n >= 2 else "/")
    until = mondays[-1] + datetime.timedelta(days=4)
    weeks = school_weeks(pupil.school, until)
    assert weeks[0] == mondays[2] and len(weeks) == 10
    counts, span = penalty_counts(pupil.school, until)
    assert span[0] == mondays[2] and counts[pupil.pk] == 10


# ----------------------------------------------------------------------------- import

HEADER = "UPN,Forename,AttendanceDate,SessionName,AttendanceMark\n"


def csv_file(*lines, header=HEADER):
    data = io.BytesIO((header + "".join(line + "\n" for line in lines)).encode())
    data.size = len(data.getvalue())
    return data


@pytest.fixture
def school():
    return SchoolFactory(name="Coteford Junior School")


@pytest.fixture
def office(school):
    return StaffFactory(school=school, roles=["office"], full_name="Olu Office")


def test_a_sims_export_imports_and_the_same_file_again_changes_nothing(school, office):
    a, b = PupilFactory(school=school), PupilFactory(school=school)
    lines = [f"{a.upn},Ava,06/01/2025,AM,/", f"{a.upn},Ava,06/01/2025,PM,N", f"{b.upn},Ben,06/01/2025,AM,I",
             f"{b.upn},Ben,06/01/2025,PM,-"]
    run = import_marks(school, csv_file(*lines), BUILTIN_MAPPINGS["sims"], actor=office, file_name="week.csv")
    assert (run.rows, run.created, run.updated, run.unchanged, run.skipped) == (4, 3, 0, 0, 1)
    assert AuditEntry.objects.filter(action="attendance.imported", object_id=str(run.pk), actor_name="Olu Office").exists()

    again = import_marks(school, csv_file(*lines), BUILTIN_MAPPINGS["sims"], actor=office, file_name="week.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert AttendanceMark.objects.count() == 3


def test_a_changed_mark_is_updated_counted_and_audited(school, office):
    a = PupilFactory(school=school)
    import_marks(school, csv_file(f"{a.upn},Ava,06/01/2025,AM,N"), BUILTIN_MAPPINGS["sims"], actor=office)
    run = import_marks(school, csv_file(f"{a.upn},Ava,06/01/2025,AM,I"), BUILTIN_MAPPINGS["sims"], actor=office,
                       file_name="fixed.csv")
    assert (run.created, run.updated, run.unchanged) == (0, 1, 0)
    assert AttendanceMark.objects.get().code == "I"
    entry = AuditEntry.objects.get(action="attendance.mark_changed")
    assert entry.data["from"] == "N" and entry.data["to"] == "I" and "fixed.csv" in entry.summary


def test_a_file_with_bad_rows_changes_nothing_and_lists_every_bad_line(school, office):
    a = PupilFactory(school=school)
    other = PupilFactory(school=SchoolFactory())
    AttendanceMark.objects.create(pupil=a, date=MON, session="AM", code="N")
    with pytest.raises(ImportFailed) as failed:
        import_marks(school, csv_file(
            f"{a.upn},Ava,06/01/2025,AM,/",          # 2: fine (would change N to /)
            "A999999999999,X,06/01/2025,AM,/",        # 3: unknown pupil
            f"{a.upn},Ava,31/02/2025,AM,/",           # 4: bad date
            f"{a.upn},Ava,07/01/2025,AM,ZZ",          # 5: unknown code
            f"{a.upn},Ava,06/01/2025,am,I",           # 6: duplicate session in the file
            f"{other.upn},Oli,06/01/2025,AM,/",       # 7: another school's pupil
            f"{a.upn},Ava,07/01/2025,XX,/",           # 8: bad session
            f"{a.upn},Ava,08/09/2025,AM,H",           # 9: withdrawn code after August 2024
        ), BUILTIN_MAPPINGS["sims"], actor=office)
    errors = failed.value.errors
    assert [e.split(",")[0] for e in errors] == [f"line {n}" for n in (3, 4, 5, 6, 7, 8, 9)]
    assert "column UPN" in errors[0] and "no pupil of Coteford Junior School" in errors[0]
    assert "column AttendanceDate" in errors[1] and "'31/02/2025'" in errors[1]
    assert "'ZZ' is not an attendance code" in errors[2]
    assert "line 2" in errors[3] and "second AM mark" in errors[3]
    # Another school's pupil reads exactly like a number nobody has: the error must not tell
    # an importer which guessed numbers belong to pupils elsewhere.
    assert errors[4] == f"line 7, column UPN: {other.upn}: no pupil of Coteford Junior School has this UPN"
    assert "another school" not in " ".join(errors)
    assert "withdrawn" in errors[6] and "C or G" in errors[6]
    assert AttendanceMark.objects.get().code == "N"
    assert not ImportRun.objects.exists()
    # Nothing imported, but the refused attempt is on the trail (without the numbers tried).
    entry = AuditEntry.objects.get(action__startswith="attendance")
    assert entry.action == "attendance.import_failed" and entry.actor == office.user
    assert entry.data["problems"] == 7 and other.upn not in entry.summary + str(entry.data)


def test_a_file_of_more_unknown_pupils_than_the_database_takes_in_one_query_is_refused_clearly(school):
    # 40,000 unknown UPNs: past SQLite's limit of variables in one statement, which the old
    # "belongs to another school" look-up hit (a server error for 700,000 on the upload page).
    lines = [f"{make_upn(f'80199{n:07d}')},X,06/01/2025,AM,/" for n in range(40_000)]
    with pytest.raises(ImportFailed) as failed:
        import_marks(school, csv_file(*lines), BUILTIN_MAPPINGS["sims"])
    assert failed.value.total == 40_000
    assert "no pupil of Coteford Junior School has this UPN" in failed.value.errors[0]


def test_withdrawn_codes_are_accepted_on_marks_from_before_2024(school):
    a = PupilFactory(school=school)
    run = import_marks(school, csv_file(f"{a.upn},Ava,03/03/2023,AM,H", f"{a.upn},Ava,03/03/2023,PM,J"), BUILTIN_MAPPINGS["sims"])
    assert run.created == 2


def test_a_missing_column_is_named_with_the_mapping_that_expects_it(school):
    with pytest.raises(ImportFailed) as failed:
        import_marks(school, csv_file("x,y", header="UPN,Date\n"), BUILTIN_MAPPINGS["sims"])
    assert failed.value.errors[0].startswith("line 1, column AttendanceDate: no such column")


def test_a_saved_mapping_by_admission_number_and_iso_dates_is_used_by_name(school):
    a = PupilFactory(school=school, admission_number="00417")
    save_mapping(school, Mapping("ours", "admission_number", "Adm", "Day", "%Y-%m-%d", "Sess", "Code"), "ours")
    run = import_marks(school, csv_file("00417,2025-01-06,PM,L", header="Adm,Day,Sess,Code\n"), mapping_for(school, "ours"))
    assert run.created == 1 and AttendanceMark.objects.get().pupil == a


def test_the_command_imports_and_a_bad_file_fails_listing_lines(school, tmp_path, capsys):
    a = PupilFactory(school=school)
    good = tmp_path / "good.csv"
    good.write_text(HEADER + f"{a.upn},Ava,06/01/2025,AM,/\n")
    call_command("import_attendance", str(good), "--school", "coteford junior school")
    assert "1 new, 0 changed" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + f"{a.upn},Ava,06/01/2025,PM,??\n")
    with pytest.raises(CommandError, match="1 bad line"):
        call_command("import_attendance", str(bad), "--school", school.urn)
    assert "line 2, column AttendanceMark" in capsys.readouterr().err
    assert AttendanceMark.objects.count() == 1


def test_the_command_saves_an_adjusted_mapping(school, tmp_path):
    a = PupilFactory(school=school)
    f = tmp_path / "x.csv"
    f.write_text("UPN,Date,Session,Mark\n" + f"{a.upn},2025-01-06,AM,/\n")
    call_command("import_attendance", str(f), "--school", school.name, "--date-column", "Date", "--date-format",
                 "%Y-%m-%d", "--session-column", "Session", "--mark-column", "Mark", "--save-mapping", "arbor")
    assert mapping_for(school, "arbor").date_column == "Date"


def test_the_import_reports_progress_for_reading_and_writing(school):
    a = PupilFactory(school=school)
    seen = []
    import_marks(school, csv_file(f"{a.upn},Ava,06/01/2025,AM,/"), BUILTIN_MAPPINGS["sims"],
                 progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert ("read" in {s for s, _, _ in seen}) and seen[-1] == ("write", 1, 1)
