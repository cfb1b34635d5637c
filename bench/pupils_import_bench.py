"""Pupils import benchmark: a SIMS-style CSV of 2,000 pupils with 4,000 contacts (two each,
one row per contact) imported through pupils.csv_import (the whole file checked, then one
transaction), then the same file again (nothing changes).

    .venv/bin/python bench/pupils_import_bench.py                              # SQLite, a fresh temporary file
    pg_virtualenv -v 15 env DOORSTEP_DB=postgres .venv/bin/python bench/pupils_import_bench.py
    .venv/bin/python bench/pupils_import_bench.py --pupils 200                 # a quick run

Prints a Markdown table for docs/benchmarks.md; exits 1 when an import takes 10 s or more
(issue 14's target).
"""
import argparse
import csv
import datetime
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--contacts", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="doorstep-pupils-bench-") as tmp:
        if os.environ.get("DOORSTEP_DB") != "postgres" and not os.environ.get("DATABASE_URL"):
            os.environ["DOORSTEP_VAR_DIR"] = tmp  # a fresh SQLite file, never the project's own
        run(args)


def sims_file(pupils: int, contacts: int) -> bytes:
    from pupils.csv_import import ALL_FIELDS, BUILTIN_MAPPINGS
    from pupils.upn import make_upn

    mapping = BUILTIN_MAPPINGS["sims"]
    header: list[str] = []
    for f in ALL_FIELDS:
        col = mapping.columns.get(f)
        for h in (col if isinstance(col, list) else [col]) if col else []:
            header.append(h)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    dob = datetime.date(datetime.date.today().year - 9, 3, 1).strftime("%d/%m/%Y")
    for n in range(1, pupils + 1):
        pupil = [str(10_000 + n), make_upn(f"997{n:09d}"), f"{n:06d}", f"Pupil{n}", "Bench", dob,
                 f"Year {n % 6 + 1}", f"{n % 6 + 1}A", str(n % 200 + 1), "Bench Street", "", "Benchton",
                 f"BN{n % 9 + 1} {n % 10}AB"]
        for c in range(1, contacts + 1):
            w.writerow(pupil + [str(50_000 + n * 10 + c), f"Carer{c}", "Bench", "Mother" if c == 1 else "Father",
                                str(c), f"07700 9{n % 100000:05d}", "", f"carer{c}.{n}@example.com", "Yes", "Yes"])
    return out.getvalue().encode()


def run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "doorstep.settings")
    os.environ.setdefault("DOORSTEP_ALLOW_INSECURE_KEY", "1")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from pupils.csv_import import import_file, mapping_for
    from pupils.models import Contact, Pupil
    from schools.models import School

    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    call_command("migrate", verbosity=0)
    school = School.objects.create(name="Pupils Bench Academy", urn="999997")
    data = sims_file(args.pupils, args.contacts)
    mapping = mapping_for(school, "sims")
    rows, failed = [], False
    for label in ("first import", "the same file again"):
        started = time.perf_counter()
        counts = import_file(school, io.BytesIO(data), mapping, by=None, file_name="bench.csv")
        seconds = time.perf_counter() - started
        ok = seconds < LIMIT
        failed |= not ok
        rows.append(f"| {engine} | {label} | {args.pupils:,} pupils, {args.pupils * args.contacts:,} contacts | "
                    f"{seconds:.2f} | < {LIMIT:g} s {'✓' if ok else '✗ TOO SLOW'} | {counts} |")
        print(rows[-1], file=sys.stderr)
    assert Pupil.objects.filter(school=school).count() == args.pupils
    assert Contact.objects.filter(pupil__school=school).count() == args.pupils * args.contacts
    assert counts.unchanged == args.pupils and counts.contacts_updated == 0
    print("| database | import | file | wall s | target | counts |")
    print("|---|---|---|---:|---|---|")
    print("\n".join(rows))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
