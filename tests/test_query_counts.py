"""The pages staff open most ask the database the same number of questions however many
visits, pupils, alerts and audit entries the school has: a page that asks once per row (an
"N+1") is fast in a test and slow in a real school's busy week. Each page is counted with
a few of everything, then with three times as many."""
from collections.abc import Callable

import pytest
import time_machine
from django.urls import reverse

from safety import recording
from safety import watchdog as watchdog_loop
from safety.alerts.models import Alert
from visits.models import Visit

from tests.queries import own_queries, shapes
from tests.factories import PupilFactory, Staffed, VisitFactory, compliant_staff
from tests.safety.support import local, scheduled_visit

pytestmark = pytest.mark.django_db

N = 2


@pytest.fixture
def clock():
    with time_machine.travel(local(9, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
def coteford(clock):
    return Staffed("coteford", name="Coteford Junior School")


def grow(school, clock, count: int, hour: int) -> None:
    """`count` more of everything: pupils, proposals waiting for approval, visits under way that
    missed their check-in (an alert each, raised by the watchdog), and what the audit trail
    records of all that. Half of them have since checked in (contact restored: the board says
    when word came, read from the check-in itself)."""
    inside_visits = []
    for _ in range(count):
        pupil = PupilFactory(school=school.school)
        VisitFactory(school=school.school, pupil=pupil, staff=[school.officer, school.teacher],
                     proposed_by=school.officer)
        # The attendance officer is on every one (their phone's list of visits is counted), and a
        # colleague new to each records arriving: nobody records arriving while at another home.
        colleague = compliant_staff(school.school, "teacher")
        inside = scheduled_visit(school, [colleague, school.officer], start=(hour, 0), minutes=90)
        clock.move_to(local(hour, 0))
        recording.record_event(inside, "arrived", by=colleague, location="Outside the house")
        recording.record_event(inside, "entered", by=colleague)
        inside_visits.append((inside, colleague))
    clock.move_to(local(hour, 26))
    watchdog_loop.poll()
    clock.move_to(local(hour, 28))
    for inside, colleague in inside_visits[: count // 2 or 1]:
        recording.record_event(inside, "check_in", by=colleague, pin=None)


def counted(client, url: str) -> list[str]:
    client.get(url)  # once first: what a first visit alone does (a session's first touch) is not counted
    with own_queries() as made:
        response = client.get(url)
    assert response.status_code == 200, url
    return shapes(made)


def pages(school) -> dict[str, tuple[object, Callable[[], str]]]:
    """Each hot page: who opens it, and its address."""
    first_alert = Alert.objects.order_by("pk").first
    return {
        "the office board": (school.office, lambda: reverse("alerts:board")),
        "the board's list of visits": (school.office, lambda: reverse("alerts:live")),
        "the board's alarm strip": (school.office, lambda: reverse("alerts:alarms")),
        "every visit": (school.head, lambda: reverse("visits:index") + "?state=all"),
        "the audit trail": (school.head, lambda: reverse("audit:trail")),
        "the pupils": (school.head, lambda: reverse("pupils:index")),
        "alerts and written reasons": (school.head, lambda: reverse("alerts:review")),
        "a police card": (school.office, lambda: reverse("alerts:police_card", args=[first_alert().pk])),
        "my visits today (phone)": (school.officer, lambda: reverse("checkins:today")),
        # Each proposal is judged against the policy with its staff's checks, cars, roles and risk
        # assessments: read for all the proposals together, not one proposal at a time.
        "the approvals inbox": (school.head, lambda: reverse("visits:approvals")),
    }


def grown_counts(school, client, clock, which) -> dict:
    """The pages' query counts that differ between N and 3N of everything: {page: (before, after, new queries)}."""
    grow(school, clock, N, 10)
    before = {}
    for name, (person, url) in which(school).items():
        client.force_login(person.user)
        before[name] = counted(client, url())
    grow(school, clock, 2 * N, 12)
    # An alert for each of the 3N missed check-ins, and one more for each visit of the first N
    # that checked in at 10:28 and had missed its next check-in by 12:26.
    assert Alert.objects.values("visit").distinct().count() == 3 * N
    assert Alert.objects.count() == 3 * N + (N // 2 or 1)
    assert Visit.objects.filter(state=Visit.State.PROPOSED).count() == 3 * N
    grown = {}
    for name, (person, url) in which(school).items():
        client.force_login(person.user)
        grown[name] = counted(client, url())
    return {name: (len(before[name]), len(grown[name]), sorted(set(grown[name]) - set(before[name]))[:3])
            for name in before if len(before[name]) != len(grown[name])}


def test_hot_pages_ask_the_same_number_of_questions_with_three_times_the_visits_pupils_and_alerts(
        coteford, client, clock):
    assert grown_counts(coteford, client, clock, pages) == {}

