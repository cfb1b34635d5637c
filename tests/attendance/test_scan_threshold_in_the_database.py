"""The referral scan asks the database for only the pupils below the threshold (one grouped
query with HAVING, attendance.models.below_ids), then for the figures of those it opens cases
for (case_figures). It must find exactly the pupils, the figures and the penalty counts that
reading every pupil's summary and testing it in Python (summaries(), below(), penalty_counts())
finds: at the threshold, just under it, with no
marks, with closures and sessions that are not possible, with approved activities that count
as attendance, with marks outside the window, off roll, and at another school."""
import datetime
import random

import pytest
from django.utils import timezone

from attendance.models import (
    AttendanceMark, ReferralCase, below, below_ids, case_figures, penalty_counts, penalty_window, summaries, window,
)
from attendance.services import scan_school, threshold_for

from tests.factories import PupilFactory, SchoolFactory

pytestmark = pytest.mark.django_db


def school_days(until, count):
    days, day = [], until
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= datetime.timedelta(days=1)
    return sorted(days)


def mark(pupil, days, codes):
    """One mark a session over `days`, the codes taken in turn."""
    rows, n = [], 0
    for day in days:
        for session in ("AM", "PM"):
            rows.append(AttendanceMark(pupil=pupil, date=day, session=session, code=codes[n % len(codes)]))
            n += 1
    AttendanceMark.objects.bulk_create(rows)


def test_the_database_finds_the_same_pupils_figures_and_penalties_as_python():
    today = timezone.localdate()
    school = SchoolFactory(policy="coteford")  # below 90 % over three months (C 4.4)
    elsewhere = SchoolFactory(policy="coteford")
    threshold = threshold_for(school)
    start, end = window(today, threshold.months)
    days = school_days(today, 50)  # 100 sessions, all inside the window
    recent, older = days[-20:], days[:-20]
    before_window = school_days(start - datetime.timedelta(days=1), 15)

    pupils = {}
    # 90 of 100 sessions attended: exactly the threshold, not below it.
    pupils["at"] = PupilFactory(school=school)
    mark(pupils["at"], days, ["/"] * 9 + ["N"])
    # 89 of 100, counting approved activities (K, V) as attendance: one session below.
    pupils["just under"] = PupilFactory(school=school)
    mark(pupils["just under"], days[:-1], ["/"] * 7 + ["K", "V"] + ["G"])
    mark(pupils["just under"], days[-1:], ["G"])
    pupils["no marks"] = PupilFactory(school=school)
    # Only sessions that are not possible (closures, not of compulsory age): never below.
    pupils["nothing possible"] = PupilFactory(school=school)
    mark(pupils["nothing possible"], days, ["#", "Y4", "X", "Q", "Y1", "D", "Z"])
    # Poor attendance only before the window: not below.
    pupils["before"] = PupilFactory(school=school)
    mark(pupils["before"], before_window, ["N"])
    mark(pupils["before"], recent, ["/"])
    # Below, but no longer on roll.
    pupils["left"] = PupilFactory(school=school, on_roll=False)
    mark(pupils["left"], days, ["O"])
    # Below, at another school.
    mark(PupilFactory(school=elsewhere), days, ["N"])
    # A five-week closure inside the window for some: the penalty span reaches back further.
    pupils["closed"] = PupilFactory(school=school)
    mark(pupils["closed"], older, ["U", "/", "#"])
    # The rest: every code, mixed at random (seeded), some before the window too.
    rng = random.Random(16)
    codes = ["/", "\\", "L", "K", "V", "P", "W", "B", "D", "C1", "M", "J1", "S", "X", "C2", "C", "T", "R", "I",
             "E", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "G", "N", "O", "U", "Z", "#"]
    for n in range(40):
        pupil = PupilFactory(school=school)
        present = rng.choice([0.5, 0.8, 0.88, 0.9, 0.92, 1.0])
        picked = [rng.choice(["/", "\\", "L"]) if rng.random() < present else rng.choice(codes) for _ in range(40)]
        mark(pupil, rng.sample(days, rng.randint(1, len(days))), picked)
        if n % 3 == 0:
            mark(pupil, before_window, [rng.choice(codes) for _ in range(5)])

    marks = AttendanceMark.objects.filter(pupil__school=school, pupil__on_roll=True)
    span = penalty_window(school, today)
    assert span is not None
    in_python = {pk: s for pk, s in summaries(marks, start, end).items() if below(s, threshold.percent)}
    penalties, python_span = penalty_counts(school, today)
    found = below_ids(marks, start, end, threshold.percent)
    figures = case_figures(found, start, end, span)

    assert span == python_span
    assert found == sorted(in_python)
    assert set(figures) == set(in_python)
    for pk, f in figures.items():
        python = in_python[pk]
        assert (f.possible, f.attended, f.authorised, f.unauthorised, f.percent) == (
            python["possible"], python["attended"], python["authorised"], python["unauthorised"], python["percent"])
        assert f.penalty == penalties.get(pk, 0)
    assert pupils["just under"].pk in found and pupils["at"].pk not in found
    for name in ("no marks", "nothing possible", "before", "left"):
        assert pupils[name].pk not in found, name
    assert len(found) >= 5  # the random pupils put some on each side

    result = scan_school(school, today)
    assert (result.pupils, result.below, result.opened) == (46, len(in_python), len(in_python))
    cases = {c.pupil_id: c for c in ReferralCase.objects.filter(school=school)}
    assert set(cases) == set(in_python)
    for pk, case in cases.items():
        figures = in_python[pk]
        assert (case.possible, case.attended, case.authorised, case.unauthorised) == (
            figures["possible"], figures["attended"], figures["authorised"], figures["unauthorised"])
        assert float(case.percent) == figures["percent"]
        assert case.penalty_sessions == penalties.get(pk, 0)


def test_the_figures_of_more_pupils_than_one_query_could_name_one_by_one_are_read_at_once():
    """A big school's scan reads the figures of thousands of pupils in one query (their ids go
    as one value): ids with no marks are left out, and order does not matter."""
    today = timezone.localdate()
    school = SchoolFactory(policy="coteford")
    start, end = window(today, threshold_for(school).months)
    days = school_days(today, 5)
    low, fine = PupilFactory(school=school), PupilFactory(school=school)
    mark(low, days, ["O", "/"])
    mark(fine, days, ["/"])
    nobody = list(range(10**9, 10**9 + 40_000))  # more than SQLite's placeholders in one query
    figures = case_figures([*nobody, fine.pk, low.pk], start, end, None)
    assert set(figures) == {low.pk, fine.pk}
    assert (figures[low.pk].attended, figures[low.pk].unauthorised, figures[low.pk].possible) == (5, 5, 10)
    assert (figures[fine.pk].attended, figures[fine.pk].possible) == (10, 10)
