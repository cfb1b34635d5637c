"""Fixtures every role journey shares."""
import pytest


@pytest.fixture(autouse=True)
def _quick_pin_hashing(settings):
    # PINs are hashed with the first of PASSWORD_HASHERS (Argon2 in production: slow by design).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
