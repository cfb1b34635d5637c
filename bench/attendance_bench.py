"""Attendance benchmark: import one million marks, then the daily referral scan over 50,000 pupils.

    .venv/bin/python bench/attendance_bench.py                     # SQLite, in a fresh temporary database
    pg_virtualenv -v 15 env DOORSTEP_DB=postgres .venv/bin/python bench/attendance_bench.py
    .venv/bin/python bench/attendance_bench.py --pupils 5000 --marks 100000   # a quick run

Each phase runs in its own process so that its peak memory (resource.getrusage ru_maxrss) is
its own. Prints a Markdown table for docs/benchmarks.md. The database is created for the run
(SQLite: a temporary directory; PostgreSQL: the database pg_virtualenv made) and is not the
project's own.
"""
import argparse
import csv
import datetime
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCAN_DAY = datetime.date(2026, 3, 20)  # a Friday in term


def setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "doorstep.settings")
    os.environ.setdefault("DOORSTEP_ALLOW_INSECURE_KEY", "1")
    import django

    django.setup()


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def school_days(count, until):
    days, day = [], until
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= datetime.timedelta(days=1)
    return sorted(days)


# ----------------------------------------------------------------------------- phases

def phase_setup(args):
    setup_django()
    from django.core.management import call_command

    from pupils.models import Pupil
    from pupils.upn import make_upn
    from schools.models import School
    from policies.models import SchoolPolicy

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    preset = (ROOT / "policy_engine" / "presets" / "coteford.toml").read_text()
    school = School.objects.create(name="Bench Academy", urn="999999", address="1 Bench Road", phone="01632 960999")
    SchoolPolicy.objects.create(school=school, version=1, source_name="coteford", toml_text=preset)
    Pupil.objects.bulk_create([
        Pupil(school=school, upn=make_upn(f"999{n:09d}"), admission_number=f"{n:06d}", first_name="Pupil", last_name=f"{n:06d}",
              date_of_birth=datetime.date(2015, 9, 1), year_group="5", address_line1=f"{n} Long Road", postcode="ZZ1 1ZZ")
        for n in range(args.pupils)
    ], batch_size=5000)
    return {"phase": "set-up (migrate, 1 school, pupils)", "rows": args.pupils, "seconds": time.perf_counter() - started}


