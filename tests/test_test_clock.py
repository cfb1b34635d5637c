"""The suite's own clock: a test that needs a fixed moment gets it for its fixtures too, and
DOORSTEP_TEST_CLOCK reads moments as people write them. (A test that built a school on the
real date and then travelled back to a fixed one broke the day the real date passed it.)"""
import datetime

import pytest
from django.utils import timezone

from tests.conftest import parse_clock

pytestmark = pytest.mark.django_db


@pytest.mark.clock("2031-03-03 09:00", tick=False)
def test_a_marked_clock_dates_the_fixtures_as_well_as_the_test(potton, marked_clock):
    assert potton.home_ra.assessed_on == datetime.date(2031, 3, 3)
    assert potton.pupil.date_of_birth == datetime.date(2021, 5, 1)  # a Year 4 pupil then
    assert timezone.now() == datetime.datetime(2031, 3, 3, 9, tzinfo=datetime.UTC)
    marked_clock.shift(datetime.timedelta(hours=1))
    assert timezone.now().hour == 10


def test_without_a_marker_the_fixtures_follow_the_clock_the_suite_runs_under(potton, marked_clock):
    assert marked_clock is None
    assert potton.home_ra.assessed_on == timezone.localdate()


@pytest.mark.parametrize("written, expected", [
    ("2027-08-05 10:30", datetime.datetime(2027, 8, 5, 10, 30, tzinfo=datetime.UTC)),
    ("2027-08-05T10:30", datetime.datetime(2027, 8, 5, 10, 30, tzinfo=datetime.UTC)),
    ("2027-08-05T10:30+01:00", datetime.datetime(2027, 8, 5, 9, 30, tzinfo=datetime.UTC)),
])
def test_a_test_clock_is_read_as_a_day_and_a_time(written, expected):
    assert parse_clock(written) == expected


def test_a_test_clock_of_a_day_alone_keeps_the_time_of_day_and_a_time_alone_keeps_the_day():
    day = parse_clock("2027-08-05")
    assert day.date() == datetime.date(2027, 8, 5) and day.tzinfo is not None
    seven = parse_clock("19:30", today=datetime.date(2027, 1, 4))
    assert seven == datetime.datetime(2027, 1, 4, 19, 30, tzinfo=datetime.UTC)
