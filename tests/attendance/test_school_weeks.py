"""The penalty-notice indicator counts G/N/O/U sessions in the last 10 school weeks, and a
holiday (a week with no marks, or with only closure codes) is not a school week. The school
weeks are read from the weeks noted as marks are written (attendance.models.MarkedWeek), so
each way marks arrive must note them, and a week that loses its school marks (a mark changed
to a closure code, marks removed) must stop counting."""
import datetime
import importlib
import io

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from attendance.importer import BUILTIN_MAPPINGS, import_marks
from attendance.models import AttendanceMark, MarkedWeek, ReferralCase, penalty_counts, school_weeks
from attendance.services import scan_school

from tests.factories import PupilFactory, SchoolFactory

pytestmark = pytest.mark.django_db

MON = datetime.date(2025, 1, 6)  # a Monday in term
WEEK = [MON + datetime.timedelta(weeks=w) for w in range(15)]
UNTIL = WEEK[14] + datetime.timedelta(days=4)  # the Friday of the last week
HEADER = "UPN,Forename,AttendanceDate,SessionName,AttendanceMark\n"


def term(pupil):
    """(pupil, day, session, code) of a term with a snow week and a holiday: weeks 0-3 G in the
    morning (four sessions), week 4 closed (# every session), weeks 5-6 the holiday (no
    marks), weeks 7-14 O in the afternoon (eight sessions), present otherwise. The last 10
    school weeks are 2, 3 and 7-14, which hold exactly 10 G/N/O/U sessions."""
    marks = []
    for w in range(15):
        if w in (5, 6):
            continue
        for day in (WEEK[w], WEEK[w] + datetime.timedelta(days=2)):
            if w == 4:
                marks += [(pupil, day, "AM", "#"), (pupil, day, "PM", "#")]
            elif w < 4:
                marks += [(pupil, day, "AM", "G" if day == WEEK[w] else "/"), (pupil, day, "PM", "/")]
            else:
                marks += [(pupil, day, "AM", "/"), (pupil, day, "PM", "O" if day == WEEK[w] else "/")]
    return marks


def csv_file(marks):
    lines = "".join(f"{p.upn},Pupil,{day:%d/%m/%Y},{session},{code}\n" for p, day, session, code in marks)
    data = io.BytesIO((HEADER + lines).encode())
    data.size = len(data.getvalue())
    return data


def write(how, school, marks):
    if how == "import":
        import_marks(school, csv_file(marks), BUILTIN_MAPPINGS["sims"], file_name="term.csv")
    elif how == "bulk_create":
        AttendanceMark.objects.bulk_create([AttendanceMark(pupil=p, date=d, session=s, code=c) for p, d, s, c in marks])
    elif how == "create":
        for p, d, s, c in marks:
            AttendanceMark.objects.create(pupil=p, date=d.isoformat(), session=s, code=c)  # a date given as text too
    else:
        assert how == "save"
        for p, d, s, c in marks:
            AttendanceMark(pupil=p, date=d, session=s, code=c).save()


@pytest.mark.parametrize("how", ["import", "bulk_create", "create", "save"])
def test_the_last_ten_school_weeks_skip_the_holiday_and_the_closed_week_however_the_marks_arrive(how):
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    write(how, school, term(pupil))

    assert school_weeks(school, UNTIL) == [WEEK[2], WEEK[3]] + WEEK[7:15]
    counts, span = penalty_counts(school, UNTIL)
    assert span == (WEEK[2], UNTIL) and counts == {pupil.pk: 10}
    # What the school sees: the case opened by the daily scan shows the indicator.
    assert scan_school(school, UNTIL).opened == 1
    case = ReferralCase.objects.get(pupil=pupil)
    assert case.penalty_sessions == 10 and case.penalty_indicator


def test_a_mark_changed_to_a_closure_code_by_a_new_import_leaves_its_week_out():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    # Week 4 first arrives with one morning marked present: it is a school week, and the
    # window starts at week 3 (one G there, eight O later: 9, below the indicator).
    marks = term(pupil)
    opened = [(p, d, s, "/" if (d, s) == (WEEK[4], "AM") else c) for p, d, s, c in marks]
    import_marks(school, csv_file(opened), BUILTIN_MAPPINGS["sims"], file_name="term.csv")
    assert school_weeks(school, UNTIL)[0] == WEEK[3]
    assert penalty_counts(school, UNTIL)[0] == {pupil.pk: 9}

    # The office corrects it: the school was closed that day too.
    run = import_marks(school, csv_file(marks), BUILTIN_MAPPINGS["sims"], file_name="corrected.csv")
    assert (run.created, run.updated) == (0, 1)
    assert school_weeks(school, UNTIL) == [WEEK[2], WEEK[3]] + WEEK[7:15]
    assert penalty_counts(school, UNTIL)[0] == {pupil.pk: 10}


