"""Office board server-time benchmark (docs/benchmarks.md, "The office board at any size"): how long the
server takes to answer the board's requests with 500, 1,000 and 2,000 visits under way at one school, side by
side with the same data as JSON from /api/board (the anchor), interleaved in one run.

    .venv/bin/python bench/board_bench.py                           # SQLite (a temporary file)
    pg_virtualenv -v 15 env DOORSTEP_DB=postgres .venv/bin/python bench/board_bench.py
    .venv/bin/python bench/board_bench.py --visits 500 --samples 10  # quick

For each size:
  1. a fresh database (bench/safety_bench.py's targets and phases: migrate, then one coteford
     school with --visits visits under way, two staff each, their events and Watch rows, the
     deadlines an hour or more away), and --alerts of them past their deadline, raised by one
     pass of the real watchdog (open alerts on the board and in the alarm strip);
  2. in one process set up as a web worker is (doorstep.wsgi: start-up objects frozen out of the
     garbage collector), through Django's test client (the whole middleware stack, no network),
     signed in as the school's office: a first fetch of each page (a web process's first, which renders
     every row), then --samples rounds, each round fetching every page once in a rotating
     order (interleaved, so a busy moment of the shared machine falls on all of them):
     - `/api/board`, the anchor: the same data as JSON;
     - `/board/live/`, the list of visits, fetched again with nothing changed since the last;
     - `/board/live/` after a check-in: before it (not timed) the office records a call from
       the next visit's lead in turn, so one row has changed: the fetch the page makes when
       something changed;
     - `/board/live/` again with `If-None-Match` from the previous answer: nothing changed, 304;
     - `/board/alarms/`, the alarm strip;
     - `/board/`, the whole page as first opened;
  3. p50 / p95 of each (wall time), this process's CPU time for it (on SQLite that includes the
     database's own work; PostgreSQL's is in its own processes), the bytes of each answer, and
     the machine's load (1-minute average) before and after.

Prints a Markdown table and writes JSON to --json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import safety_bench as sb  # noqa: E402 - the sibling bench: its databases, phases and processes

PAGES = ("api", "live", "live_changed", "live_304", "alarms", "board")
LABELS = {"api": "`/api/board` (anchor, JSON)", "live": "`/board/live/`, again",
          "live_changed": "`/board/live/` after a check-in", "live_304": "`/board/live/`, unchanged (304)",
          "alarms": "`/board/alarms/`", "board": "`/board/` (whole page)"}


def load() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:  # no /proc: the figures go out without the load
        return -1.0


def phase_measure(samples, alerts):
    """In this process: raise `alerts` alerts with one watchdog pass, sign in as the office and
    time the board's pages (interleaved rounds)."""
    sb.setup_django()
    # Set up as a web worker is (doorstep.wsgi, which gunicorn loads): what start-up loaded is
    # frozen out of the garbage collector's reach. Without it a full collection walked ~150,000
    # objects (about 100 ms) inside whichever fetch set it off, which the server does not do.
    import doorstep.wsgi  # noqa: F401
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from people.models import StaffMember
    from safety import recording, watchdog
    from safety.checkins.models import VisitEvent, Watch
    from visits.models import Visit, VisitStaff

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    past = timezone.now() - datetime.timedelta(seconds=5)
    late = list(Watch.objects.order_by("pk").values_list("pk", flat=True)[:alerts])
    Watch.objects.filter(pk__in=late).update(alert_at=past, due_at=past - datetime.timedelta(minutes=5))
    watchdog.poll()
    office = StaffMember.objects.filter(roles__role="office").select_related("user").order_by("pk").first()
    assert office is not None
    client = Client()
    client.force_login(office.user)
    device = TOTPDevice.objects.create(user=office.user, name="Bench phone", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    urls = {"api": "/api/board", "live": "/board/live/", "live_changed": "/board/live/", "live_304": "/board/live/",
            "alarms": "/board/alarms/",
            "board": "/board/"}
    etag = ""
    statuses: dict[str, dict[int, int]] = {page: {} for page in PAGES}
    cpu_times: dict[str, list[float]] = {page: [] for page in PAGES}

    # "After a check-in": before each of those fetches (not timed), the office records a call
    # from the lead of the next visit in turn, as it would from a phone call: that row's
    # deadline moves, so the list has changed and that row is read and drawn again.
    under_way = list(Visit.objects.filter(state=Visit.State.UNDER_WAY).order_by("pk"))
    leads = dict(VisitStaff.objects.filter(lead=True, visit__in=under_way).values_list("visit_id", "staff_id"))
    staff_by_id = StaffMember.objects.in_bulk(leads.values())
    turn = iter(range(10**9))

    def check_in():
        visit = under_way[next(turn) % len(under_way)]
        recording.record_event(visit, "check_in", by=office, via=VisitEvent.Via.OFFICE_CALL,
                               staff=staff_by_id[leads[visit.pk]], location="Front room")

    def fetch(page):
        nonlocal etag
        if page == "live_changed":
            check_in()
        headers = {"HTTP_IF_NONE_MATCH": etag} if page == "live_304" and etag else {}
        started, cpu = time.perf_counter(), time.process_time()
        response = client.get(urls[page], **headers)
        took = time.perf_counter() - started
        cpu_times[page].append(time.process_time() - cpu)
        body = b"".join(response) if response.streaming else response.content
        # With If-None-Match: 304, or 200 when time alone changed the list since (a deadline
        # coming close): counted, and only the 304s timed as "unchanged".
        expected = (304, 200) if headers else (200,)
        if response.status_code not in expected:
            raise SystemExit(f"{urls[page]} answered {response.status_code}, not {expected}")
        statuses[page][response.status_code] = statuses[page].get(response.status_code, 0) + 1
        if page.startswith("live"):
            etag = response.get("ETag", etag)
        return (took if response.status_code == expected[0] else None), len(body)

    first = {page: fetch(page) for page in PAGES}
    statuses = {page: {} for page in PAGES}
    cpu_times = {page: [] for page in PAGES}
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    sizes: dict[str, int] = {}
    load_before = load()
    for i in range(samples):
        order = PAGES[i % len(PAGES):] + PAGES[:i % len(PAGES)]
        for page in order:
            took, size = fetch(page)
            if took is not None:
                times[page].append(took)
                sizes[page] = size
    return {"first": {p: {"ms": round((t or 0) * 1000, 1), "bytes": b} for p, (t, b) in first.items()},
            "pages": {p: {**summary(v), "bytes": sizes.get(p, 0), "cpu": summary(cpu_times[p])} for p, v in times.items()},
            "statuses": statuses, "load": [load_before, load()], "visits": Watch.objects.count(), "alerts": alerts}


def summary(values):
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def pick(q):
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"n": len(ordered), "p50": round(statistics.median(ordered) * 1000, 1), "p95": pick(0.95), "max": pick(1.0)}