def phase_csv(args):
    """A SIMS-style export: every pupil, both sessions, over as many school days as it takes."""
    started = time.perf_counter()
    rng = random.Random(4)
    days = school_days(max(1, args.marks // (2 * args.pupils)), SCAN_DAY)
    rows = 0
    with open(args.csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["UPN", "Forename", "Surname", "AttendanceDate", "SessionName", "AttendanceMark"])
        sys.path.insert(0, str(ROOT))
        from pupils.upn import make_upn

        for n in range(args.pupils):
            upn = make_upn(f"999{n:09d}")
            # One pupil in eight attends poorly, so the scan has cases to open.
            poor = n % 8 == 0
            for day in days:
                for session in ("AM", "PM"):
                    if rows >= args.marks:
                        break
                    r = rng.random()
                    if poor:
                        code = "N" if r < 0.25 else ("I" if r < 0.35 else ("/" if session == "AM" else "\\"))
                    else:
                        code = "I" if r < 0.03 else ("L" if r < 0.05 else ("/" if session == "AM" else "\\"))
                    w.writerow([upn, "Pupil", f"{n:06d}", day.strftime("%d/%m/%Y"), session, code])
                    rows += 1
    return {"phase": "write the CSV", "rows": rows, "seconds": time.perf_counter() - started,
            "note": f"{Path(args.csv).stat().st_size / 1048576:.0f} MB, {len(days)} school days"}


def phase_import(args, label):
    setup_django()
    from attendance.importer import BUILTIN_MAPPINGS, import_marks
    from schools.models import School

    school = School.objects.get(urn="999999")
    started = time.perf_counter()
    with open(args.csv, "rb") as f:
        run = import_marks(school, f, BUILTIN_MAPPINGS["sims"], file_name=Path(args.csv).name)
    return {"phase": label, "rows": run.rows, "seconds": time.perf_counter() - started,
            "note": f"{run.created} new, {run.updated} changed, {run.unchanged} unchanged"}


def phase_scan(args, label):
    setup_django()
    from attendance.services import scan_school
    from schools.models import School

    school = School.objects.get(urn="999999")
    started = time.perf_counter()
    result = scan_school(school, SCAN_DAY)
    return {"phase": label, "rows": result.pupils, "seconds": time.perf_counter() - started,
            "note": f"{result.below} below {result.threshold.percent}%, {result.opened} cases opened"}


def _marks_table():
    from attendance.models import AttendanceMark

    return AttendanceMark._meta.db_table


def phase_floor(args, label):
    """The floor: the same file into Doorstep's own marks table with nothing but the database's
    own bulk path. SQLite: Python's sqlite3 doing what the shell's `.import` does (the CSV
    reader, one executemany into a temporary table), then one INSERT ... SELECT that finds each
    pupil by UPN and turns the date into ISO form. PostgreSQL: COPY into a temporary table,
    then the same INSERT ... SELECT. No checking, no report of bad lines, no audit."""
    setup_django()
    from django.db import connection, transaction

    from schools.models import School

    school_id = School.objects.get(urn="999999").pk
    table = _marks_table()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("CREATE TEMPORARY TABLE import_marks (upn text, forename text, surname text, "
                           "day text, session text, mark text) ON COMMIT DROP")
            with open(args.csv, "rb") as f, cursor.cursor.copy(
                    "COPY import_marks FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            day = "to_date(t.day, 'DD/MM/YYYY')"
        else:
            cursor.execute("CREATE TEMPORARY TABLE import_marks (upn, forename, surname, day, session, mark)")
            with open(args.csv, newline="") as f:
                rows = csv.reader(f)
                next(rows)
                cursor.cursor.executemany("INSERT INTO import_marks VALUES (?, ?, ?, ?, ?, ?)", rows)
            day = "substr(t.day, 7, 4) || '-' || substr(t.day, 4, 2) || '-' || substr(t.day, 1, 2)"
        cursor.execute(
            f"INSERT INTO {table} (pupil_id, date, session, code) "
            f"SELECT p.id, {day}, t.session, t.mark FROM import_marks t "
            "JOIN pupils_pupil p ON p.upn = t.upn AND p.school_id = %s", [school_id])
        rows_in = cursor.rowcount
        if connection.vendor != "postgresql":
            cursor.execute("DROP TABLE import_marks")
    seconds = time.perf_counter() - started
    _clear_marks()
    return {"phase": label, "rows": rows_in, "seconds": seconds, "note": "floor"}


def _clear_marks():
    """Empty the marks table (untimed), so that the next import finds every mark new."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_marks_table()}")


def phase_clear(args):
    setup_django()
    started = time.perf_counter()
    _clear_marks()
    return {"phase": "clear", "rows": 0, "seconds": time.perf_counter() - started}


def phase_uncase(args):
    """Remove the referral cases (untimed), so that the next scan is again the first of the day."""
    setup_django()
    from attendance.models import ReferralCase

    started = time.perf_counter()
    ReferralCase.objects.all().delete()
    return {"phase": "clear", "rows": 0, "seconds": time.perf_counter() - started}


def phase_anchor(args, label):
    """The anchor for the scan: one GROUP BY over the window's marks of the school's pupils on
    roll, keeping those strictly below the threshold (the same arithmetic as
    attendance.models.below: attended * 100 < percent * possible)."""
    setup_django()
    from django.db import connection

    from attendance.models import AEA, CODES_BY_MEANING, PRESENT, window
    from attendance.services import threshold_for
    from schools.models import School

    school = School.objects.get(urn="999999")
    threshold = threshold_for(school)
    start, end = window(SCAN_DAY, threshold.months)
    attended = CODES_BY_MEANING[PRESENT] + CODES_BY_MEANING[AEA]
    possible = [c for m in ("present", "aea", "authorised", "unauthorised") for c in CODES_BY_MEANING[m]]
    marks = ", ".join(["%s"] * len(attended))
    counted = ", ".join(["%s"] * len(possible))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.pupil_id FROM {_marks_table()} m JOIN pupils_pupil p ON p.id = m.pupil_id "
            "WHERE p.school_id = %s AND p.on_roll AND m.date >= %s AND m.date <= %s GROUP BY m.pupil_id "
            f"HAVING SUM(CASE WHEN m.code IN ({marks}) THEN 1 ELSE 0 END) * 100 "
            f"< %s * SUM(CASE WHEN m.code IN ({counted}) THEN 1 ELSE 0 END)",
            [school.pk, start, end, *attended, threshold.percent, *possible])
        low = len(cursor.fetchall())
    return {"phase": label, "rows": low, "seconds": time.perf_counter() - started,
            "note": f"anchor: {low} pupils below {threshold.percent}%"}


def phase_scan_floor(args, label):
    """The floor for the first scan of a day: the rows that scan writes, written by the database
    alone, in one transaction under the school's lock. One GROUP BY counts every figure a case
    keeps and keeps the pupils below the threshold (into a temporary table); one INSERT ...
    SELECT opens their cases; a second writes each case's audit entry, its words and data put
    together in SQL. The same rows, indexes, constraints and commit as the scan's, with no
    Python between the rows and the database."""
    setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from attendance.models import AEA, AUTHORISED, CODES_BY_MEANING, CODE_SET, PENALTY_CODES, PRESENT, UNAUTHORISED
    from attendance.models import ReferralCase, penalty_window, window
    from attendance.services import threshold_for
    from audit.actions import Action
    from audit.models import AuditEntry
    from schools.models import School

    school = School.objects.get(urn="999999")
    threshold = threshold_for(school)
    start, end = window(SCAN_DAY, threshold.months)
    span = penalty_window(school, SCAN_DAY)
    if span is None or span[0] < start:
        raise SystemExit("the floor counts the penalty sessions inside the window only")

    def among(codes):
        return "m.code IN (" + ", ".join(["%s"] * len(codes)) + ")", list(codes)

    att, att_p = among(CODES_BY_MEANING[PRESENT] + CODES_BY_MEANING[AEA])
    auth, auth_p = among(CODES_BY_MEANING[AUTHORISED])
    unauth, unauth_p = among(CODES_BY_MEANING[UNAUTHORISED])
    pen, pen_p = among(PENALTY_CODES)
    postgres = connection.vendor == "postgresql"
    cases, audit = ReferralCase._meta.db_table, AuditEntry._meta.db_table
    json_object, json_array = ("json_build_object", "json_build_array") if postgres else ("json_object", "json_array")
    rule = (f" is below the referral threshold of {threshold.percent}% ({threshold.clause}) "
            f"for {start:%d %b %Y} to {end:%d %b %Y}")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        School.objects.select_for_update().get(pk=school.pk)
        # Counted into a temporary table first: PostgreSQL reads the marks with parallel workers
        # for CREATE TABLE AS, as for the anchor, but never for an INSERT ... SELECT.
        cursor.execute(
            "CREATE TEMPORARY TABLE below_now AS SELECT * FROM ("
            f"SELECT m.pupil_id, COUNT(*) FILTER (WHERE {att}) AS a, COUNT(*) FILTER (WHERE {auth}) AS au, "
            f"COUNT(*) FILTER (WHERE {unauth}) AS un, "
            f"COUNT(*) FILTER (WHERE {pen} AND m.date >= %s AND m.date <= %s) AS pen "
            f"FROM {_marks_table()} m JOIN pupils_pupil p ON p.id = m.pupil_id "
            "WHERE p.school_id = %s AND p.on_roll AND m.date >= %s AND m.date <= %s GROUP BY m.pupil_id"
            ") AS counted WHERE a * 100 < %s * (a + au + un)",
            [*att_p, *auth_p, *unauth_p, *pen_p, span[0], span[1], school.pk, start, end, threshold.percent])
        cursor.execute(
            f"INSERT INTO {cases} (school_id, pupil_id, state, opened_on, window_start, window_end, possible, "
            "attended, authorised, unauthorised, percent, threshold_percent, clause, code_set, penalty_sessions, note) "
            "SELECT %s, pupil_id, 'open', %s, %s, %s, a + au + un, a, au, un, ROUND(a * 100.0 / (a + au + un), 1), "
            "%s, %s, %s, pen, '' FROM below_now",
            [school.pk, SCAN_DAY, start, end, threshold.percent, threshold.clause, CODE_SET])
        opened = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {audit} (school_id, at, actor_name, action, object_type, object_id, summary, reason, "
            "data, user_agent) "
            "SELECT school_id, %s, 'Doorstep', %s, %s, CAST(id AS TEXT), "
            "'Attendance ' || CAST(percent AS TEXT) || '%%' || %s, '', "
            f"{json_object}('pupil', pupil_id, 'window', {json_array}(%s, %s), 'threshold', threshold_percent, "
            "'clause', clause), '' "
            f"FROM {cases} WHERE school_id = %s AND opened_on = %s AND cleared_on IS NULL",
            [timezone.now(), Action.REFERRAL_OPENED.value, ReferralCase._meta.label_lower, rule,
             start.isoformat(), end.isoformat(), school.pk, SCAN_DAY])
        cursor.execute("DROP TABLE below_now")
    return {"phase": label, "rows": opened, "seconds": time.perf_counter() - started,
            "note": f"scan floor: {opened} cases and their audit entries written in SQL"}


PHASES = {
    "setup": phase_setup,
    "csv": phase_csv,
    "floor": lambda a: phase_floor(a, "floor: the database's own bulk load"),
    "import": lambda a: phase_import(a, "import (all new)"),
    "reimport": lambda a: phase_import(a, "import the same file again"),
    "clear": phase_clear,
    "uncase": phase_uncase,
    "anchor": lambda a: phase_anchor(a, "anchor: one GROUP BY ... HAVING"),
    "scan": lambda a: phase_scan(a, "referral scan (first of the day)"),
    "rescan": lambda a: phase_scan(a, "referral scan (again, same day)"),
    "scanfloor": lambda a: phase_scan_floor(a, "scan floor: its writes in SQL alone"),
}
# Floor and import, anchor and scan, side by side and in turn, so that the machine's load
# (shared, noisy) falls on both alike. "clear" empties the marks (and the cases) untimed.
PLAN = ["setup", "csv",
        "floor", "import", "reimport", "clear", "floor", "import"]


def scan_plan(rounds: int) -> list[str]:
    """Each scan between two anchors (its ratio is to their mean: on this shared machine the
    anchor alone has moved by half from one run to the next), the first of the day and again,
    then the first scan's floor, `rounds` times; "uncase" makes the next scan (or floor) the
    first of the day again."""
    plan: list[str] = []
    for _ in range(rounds):
        plan += ["anchor", "scan", "anchor", "rescan", "uncase", "scanfloor", "uncase"]
    return plan + ["anchor"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, default=50_000)
    parser.add_argument("--marks", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="Scans of each kind, each between two anchors (default 3)")
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:  # a child process: run one phase, report as JSON on the last line
        result = PHASES[args.phase](args)
        result["peak_mb"] = peak_mb()
        print(json.dumps(result))
        return

    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="doorstep-bench-") as tmp:
        if env.get("DOORSTEP_DB") != "postgres" and not env.get("DATABASE_URL"):
            env["DOORSTEP_VAR_DIR"] = tmp  # a fresh SQLite file, never the project's own
            engine = "SQLite"
        else:
            engine = "PostgreSQL"
        csv_path = str(Path(tmp) / "marks.csv")
        print(f"Attendance bench on {engine}: {args.pupils:,} pupils, {args.marks:,} marks", file=sys.stderr)
        rows = []
        results = []
        for phase in PLAN + scan_plan(args.rounds):
            out = subprocess.run(
                [sys.executable, __file__, "--phase", phase, "--csv", csv_path, "--pupils", str(args.pupils),
                 "--marks", str(args.marks)], env=env, capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                sys.stderr.write(out.stdout + out.stderr)
                raise SystemExit(f"phase {phase} failed")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["load"] = os.getloadavg()[0]
            if phase in ("clear", "uncase"):
                continue
            results.append(result)
            rate = result["rows"] / result["seconds"] if result["seconds"] else 0
            rows.append(f"| {engine} | {result['phase']} | {result['rows']:,} | {result['seconds']:.2f} | {rate:,.0f} "
                        f"| {result['peak_mb']:.0f} | {result['load']:.1f} | {result.get('note', '')} |")
            print(rows[-1], file=sys.stderr)
    print("| database | phase | rows | wall s | rows/s | peak MB | load (1 min) | notes |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    print()
    print(ratios(engine, results))


def ratios(engine, results):
    """Each import against the floor run before it; each scan against the mean of the anchors
    run just before and just after it; each scan floor against the anchor after it, and the
    round's first scan against that floor; then the median of each kind's ratios."""
    lines = []
    kinds: dict[str, list[float]] = {}
    for i, r in enumerate(results):
        if r["phase"].startswith("import (all new)") and i and results[i - 1].get("note") == "floor":
            floor = results[i - 1]["seconds"]
            lines.append(f"{engine}: import (all new) / floor = {r['seconds']:.2f} / {floor:.2f} s "
                         f"= {r['seconds'] / floor:.2f}x")
            kinds.setdefault("import (all new) / floor", []).append(r["seconds"] / floor)
        elif r["phase"].startswith("scan floor"):
            first = [s for s in results[:i] if s["phase"].startswith("referral scan (first")]
            if first:
                lines.append(f"{engine}: first scan / its floor = {first[-1]['seconds']:.2f} / {r['seconds']:.2f} s "
                             f"= {first[-1]['seconds'] / r['seconds']:.2f}x")
                kinds.setdefault("first scan / its floor", []).append(first[-1]["seconds"] / r["seconds"])
            if i + 1 < len(results) and str(results[i + 1].get("note", "")).startswith("anchor"):
                anchor = results[i + 1]["seconds"]
                lines.append(f"{engine}: scan floor / anchor = {r['seconds']:.2f} / {anchor:.2f} s "
                             f"= {r['seconds'] / anchor:.2f}x")
                kinds.setdefault("scan floor / anchor", []).append(r["seconds"] / anchor)
        elif r["phase"].startswith("referral scan"):
            beside = [results[j]["seconds"] for j in (i - 1, i + 1)
                      if 0 <= j < len(results) and str(results[j].get("note", "")).startswith("anchor")]
            if not beside:
                continue
            anchor = sum(beside) / len(beside)
            lines.append(f"{engine}: {r['phase']} / anchor = {r['seconds']:.2f} / {anchor:.2f} s "
                         f"= {r['seconds'] / anchor:.2f}x")
            kinds.setdefault(f"{r['phase']} / anchor", []).append(r["seconds"] / anchor)
    for kind, values in kinds.items():
        lines.append(f"{engine}: median {kind} = {statistics.median(values):.2f}x "
                     f"(of {', '.join(f'{v:.2f}' for v in values)})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
