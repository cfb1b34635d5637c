"""Fixtures the delivery tests share: the fake providers and SMTP server, running, and the
settings that point every channel at them."""
import datetime

import pytest
import time_machine


from tests.factories import PupilFactory, SchoolFactory, StaffFactory

from tests.notify.support import NOTIFY_KEY, TEMPLATE_ID, TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM, TIMEOUT, FakeProvider, SmtpSink, serving


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
    settings.DOORSTEP_SMS_PROVIDERS = ["notify", "twilio"]
    settings.DOORSTEP_SMS_ATTEMPTS_PER_PROVIDER = 2
    settings.DOORSTEP_PROVIDER_TIMEOUT = TIMEOUT
    settings.DOORSTEP_DELIVERY_MAX_AGE = 3600
    settings.DOORSTEP_BASE_URL = "https://doorstep.school.example"
    settings.NOTIFY_API_KEY = NOTIFY_KEY
    settings.NOTIFY_SMS_TEMPLATE_ID = TEMPLATE_ID
    settings.NOTIFY_BASE_URL = provider.url
    settings.TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_FROM = TWILIO_FROM
    settings.TWILIO_BASE_URL = provider.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "Doorstep <doorstep@school.example>"
    return settings


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
