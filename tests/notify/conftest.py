"""Fixtures the delivery tests share: the fake providers and SMTP server, running, and the
settings that point every channel at them."""
import datetime

import pytest
import time_machine


from tests.factories import PupilFactory, SchoolFactory, StaffFactory

from tests.notify.support import TIMEOUT, FakeProvider, SmtpSink, point_at, serving


@pytest.fixture
def provider():
    fake = FakeProvider()
    yield fake
    fake.stop()


@pytest.fixture
def smtp():
    yield from serving(SmtpSink())


@pytest.fixture
def configured(settings, provider, smtp):
    """Settings pointing every channel at the local servers; SMS via Notify, then Twilio."""
    settings.DOORSTEP_DELIVERY_MAX_AGE = 3600
    return point_at(settings, notify=provider, twilio=provider, smtp=smtp, timeout=TIMEOUT)


@pytest.fixture
def clock():
    # Tomorrow at 10:00 by the clock the suite runs under: delivery times are relative.
    tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    at_ten = datetime.datetime.combine(tomorrow, datetime.time(10, 0), tzinfo=datetime.timezone.utc)
    with time_machine.travel(at_ten, tick=False) as traveller:
        yield traveller


@pytest.fixture
def school():
    school = SchoolFactory()
    PupilFactory(school=school, first_name="Ava", last_name="Brown")
    return school


@pytest.fixture
def head(school):
    return StaffFactory(school=school, roles=["headteacher"], full_name="Helen Head", mobile="07700 900111", email="head@school.example")
