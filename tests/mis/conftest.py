import pytest

from tests.mis.fake_wonde import FakeWonde


@pytest.fixture
def fake_wonde(settings):
    fake = FakeWonde(token="wonde-secret-token-1234")
    settings.WONDE_BASE_URL = fake.url
    settings.WONDE_TIMEOUT = 5
    yield fake
    fake.stop()
