"""Shared set-up for the report, agreement and document tests (no tests here)."""
import base64
import datetime
import struct
import zlib

from django.utils import timezone

from attendance.models import AttendanceMark
from visits.models import Visit

from tests.factories import VisitFactory, at


def ended_visit(school, *, state=Visit.State.COMPLETED, staff=None, day=None, purpose="attendance", hour=10, **kwargs):
    """A visit that has ended (default: completed last Wednesday, 10:00-10:45), approved under
    the school's current policy, with the given staff (the first leads)."""
    day = day or last_weekday(2)
    staff = staff or [school.officer, school.teacher]
    return VisitFactory(
        school=school.school, pupil=kwargs.pop("pupil", school.pupil), purpose=purpose, state=state,
        starts_at=at(day, hour), ends_at=at(day, hour, 45), staff=staff, proposed_by=staff[0],
        approved_by=school.head, approved_at=timezone.now() - datetime.timedelta(days=10),
        policy_version=school.school.current_policy(), **kwargs,
    )


def last_weekday(weekday, before=None):
    """The most recent date before `before` (today) falling on `weekday` (0 = Monday)."""
    day = (before or timezone.localdate()) - datetime.timedelta(days=1)
    while day.weekday() != weekday:
        day -= datetime.timedelta(days=1)
    return day


def marks(pupil, start, codes):
    """One mark per session from `start`, AM then PM, weekdays only: marks(p, d, "//NN//")."""
    rows, day, session = [], start, "AM"
    for code in codes:
        while day.weekday() >= 5:
            day += datetime.timedelta(days=1)
        rows.append(AttendanceMark(pupil=pupil, date=day, session=session, code=code))
        if session == "AM":
            session = "PM"
        else:
            session, day = "AM", day + datetime.timedelta(days=1)
    AttendanceMark.objects.bulk_create(rows)
    return rows


def png_data_url(width=60, height=20):
    """A real (tiny, grey) PNG as a data URL, like the signature pad sends."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def report_data(**overrides):
    data = {
        "people_present": "Mother (Dana Brown) and the pupil",
        "child_seen": "yes", "child_spoken_to": "yes",
        "reason": "Attendance has fallen below 85%.",
        "summary": "Talked about mornings; the pupil finds it hard to get up.",
        "actions_agreed": "Ava attends every day next week.",
        "follow_up_actions": "Review attendance on Friday.",
    }
    data.update(overrides)
    return data
