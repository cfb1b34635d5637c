"""`make run` loads the demo whenever someone runs it: its visits under way start "now", so the
demo must load after school hours, at the weekend and just after midnight as well as at 10:00.
(It failed on PostgreSQL CI at 15:03 once: Potton's visit then ran past 16:00, outside school
hours, P §3¶5.)"""
import datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from safety.alerts.models import Alert
from visits.models import Visit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("when", [
    "2026-11-23T15:10:00",  # Monday, the visit runs past the end of the school day
    "2026-11-23T19:30:00",  # Monday evening
    "2026-11-28T11:00:00",  # Saturday
    "2026-11-25T00:10:00",  # just after midnight
])
def test_the_demo_loads_at_any_time_of_day(when):
    at = datetime.datetime.fromisoformat(when).replace(tzinfo=datetime.UTC)
    with time_machine.travel(at, tick=False):
        call_command("load_demo", stdout=StringIO())
    assert Visit.objects.filter(state=Visit.State.UNDER_WAY).count() == 6
    if not when.endswith("00:10:00"):  # after midnight the visits have only just started
        assert Alert.objects.filter(state=Alert.State.OPEN).count() == 2  # one per school, on the board
