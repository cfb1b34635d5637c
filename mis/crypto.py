"""Secrets kept in the database (a school's Wonde token), encrypted with Fernet.

The key is settings.DOORSTEP_ENCRYPTION_KEY (a Fernet key, or any passphrase) or, when that
is empty, derived from SECRET_KEY. Changing the key makes the stored tokens unreadable:
the school enters its token again (docs/mis-sync.md)."""
import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the current key."""


def _fernet() -> Fernet:
    material = settings.DOORSTEP_ENCRYPTION_KEY or settings.SECRET_KEY
    # Any string becomes a 32-byte key; a domain label keeps it apart from SECRET_KEY's other uses.
    digest = hashlib.sha256(b"doorstep.mis.token:" + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode("ascii")


def decrypt(stored: str) -> str:
    try:
        return _fernet().decrypt(stored.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise SecretUnreadable(
            "The stored Wonde token cannot be read: Doorstep's encryption key has changed since it was "
            "entered. Enter the school's Wonde token again.") from None
