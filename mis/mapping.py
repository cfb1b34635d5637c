"""Wonde's records, as its API sends them, turned into pupils.roster's records and into the
rows of an attendance import. Pure: no database, no network.

Where our reading of Wonde's documented shapes was uncertain (docs/mis-sync.md, "What we
were unsure of"), each reader below accepts the forms we have seen described and says so."""
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from pupils.roster import ContactRecord, PupilRecord


class MappingError(Exception):
    """A Wonde record Doorstep cannot read; the message names it."""


def _data(value: Any) -> Any:
    """Wonde wraps an included object as {"data": ...}; fields a school did not share are null."""
    if isinstance(value, Mapping) and "data" in value:
        return value["data"]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return " ".join(str(value).split())
    return ""


def wonde_date(value: Any) -> datetime.date | None:
    """Wonde sends dates as {"date": "2016-03-01 00:00:00.000000", "timezone_type": 3, "timezone": ...};
    a plain "YYYY-MM-DD..." string is read too."""
    if isinstance(value, Mapping):
        value = value.get("date")
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _address(details: Any) -> dict[str, str]:
    """The student's home address from contact_details.data.addresses.home (or the first address)."""
    addresses = details.get("addresses") if isinstance(details, Mapping) else None
    addresses = _data(addresses)
    home: Any = None
    if isinstance(addresses, Mapping):
        home = addresses.get("home") or next((a for a in addresses.values() if isinstance(a, Mapping)), None)
    elif isinstance(addresses, list) and addresses:
        home = addresses[0]
    if not isinstance(home, Mapping):
        return {"address_line1": "", "address_line2": "", "town": "", "postcode": ""}
    number = " ".join(p for p in (_text(home.get("apartment")), _text(home.get("house_name")),
                                  _text(home.get("house_number"))) if p)
    line1 = " ".join(p for p in (number, _text(home.get("street"))) if p)
    line2 = ", ".join(p for p in (_text(home.get("district")), _text(home.get("locality"))) if p)
    return {"address_line1": line1, "address_line2": line2, "town": _text(home.get("town")),
            "postcode": _text(home.get("postcode"))}


def _phones(details: Any) -> list[str]:
    phones = details.get("phones") if isinstance(details, Mapping) else None
    phones = _data(phones)
    if not isinstance(phones, Mapping):
        return []
    ordered = [phones.get(k) for k in ("mobile", "phone", "primary", "home", "work")]
    out: list[str] = []
    for p in ordered:
        t = _text(p)
        if t and t not in out:
            out.append(t)
    return out


def _email(details: Any) -> str:
    emails = details.get("emails") if isinstance(details, Mapping) else None
    emails = _data(emails)
    if not isinstance(emails, Mapping):
        return ""
    for k in ("email", "primary", "home", "work"):
        t = _text(emails.get(k))
        if t:
            return t
    return ""


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in {"1", "true", "yes", "y"}:
        return True
    if isinstance(value, (int, str)) and str(value).strip().lower() in {"0", "false", "no", "n"}:
        return False
    return None


def contact_record(item: Mapping[str, Any], n: int) -> ContactRecord:
    name = " ".join(p for p in (_text(item.get("title")), _text(item.get("forename")),
                                _text(item.get("surname"))) if p)
    rel = _data(item.get("relationship"))
    rel = rel if isinstance(rel, Mapping) else {}
    details = _data(item.get("contact_details"))
    phones = _phones(details)
    priority_text = _text(rel.get("priority"))
    return ContactRecord(
        name=name,
        relationship=_text(rel.get("relationship")) or "Contact",
        mis_id=_text(item.get("id")),
        phone=phones[0] if phones else "",
        phone_other=phones[1] if len(phones) > 1 else "",
        email=_email(details),
        priority=int(priority_text) if priority_text.isdigit() and int(priority_text) > 0 else n,
        parental_responsibility=_flag(rel.get("parental_responsibility")),
        lives_with_pupil=_flag(rel.get("lives_with_pupil")),
    )


def pupil_record(item: Mapping[str, Any], line: int) -> PupilRecord:
    """One student of Wonde's /students (with include=contacts,contact_details,extended_details,year).
    `line` is the student's place in the whole download (1 = the first of page 1)."""
    wonde_id = _text(item.get("id"))
    if not wonde_id:
        raise MappingError(f"student {line}: Wonde sent a student with no id")
    extended = _data(item.get("extended_details"))
    extended = extended if isinstance(extended, Mapping) else {}
    details = _data(item.get("contact_details"))
    year = _data(item.get("year"))
    year_text = ""
    if isinstance(year, Mapping):
        year_text = _text(year.get("code")) or _text(year.get("name"))
    contacts_raw = _data(item.get("contacts"))
    contacts: list[ContactRecord] | None = None
    if isinstance(contacts_raw, list):
        contacts = [contact_record(c, n) for n, c in enumerate(contacts_raw, start=1) if isinstance(c, Mapping)]
    return PupilRecord(
        mis_id=wonde_id,
        upn=_text(extended.get("upn")) or _text(item.get("upn")),
        first_name=_text(item.get("forename")) or _text(item.get("legal_forename")),
        last_name=_text(item.get("surname")) or _text(item.get("legal_surname")),
        date_of_birth=wonde_date(item.get("date_of_birth")),
        year_group=year_text,
        contacts=contacts,
        line=line,
        **_address(details),
    )


def pupil_records(items: Iterable[Mapping[str, Any]]) -> list[PupilRecord]:
    return [pupil_record(item, n) for n, item in enumerate(items, start=1)]


def deleted_ids(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """The Wonde ids of students in /deletions?type=student. A deletion that was undone
    (restored_at set) is not a leaver."""
    out = []
    for item in items:
        if item.get("type") not in (None, "student"):
            continue
        if item.get("restored_at"):
            continue
        wonde_id = _text(item.get("id"))
        if wonde_id:
            out.append(wonde_id)
    return out


def session_mark(item: Mapping[str, Any], n: int) -> tuple[str, datetime.date, str, str]:
    """(student id, date, "AM"/"PM", code) from one /attendance/session record."""
    student = item.get("student")
    if isinstance(student, Mapping):  # included as an object
        student = _data(student)
        student = student.get("id") if isinstance(student, Mapping) else None
    student_id = _text(student)
    day = wonde_date(item.get("date"))
    session = _text(item.get("session")).upper()
    code_raw = _data(item.get("attendance_code"))
    code = _text(code_raw.get("code")) if isinstance(code_raw, Mapping) else _text(code_raw)
    if not code:
        code = _text(item.get("code"))
    missing = [what for what, value in (("student", student_id), ("date", day), ("session", session)) if not value]
    if missing:
        raise MappingError(f"attendance mark {n}: Wonde sent it without {' or '.join(missing)}")
    assert day is not None
    return student_id, day, session, code
