"""The database's grouped counting agrees with the worked arithmetic for any mix of codes."""
import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from attendance.models import CODES, AttendanceMark, attendance_summary, below, summary_for

from tests.factories import PupilFactory

START = datetime.date(2025, 1, 6)


class DatabaseCountsTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.pupil = PupilFactory()

    @settings(max_examples=25, deadline=None)
    @given(st.lists(st.sampled_from(sorted(CODES)), max_size=40))
    def test_sql_summary_matches_the_python_summary(self, codes):
        pupil = self.pupil
        AttendanceMark.objects.bulk_create([
            AttendanceMark(pupil=pupil, date=START + datetime.timedelta(days=i // 2), session="AM" if i % 2 == 0 else "PM", code=c)
            for i, c in enumerate(codes)
        ])
        db = summary_for(pupil, START, START + datetime.timedelta(days=30))
        assert db == attendance_summary(codes)
        if db["possible"]:
            # Exact comparison agrees with the unrounded fraction.
            assert below(db, 90) == (db["attended"] / db["possible"] < 0.9)
            assert db["persistent"] == (db["missed"] / db["possible"] >= 0.1)