def test_a_closed_week_that_later_gets_a_school_mark_counts_again():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    import_marks(school, csv_file(term(pupil)), BUILTIN_MAPPINGS["sims"], file_name="term.csv")
    assert WEEK[4] not in school_weeks(school, UNTIL)
    # The school was open on the Friday after all: a new mark, in its own file.
    friday = WEEK[4] + datetime.timedelta(days=4)
    import_marks(school, csv_file([(pupil, friday, "AM", "/")]), BUILTIN_MAPPINGS["sims"], file_name="friday.csv")
    assert school_weeks(school, UNTIL) == [WEEK[3], WEEK[4]] + WEEK[7:15]
    assert penalty_counts(school, UNTIL)[0] == {pupil.pk: 9}


def test_a_mark_changed_to_a_closure_code_in_the_database_leaves_its_week_out():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    write("bulk_create", school, term(pupil))
    # Every mark of week 14 becomes a closure: whichever one the week was noted with.
    AttendanceMark.objects.filter(date__gte=WEEK[14]).update(code="#")
    assert school_weeks(school, UNTIL) == [WEEK[1], WEEK[2], WEEK[3]] + WEEK[7:14]


def test_importing_the_same_file_again_changes_neither_the_weeks_nor_the_count():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    import_marks(school, csv_file(term(pupil)), BUILTIN_MAPPINGS["sims"], file_name="term.csv")
    noted = sorted(MarkedWeek.objects.filter(school=school).values_list("monday", flat=True))
    assert noted == WEEK[:5] + WEEK[7:15]  # the closed week has marks; school_weeks() leaves it out

    again = import_marks(school, csv_file(term(pupil)), BUILTIN_MAPPINGS["sims"], file_name="term.csv")
    assert (again.created, again.updated) == (0, 0)
    assert sorted(MarkedWeek.objects.filter(school=school).values_list("monday", flat=True)) == noted
    assert school_weeks(school, UNTIL) == [WEEK[2], WEEK[3]] + WEEK[7:15]
    assert penalty_counts(school, UNTIL)[0] == {pupil.pk: 10}


def test_a_week_whose_marks_are_removed_is_no_longer_a_school_week():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    write("bulk_create", school, term(pupil))
    AttendanceMark.objects.filter(date__gte=WEEK[14]).delete()  # the last week's marks taken back
    assert MarkedWeek.objects.filter(school=school, monday=WEEK[14]).exists()  # noted once, never taken away
    assert school_weeks(school, UNTIL) == [WEEK[1], WEEK[2], WEEK[3]] + WEEK[7:14]
    assert penalty_counts(school, UNTIL)[0] == {pupil.pk: 3 + 7}


def test_marks_moved_to_another_week_note_that_week():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    write("bulk_create", school, [(pupil, WEEK[0], "AM", "/")])
    AttendanceMark.objects.filter(pupil=pupil).update(date=WEEK[5])
    assert school_weeks(school, UNTIL) == [WEEK[5]]


def test_another_schools_marks_do_not_make_a_school_week_here():
    school, other = SchoolFactory(policy="coteford"), SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    # One bulk_create with both schools' marks: each week is noted at its pupil's own school.
    AttendanceMark.objects.bulk_create(
        [AttendanceMark(pupil=p, date=d, session=s, code=c) for p, d, s, c in term(pupil)]
        + [AttendanceMark(pupil=PupilFactory(school=other), date=WEEK[5], session="AM", code="/")])
    assert school_weeks(school, UNTIL) == [WEEK[2], WEEK[3]] + WEEK[7:15]
    assert school_weeks(other, UNTIL) == [WEEK[5]]


def test_the_migration_notes_the_weeks_of_the_marks_already_held():
    school, other = SchoolFactory(policy="coteford"), SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    write("bulk_create", school, term(pupil) + [(PupilFactory(school=other), WEEK[5], "AM", "/")])
    MarkedWeek.objects.all().delete()  # a database from before the table
    assert school_weeks(school, UNTIL) == []

    migration = importlib.import_module("attendance.migrations.0004_marked_weeks")
    migration.note_the_weeks_of_the_marks_held(apps, None)
    assert school_weeks(school, UNTIL) == [WEEK[2], WEEK[3]] + WEEK[7:15]
    assert school_weeks(other, UNTIL) == [WEEK[5]]
    assert penalty_counts(school, UNTIL)[0] == {pupil.pk: 10}


def test_each_week_is_checked_by_one_look_up_and_only_the_closed_week_asks_every_mark():
    school = SchoolFactory(policy="coteford")
    pupil = PupilFactory(school=school)
    import_marks(school, csv_file(term(pupil)), BUILTIN_MAPPINGS["sims"], file_name="term.csv")
    with CaptureQueriesContext(connection) as queries:
        assert school_weeks(school, UNTIL) == [WEEK[2], WEEK[3]] + WEEK[7:15]
    # The noted weeks, then weeks 14 to 7, 4, 3 and 2 newest first: each a witness looked up,
    # except the closed week 4, which has none and asks the school's marks.
    assert len(queries) == 1 + 11
    assert [q["sql"] for q in queries if "pupils_pupil" in q["sql"]] == [queries[9]["sql"]]
