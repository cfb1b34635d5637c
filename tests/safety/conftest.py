"""Fixtures the safety tests share: quick PIN hashing, a clock stopped at 9:00 on the day in
term, Coteford with its staff, and a visit scheduled there."""
import pytest
import time_machine

from tests.factories import Staffed
from safety import recording

from tests.safety.support import local, scheduled_visit


@pytest.fixture(autouse=True)
def _quick_pin_hashing(settings):
    # PINs are hashed with the first of PASSWORD_HASHERS (Argon2 in production: slow by design).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def clock():
    with time_machine.travel(local(9, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
def coteford(clock):
    return Staffed("coteford", name="Coteford Junior School")


@pytest.fixture
def visit(coteford):
    return scheduled_visit(coteford, [coteford.officer, coteford.teacher])


@pytest.fixture
def inside(coteford, clock):
    """A Coteford pair inside the home since 10:00: check-in due 10:20, alert at 10:25."""
    visit = scheduled_visit(coteford, [coteford.officer, coteford.teacher], minutes=90)
    clock.move_to(local(10, 0))
    recording.record_event(visit, "arrived", by=coteford.officer, location="Outside the house")
    recording.record_event(visit, "entered", by=coteford.officer)
    return visit


@pytest.fixture
def office(client, coteford):
    """The Django test client signed in as Coteford's office."""
    client.force_login(coteford.office.user)
    return client