PHASES = {"measure": phase_measure}


def markdown(results) -> str:
    lines = ["| database | visits under way | page | p50 | p95 | this process's CPU p50 / p95 | bytes | ratio to the anchor (p50) "
             "| first fetch in a process | load before → after |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        anchor = r["pages"]["api"]["p50"]
        for page in PAGES:
            p = r["pages"][page]
            first = r["first"][page]
            lines.append(f"| {results['database']} | {r['visits']:,} | {LABELS[page]} | {p['p50']:.0f} ms | {p['p95']:.0f} ms "
                         f"| {p['cpu']['p50']:.0f} / {p['cpu']['p95']:.0f} ms | {p['bytes']:,} | {p['p50'] / anchor:.2f} | {first['ms']:.0f} ms | {r['load'][0]:.2f} → {r['load'][1]:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("phase_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--visits", default="500,1000,2000", help="Visits under way, comma-separated (default 500,1000,2000)")
    parser.add_argument("--samples", type=int, default=40, help="Rounds of fetches per size (default 40)")
    parser.add_argument("--alerts", type=int, default=5, help="Open alerts on the board (default 5)")
    parser.add_argument("--json", help="Write the results here as JSON")
    args = parser.parse_args()

    if args.phase:
        values = [float(a) if "." in a else int(a) for a in args.phase_args]
        print(json.dumps(PHASES[args.phase](*values), default=str))
        return

    tmp = tempfile.mkdtemp(prefix="doorstep-board-bench-")
    if os.environ.get("DOORSTEP_BENCH_DATABASE_URL") or os.environ.get("DOORSTEP_DB") == "postgres":
        target = sb.PostgresTarget.from_environment()
    else:
        target = sb.SqliteTarget(tmp)
    results = {"database": target.name, "machine": sb.machine(), "args": {"samples": args.samples, "alerts": args.alerts},
               "runs": []}
    print(f"==> Board bench on {target.name}", flush=True)
    try:
        target.drop("board_template")
        if isinstance(target, sb.PostgresTarget):
            target.create("board_template")
        sb.run_phase(target, "board_template", "migrate")
        for visits in [int(v) for v in args.visits.split(",") if v]:
            db = f"board_{visits}"
            target.drop(db)
            target.clone("board_template", db)
            sb.run_phase(target, db, "populate", visits, visits, visits)
            # Every deadline an hour or more away: the board's rows are "fine" but for the alerts.
            sb.run_phase(target, db, "arm", 3600, 3600, 0, 0, 0)
            env = sb.child_env(target, db)
            out = subprocess.run([sb.PY, __file__, "--phase", "measure", str(args.samples), str(args.alerts)],
                                 env=env, cwd=ROOT, capture_output=True, text=True)
            if out.returncode != 0:
                sys.stderr.write(out.stdout + out.stderr)
                raise SystemExit(f"measuring failed on {target.name} (exit {out.returncode})")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results["runs"].append(r)
            print(f"    {visits:,} visits: " + ", ".join(f"{p} p50 {r['pages'][p]['p50']:.0f} ms / p95 {r['pages'][p]['p95']:.0f} ms"
                                                      for p in PAGES), flush=True)
            target.drop(db)
        target.drop("board_template")
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        if isinstance(target, sb.SqliteTarget):
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(markdown(results))


if __name__ == "__main__":
    main()
