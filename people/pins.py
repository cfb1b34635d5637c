"""Hashing the safe and duress PINs.

A PIN is 4 to 8 digits: at most a hundred million values, so no hash, however slow, keeps
it from someone holding the hash and time. What protects a PIN is that the hash is keyed
with the installation's SECRET_KEY (HMAC-SHA256, with a salt per PIN): the database alone
is not enough to try PINs offline. A slow password hash would add nothing here and cost
every check-in two Argon2 runs (about half a second on a small server, measured in
docs/benchmarks.md), which is too slow for the check-ins a school's visits send.

PINs set before this used Django's password hashers; they are still accepted."""
import hmac
import secrets

from django.contrib.auth.hashers import check_password
from django.utils.crypto import salted_hmac

PREFIX = "pin-hmac-sha256"


def hash_pin(pin: str) -> str:
    salt = secrets.token_hex(16)
    return f"{PREFIX}${salt}${_digest(salt, pin)}"


def pin_matches(pin: str, stored: str) -> bool:
    if not stored:
        return False
    if stored.startswith(PREFIX + "$"):
        _, salt, digest = stored.split("$", 2)
        return hmac.compare_digest(digest, _digest(salt, pin))
    return check_password(pin, stored)


def _digest(salt: str, pin: str) -> str:
    return salted_hmac(f"doorstep.pin.{salt}", pin, algorithm="sha256").hexdigest()
