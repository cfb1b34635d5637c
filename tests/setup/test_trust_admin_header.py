"""A trust administrator (on no school's staff) is named in the page header by their name, as
staff are, not by the username they sign in with."""
import pytest
from django.urls import reverse

from tests.factories import TrustFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_trust_administrator_is_named_in_the_header(client):
    admin = UserFactory(username="trust", first_name="Robert", last_name="Kaye")
    TrustFactory(name="Riverside Learning Trust").admins.add(admin)
    client.force_login(admin)
    header = client.get(reverse("setup:start")).content.decode().split("</header>")[0]
    assert "Robert Kaye" in header
    assert ">trust<" not in header
