"""Fixtures the safety tests share: quick PIN hashing, a clock stopped at 9:00 on the day in
term, Coteford with its staff, and a visit scheduled there."""
import pytest
import time_machine

from tests.factories import Staffed
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
