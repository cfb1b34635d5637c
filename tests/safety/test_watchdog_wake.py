"""The watchdog wakes for the next deadline instead of waiting for its next one-second tick
(docs/benchmarks.md: the tick alone put p99 from a missed check-in to its alert over a second)."""
import pytest

from safety.alerts.management.commands.watchdog import _until_next_due
from safety.checkins.models import Watch

from tests.factories import Staffed
from tests.safety.support import local
from tests.safety.test_watchdog import under_way

pytestmark = pytest.mark.django_db


def test_the_watchdog_sleeps_only_until_the_next_check_in_falls_due(clock):
    school = Staffed("coteford")
    under_way(school, clock)  # alerts at 10:25
    clock.move_to(local(10, 24, 59))
    assert _until_next_due(1.0) == pytest.approx(1.0)  # a second away: the ordinary tick
    clock.move_to(local(10, 24, 59).replace(microsecond=700_000))
    assert _until_next_due(1.0) == pytest.approx(0.3)


def test_a_deadline_already_past_does_not_make_the_watchdog_spin(clock):
    school = Staffed("coteford")
    under_way(school, clock)
    clock.move_to(local(10, 26))
    assert Watch.objects.filter(status=Watch.Status.OK, alert_at__lte=local(10, 26)).exists()
    assert _until_next_due(1.0) == pytest.approx(1.0)


def test_with_nothing_under_way_the_watchdog_ticks_every_interval(clock):
    assert _until_next_due(0.5) == pytest.approx(0.5)
