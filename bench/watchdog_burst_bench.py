"""Watchdog burst benchmark (docs/benchmarks.md, "Watchdog bursts"): how many alerts a second
one watchdog raises when 10,000 deadlines fall due together.

    .venv/bin/python bench/watchdog_burst_bench.py                        # SQLite (a temporary file)
    pg_virtualenv -v 15 env DOORSTEP_DB=postgres .venv/bin/python bench/watchdog_burst_bench.py
    .venv/bin/python bench/watchdog_burst_bench.py --visits 2000 --rounds 1   # quick

The data are the safety bench's (bench/safety_bench.py): coteford schools of 20 visits under
way each, two visiting staff a visit and five people who can be alerted, their events and
Watch rows, with every `alert_at` spread over 15 seconds, written afresh on a copy of the
database before each pass (so that no escalation step falls due during it). Then one watchdog pass (`safety.watchdog.poll`, in its own process) takes
the whole burst with the clock 20 seconds on, so every deadline is due:

- "one at a time": `raise_batch=1`, one transaction per alert (how the watchdog worked
  before batching), stopped after --before-seconds (it would take minutes);
- "in batches": the watchdog's default (`safety.watchdog.RAISE_BATCH` alerts a transaction).

The two alternate, --rounds times, in one run, so the machine's load falls on both alike.
alerts/s = alerts raised / wall seconds of the pass; every run is checked afterwards: each
visit alerted exactly once, every alert with its step-1 messages and audit entries.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import safety_bench as sb  # noqa: E402  the same schools, staff, visits and Watch rows

PY = sys.executable


def phase_drain(raise_batch, seconds):
    """One watchdog pass over every due watch (the clock 20 s on), `raise_batch` alerts a
    transaction, for at most `seconds` (0: until done)."""
    sb.setup_django()
    from django.utils import timezone

    from safety import watchdog

    now = timezone.now() + datetime.timedelta(seconds=20)
    deadline = time.perf_counter() + seconds if seconds else None
    raised = 0
    cpu = time.process_time()
    started = time.perf_counter()
    while deadline is None or time.perf_counter() < deadline:
        # A pass stopped by the clock looks at it every 50 alerts; one run to the end takes
        # the watchdog's own 500 at a time.
        done = watchdog.poll(now, batch=50 if seconds else 500, raise_batch=int(raise_batch))
        raised += done["raised"]
        if not done["raised"]:
            break
    took = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {"raised": raised, "seconds": round(took, 2), "per_second": round(raised / took, 1) if took else 0.0,
            "cpu_seconds": round(cpu, 2), "per_cpu_second": round(raised / cpu, 1) if cpu else 0.0}


def phase_verify():
    """Each visit alerted once, each alert told with its step-1 messages and audit entries."""
    sb.setup_django()
    from django.db.models import Count

    from audit.models import AuditEntry
    from notify.models import Message
    from safety.alerts.models import Alert, AlertStep

    alerts = Alert.objects.count()
    visits = Alert.objects.values("visit_id").distinct().count()
    twice = Alert.objects.values("visit_id").annotate(n=Count("id")).filter(n__gt=1).count()
    steps = AlertStep.objects.filter(step=0).count()
    told = Message.objects.filter(alert_id__isnull=False, channel="in_app").values("alert_id").distinct().count()
    audited = AuditEntry.objects.filter(action="alert.raised").count()
    return {"alerts": alerts, "visits": visits, "duplicates": twice, "steps": steps, "told": told, "audited": audited}


PHASES = {"drain": phase_drain, "verify": phase_verify}


def run_phase(target, db, phase, *args):
    out = subprocess.run([PY, __file__, "--phase", phase, *map(str, args)], env=sb.child_env(target, db),
                         cwd=sb.ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-4000:] + out.stderr[-4000:])
        raise SystemExit(f"phase {phase} failed on {target.name} (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def sb_phase(target, db, phase, *args):
    return sb.run_phase(target, db, phase, *args)


def load():
    return os.getloadavg()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("phase_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--visits", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before-seconds", type=float, default=30.0,
                        help="How long the one-at-a-time pass runs before it is stopped (default 30)")
    parser.add_argument("--sizes", default="",
                        help="Batch sizes to compare beside the watchdog's own, comma-separated (e.g. 50,100)")
    parser.add_argument("--json", help="Write the results here as JSON")
    args = parser.parse_args()

    if args.phase:
        values = [float(a) if "." in a else int(a) for a in args.phase_args]
        print(json.dumps(PHASES[args.phase](*values), default=str))
        return

    if os.environ.get("DOORSTEP_BENCH_DATABASE_URL") or os.environ.get("DOORSTEP_DB") == "postgres":
        target = sb.PostgresTarget.from_environment()
    else:
        target = None
    tmp = tempfile.mkdtemp(prefix="doorstep-burst-bench-")
    if target is None:
        target = sb.SqliteTarget(tmp)
    print(f"==> Watchdog burst bench on {target.name}: {args.visits:,} deadlines within 15 s", flush=True)
    results = {"database": target.name, "machine": sb.machine(), "visits": args.visits, "runs": []}
    try:
        for db in ("burst_template", "burst_armed"):
            target.drop(db)
        if isinstance(target, sb.PostgresTarget):
            target.create("burst_template")
        sb_phase(target, "burst_template", "migrate")
        made = sb_phase(target, "burst_template", "populate", args.visits, 20, 300)
        target.analyze("burst_template")  # statistics, as a database in use has them (copied with it)
        print(f"    {made['visits']:,} visits under way in {made['schools']} schools", flush=True)
        cases = [("one at a time", 1, args.before_seconds), ("in batches", 0, 0)]
        cases += [(f"in batches of {n}", int(n), 0) for n in args.sizes.split(",") if n]
        for rnd in range(args.rounds):
            for label, size, limit in cases:
                db = "burst_run"
                target.drop(db)
                target.clone("burst_template", db)
                # Armed just before the pass, so that no escalation step falls due during it.
                sb_phase(target, db, "arm", 0.0, 15.0, 0.0, 20.0, 0.0)
                before = load()[0]
                r = run_phase(target, db, "drain", size, float(limit))
                check = run_phase(target, db, "verify")
                r.update(label=label, round=rnd + 1, load=before, check=check)
                results["runs"].append(r)
                ok = check["duplicates"] == 0 and check["alerts"] == check["steps"] == check["told"] == check["audited"]
                print(f"    round {rnd + 1}, {label}: {r['raised']:,} alerts in {r['seconds']} s = "
                      f"{r['per_second']:,.0f}/s (load {before:.1f}); check {'ok' if ok else 'FAILED'} {check}",
                      flush=True)
                target.drop(db)
        target.drop("burst_template")
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        if isinstance(target, sb.SqliteTarget):
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| database | watchdog | alerts | wall s | alerts/s | CPU s | alerts per CPU second | load (1 min) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results["runs"]:
        print(f"| {target.name} | {r['label']} (round {r['round']}) | {r['raised']:,} | {r['seconds']} | "
              f"{r['per_second']:,.0f} | {r['cpu_seconds']} | {r['per_cpu_second']:,.0f} | {r['load']:.1f} |")
    batched = [r["per_second"] for r in results["runs"] if r["label"] == "in batches"]
    single = [r["per_second"] for r in results["runs"] if r["label"] == "one at a time"]
    if batched and single:
        print(f"\nin batches / one at a time: {min(batched) / max(single):.1f}x to {max(batched) / min(single):.1f}x")


if __name__ == "__main__":
    main()
