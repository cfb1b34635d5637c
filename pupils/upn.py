"""Unique Pupil Number: 13 characters, a check letter then 12 digits (or 11 digits and a
letter for a temporary UPN). The check letter is the weighted sum of characters 2-13
(weights 2..13) modulo 23, mapped onto the alphabet without I, O and S."""

from django.core.exceptions import ValidationError

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def _value(ch: str) -> int:
    if ch.isdigit():
        return int(ch)
    return CHECK_LETTERS.index(ch)


def check_letter(body: str) -> str:
    """The check letter for the 12 characters that follow it."""
    total = sum(_value(ch) * weight for ch, weight in zip(body, range(2, 14), strict=True))
    return CHECK_LETTERS[total % 23]


def upn_problem(upn: str) -> str | None:
    """What is wrong with a UPN, in words, or None if it is valid."""
    upn = (upn or "").strip().upper()
    if len(upn) != 13:
        return f"a UPN has 13 characters; this has {len(upn)}"
    first, body = upn[0], upn[1:]
    if first not in CHECK_LETTERS:
        return f"a UPN starts with a check letter (not I, O or S); this starts with {first!r}"
    if not body[:11].isdigit():
        return "characters 2 to 12 of a UPN must be digits"
    if not (body[11].isdigit() or body[11] in CHECK_LETTERS):
        return "the last character of a UPN must be a digit, or a letter for a temporary UPN"
    expected = check_letter(body)
    if first != expected:
        return f"the check letter does not match: for these digits it should be {expected}"
    return None


def validate_upn(value: str) -> None:
    problem = upn_problem(value)
    if problem:
        raise ValidationError(f"Not a valid UPN: {problem}.", code="invalid_upn")


def make_upn(body: str) -> str:
    """Build a valid UPN from its 12 trailing characters (used by the demo and tests)."""
    return check_letter(body) + body
