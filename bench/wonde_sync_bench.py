"""Wonde sync benchmark: a full sync of 2,000 students with 2 contacts each and a day of
session marks (pages of 200, from the local fake Wonde of tests/mis/fake_wonde.py on this
machine), then an incremental sync with nothing changed.

    .venv/bin/python bench/wonde_sync_bench.py                              # SQLite, a fresh temporary file
    pg_virtualenv -v 15 env DOORSTEP_DB=postgres .venv/bin/python bench/wonde_sync_bench.py
    .venv/bin/python bench/wonde_sync_bench.py --students 200               # a quick run

Prints a Markdown table for docs/benchmarks.md; exits 1 when the full sync takes 30 s or more
or the incremental one 2 s or more (issue 14's targets).
"""
import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FULL_LIMIT, INCREMENTAL_LIMIT = 30.0, 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--contacts", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="doorstep-wonde-bench-") as tmp:
        if os.environ.get("DOORSTEP_DB") != "postgres" and not os.environ.get("DATABASE_URL"):
            os.environ["DOORSTEP_VAR_DIR"] = tmp  # a fresh SQLite file, never the project's own
        run(args)


def run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "doorstep.settings")
    os.environ.setdefault("DOORSTEP_ALLOW_INSECURE_KEY", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from attendance.models import AttendanceMark
    from mis import services
    from pupils.models import Contact, Pupil
    from pupils.upn import make_upn
    from schools.models import School
    from tests.mis.fake_wonde import FakeWonde, make_student, session_mark

    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    call_command("migrate", verbosity=0)
    school = School.objects.create(name="Wonde Bench Academy", urn="999998")
    fake = FakeWonde(token="bench-token", page_size=200)
    settings.WONDE_BASE_URL = fake.url
    day = datetime.date.today() - datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    dob = datetime.date(datetime.date.today().year - 9, 3, 1)
    for n in range(1, args.students + 1):
        student = make_student(n, make_upn(f"998{n:09d}"), dob=dob, contacts=args.contacts)
        fake.add_student("A1", student)
        fake.add_mark("A1", session_mark(2 * n, student["id"], day, "AM", "/"))
        fake.add_mark("A1", session_mark(2 * n + 1, student["id"], day, "PM", "\\"))
    services.save_connection(school, wonde_school_id="A1", token="bench-token", by=_bench_head(school))
    time.sleep(1.1)  # Wonde's updated_after is to the second: the data is older than the first sync

    rows = []
    failed = False
    for label, limit in (("full sync", FULL_LIMIT), ("incremental sync, nothing changed", INCREMENTAL_LIMIT)):
        fake.requests.clear()
        started = time.perf_counter()
        result = services.sync(school)
        seconds = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"{label} failed: {result.error}")
        c = result.counts
        ok = seconds < limit
        failed |= not ok
        rows.append(f"| {engine} | {label} | {c['students']:,} | {len(fake.requests)} | {seconds:.2f} | "
                    f"< {limit:g} s {'✓' if ok else '✗ TOO SLOW'} | {c['added']:,} new pupils, "
                    f"{c['contacts_added']:,} new contacts, {c['marks_new']:,} new marks |")
        print(rows[-1], file=sys.stderr)
        if label == "full sync":
            time.sleep(1.1)  # the next sync asks for changes since this one started, to the second
    fake.stop()
    assert Pupil.objects.filter(school=school).count() == args.students
    assert Contact.objects.filter(pupil__school=school).count() == args.students * args.contacts
    assert AttendanceMark.objects.filter(pupil__school=school).count() == 2 * args.students
    print("| database | sync | students read | requests | wall s | target | written |")
    print("|---|---|---:|---:|---:|---|---|")
    print("\n".join(rows))
    if failed:
        raise SystemExit(1)


def _bench_head(school):
    from django.contrib.auth.models import User

    from people.models import StaffMember, StaffRole

    user = User.objects.create_user("bench.head")
    staff = StaffMember.objects.create(school=school, user=user, full_name="Bench Head")
    StaffRole.objects.create(staff=staff, role="headteacher")
    return staff


if __name__ == "__main__":
    main()
