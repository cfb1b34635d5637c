"""Check-in benchmark (docs/benchmarks.md, "Check-ins against healthchecks' ping"): how many
check-ins a second Doorstep takes, side by side with healthchecks' `POST /ping/<uuid>`, and what
one check-in costs in process (milliseconds, SQL statements, write transactions, write lock).

    .venv/bin/python bench/checkin_bench.py                       # Doorstep alone (SQLite)
    HEALTHCHECKS_DIR=~/src/healthchecks .venv/bin/python bench/checkin_bench.py   # side by side
    .venv/bin/python bench/checkin_bench.py --seconds 5 --rounds 1   # quick

The comparison needs a healthchecks checkout that you provide (nothing is fetched): point
HEALTHCHECKS_DIR at it, with its requirements and gunicorn installed in a virtualenv
(HEALTHCHECKS_PYTHON, by default $HEALTHCHECKS_DIR/.venv/bin/python). For example:

    git clone --branch v3.13 https://github.com/healthchecks/healthchecks ~/src/healthchecks
    python3 -m venv ~/src/healthchecks/.venv
    ~/src/healthchecks/.venv/bin/pip install -r ~/src/healthchecks/requirements.txt gunicorn

(pycurl, used only by its webhook integrations, may be left out of requirements.txt.) Its
checkout is not changed: its settings are read through a settings module written to a
temporary directory, giving it the same SQLite settings as Doorstep (WAL, synchronous=NORMAL,
BEGIN IMMEDIATE, 20 s busy timeout, connections kept 60 s).

What runs:
  1. Doorstep: a fresh SQLite file with --visits visits under way (bench/safety_bench.py's
     migrate, populate and arm phases: two visiting staff a visit, with PINs, deadlines
     15 minutes away), an API token (scope events:write) for each visit's lead;
  2. healthchecks: a fresh SQLite file, migrated, one project with --visits checks;
  3. both under gunicorn, sync workers, the same --workers count, no other process (neither
     Doorstep's watchdog nor healthchecks' sendalerts: requests only);
  4. wrk (or, without it, a small asyncio load generator with as many connections) with
     --connections connections for --seconds: Doorstep gets
     `POST /api/visits/<id>/events {"type": "check_in", "pin": <the safe PIN>, ...}` with the
     visit's lead's bearer token, going round the visits; healthchecks gets `POST /ping/<uuid>`
     going round the checks. The runs are interleaved: Doorstep, healthchecks, Doorstep,
     healthchecks..., --rounds times for each worker count, with /proc/loadavg before each;
  5. in process (Django's test client, no server): one check-in's time, SQL statements,
     write transactions and how long the write lock is held, over --inproc check-ins.

Prints Markdown tables and writes JSON to --json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import safety_bench as sb  # noqa: E402  (the shared database phases, from this directory)

PY = sys.executable
PIN = sb.PIN
DURESS_PIN = sb.DURESS_PIN


# ============================================================================ in process

def phase_inproc(count: int, logins_path: str) -> dict:
    """`count` check-ins through Django's test client (the whole stack but the server), with
    every SQL statement counted and the write transaction's lock timed."""
    sb.setup_django()
    from django.db import connection
    from django.test import Client

    people = json.loads(Path(logins_path).read_text())["staff"]
    client = Client(HTTP_HOST="127.0.0.1")
    body = json.dumps({"type": "check_in", "via": "phone", "pin": PIN, "location": "Living room"})

    statements: list[str] = []
    lock = {"began": 0.0, "held": 0.0, "writes": 0}

    def counting(execute, sql, params, many, context):
        # BEGIN IMMEDIATE takes SQLite's write lock and COMMIT gives it back (timed_begin,
        # timed_commit); a write outside a transaction is a write transaction of its own.
        statements.append(sql)
        if connection.in_atomic_block or sql.split(None, 1)[0].upper() not in ("INSERT", "UPDATE", "DELETE"):
            return execute(sql, params, many, context)
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            lock["held"] += time.perf_counter() - began
            lock["writes"] += 1

    begin = connection._start_transaction_under_autocommit
    commit = connection._commit

    def timed_begin():
        lock["began"] = time.perf_counter()
        return begin()

    def timed_commit():
        result = commit()
        if lock["began"]:
            lock["held"] += time.perf_counter() - lock["began"]
            lock["writes"] += 1
            lock["began"] = 0.0
        statements.append("COMMIT")
        return result

    def post(person, data=body):
        return client.post(f"/api/visits/{person['visits'][0]}/events", data=data, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {person['token']}")

    for person in people[:5]:  # warm: connections, caches, the first token use of the minute
        answer = post(person)
        if answer.status_code != 200:
            raise SystemExit(f"check-in refused: {answer.status_code} {answer.content[:300]!r}")
    connection._start_transaction_under_autocommit = timed_begin
    connection._commit = timed_commit
    took = []
    try:
        with connection.execute_wrapper(counting):
            for i in range(count):
                person = people[5 + i % (len(people) - 5)]
                began = time.perf_counter()
                answer = post(person)
                took.append(time.perf_counter() - began)
                if answer.status_code != 200:
                    raise SystemExit(f"check-in refused: {answer.status_code} {answer.content[:300]!r}")
        statements_per = len(statements) / count
        writes, held = lock["writes"], lock["held"]
        # The duress PIN, on visits of their own (from the other end of the list), interleaved
        # with as many safe check-ins: its answer is the safe PIN's, and so should its time be
        # (the silent alarm is raised in the same transaction).
        duress_body = json.dumps({"type": "check_in", "via": "phone", "pin": DURESS_PIN, "location": "Living room"})
        pairs = min(count // 3, len(people) - 5 - count)
        timed: dict[str, list[float]] = {"safe": [], "duress": []}
        for i in range(pairs):
            for kind, person, data in (("safe", people[5 + i % (len(people) - 5)], body),
                                       ("duress", people[-1 - i], duress_body)):
                began = time.perf_counter()
                answer = post(person, data)
                timed[kind].append(time.perf_counter() - began)
                if answer.status_code != 200:
                    raise SystemExit(f"{kind} check-in refused: {answer.status_code} {answer.content[:300]!r}")
    finally:
        connection._start_transaction_under_autocommit = begin
        connection._commit = commit
    return {"check_ins": count, "ms_p50": round(1000 * statistics.median(took), 2),
            "ms_mean": round(1000 * statistics.mean(took), 2),
            "statements": round(statements_per, 2), "write_transactions": round(writes / count, 2),
            "lock_ms": round(1000 * held / count, 2),  # per check-in, all its write transactions
            "duress_pairs": pairs,
            "safe_ms_p50_beside_duress": round(1000 * statistics.median(timed["safe"]), 2) if pairs else None,
            "duress_ms_p50": round(1000 * statistics.median(timed["duress"]), 2) if pairs else None,
            "sample": [s[:120] for s in statements[:int(statements_per) + 1]]}


def phase_tokens(logins_path: str, count: int) -> dict:
    """API tokens for the lead of each of `count` visits, saved to `logins_path`."""
    answer = sb.phase_logins(count)
    Path(logins_path).write_text(json.dumps(answer))
    return {"tokens": len(answer["staff"])}


PHASES = {"inproc": phase_inproc, "tokens": phase_tokens}


def run_own_phase(target, db, phase, *args) -> dict:
    out = subprocess.run([PY, __file__, "--phase", phase, *map(str, args)], env=sb.child_env(target, db),
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"phase {phase} failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ============================================================================ healthchecks

HC_SETTINGS = """\
# Written by Doorstep's bench/checkin_bench.py: healthchecks with Doorstep's SQLite settings.
from hc.settings import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["*"]
SECRET_KEY = "checkin-bench-only"
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.sqlite3", "NAME": {name!r}, "CONN_MAX_AGE": 60,
    "OPTIONS": {{"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE"}},
}}}}
"""

HC_CHECKS = """\
import json
from django.contrib.auth.models import User
from hc.accounts.models import Project
from hc.api.models import Check
owner = User.objects.create_user("bench", "bench@example.org", "bench-password-123")
project = Project.objects.create(owner=owner, name="Bench")
made = Check.objects.bulk_create([Check(project=project, name=f"Visit {i}") for i in range(COUNT)])
print(json.dumps([str(c.code) for c in made]))
"""


class Healthchecks:
    def __init__(self, checkout: Path, python: str, tmp: Path):
        self.dir, self.python, self.tmp = checkout, python, tmp
        (tmp / "hcbench_settings.py").write_text(HC_SETTINGS.format(name=str(tmp / "hc.sqlite3")))

    def env(self) -> dict:
        env = dict(os.environ)
        for key in ("DATABASE_URL", "DOORSTEP_DB", "DB", "DB_NAME"):
            env.pop(key, None)
        env.update(DJANGO_SETTINGS_MODULE="hcbench_settings", PYTHONPATH=f"{self.tmp}:{self.dir}",
                   PYTHONUNBUFFERED="1", SITE_ROOT="http://127.0.0.1")
        return env

    def manage(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run([self.python, "manage.py", *args], cwd=self.dir, env=self.env(), input=stdin,
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stdout + out.stderr)
            raise SystemExit(f"healthchecks: manage.py {args[0]} failed (exit {out.returncode})")
        return out.stdout

    def prepare(self, count: int) -> list[str]:
        self.manage("migrate", "--verbosity", "0")
        return json.loads(self.manage("shell", "-c", HC_CHECKS.replace("COUNT", str(int(count)))).strip().splitlines()[-1])

    def server(self, port: int, workers: int, log) -> subprocess.Popen:
        return subprocess.Popen(
            [self.python, "-m", "gunicorn", "hc.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers",
             str(workers), "--worker-class", "sync", "--access-logfile", "/dev/null"],
            cwd=self.dir, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def doorstep_server(target, db, port: int, workers: int, log) -> subprocess.Popen:
    return subprocess.Popen(
        [PY, "-m", "gunicorn", "doorstep.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers",
         str(workers), "--worker-class", "sync", "--access-logfile", "/dev/null"],
        env=sb.child_env(target, db), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_up(port: int, path: str, seconds: float = 60) -> None:
    import socket

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1."):
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not start")


# ============================================================================ load

# One request each: (path, extra header lines, body). wrk goes round them from a Lua table.
Request = tuple[str, str, str]


def lua_script(requests: list[Request], path: Path) -> Path:
    def q(s: str) -> str:
        return json.dumps(s)  # a JSON string is a valid Lua string here (ASCII, escaped quotes)

    rows = ",\n".join(f"  {{{q(p)}, {q(h)}, {q(b)}}}" for p, h, b in requests)
    path.write_text(
        "local reqs = {\n" + rows + "\n}\n"
        "local i = 0\n"
        "function setup(thread) thread:set('offset', math.random(#reqs)) end\n"
        "request = function()\n"
        "  i = i + 1\n"
        "  local r = reqs[((i + (offset or 0)) % #reqs) + 1]\n"
        "  local headers = {['Content-Type'] = 'application/json'}\n"
        "  if r[2] ~= '' then headers['Authorization'] = r[2] end\n"
        "  return wrk.format('POST', r[1], headers, r[3])\n"
        "end\n")
    return path


def run_wrk(port: int, requests: list[Request], seconds: float, connections: int, tmp: Path) -> dict:
    script = lua_script(requests, tmp / f"load-{port}.lua")
    threads = 2 if connections >= 2 else 1
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--latency", "--timeout", "30s",
                          "-s", str(script), f"http://127.0.0.1:{port}"], capture_output=True, text=True)
    text = out.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)) if "Requests/sec" in text else 0.0
    total = int(re.search(r"(\d+) requests in", text).group(1)) if "requests in" in text else 0
    bad = int(re.search(r"Non-2xx or 3xx responses: (\d+)", text).group(1)) if "Non-2xx" in text else 0
    errors = re.search(r"Socket errors: (.*)", text)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)

    def to_ms(m):
        if not m:
            return None
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    ok_rate = rate * (total - bad) / total if total else 0.0
    return {"tool": "wrk", "requests": total, "non_2xx": bad, "per_second": round(ok_rate, 1),
            "p50_ms": to_ms(p50), "p99_ms": to_ms(p99), "socket_errors": errors.group(1) if errors else ""}


def run_asyncio(port: int, requests: list[Request], seconds: float, connections: int, tmp: Path) -> dict:
    """wrk's job without wrk: `connections` loops, each a new connection a request (gunicorn's
    sync workers close it after each answer), for `seconds`."""
    latencies: list[float] = []
    codes: dict[str, int] = {}

    async def one(k: int, stop_at: float) -> None:
        i = k
        while time.perf_counter() < stop_at:
            path, auth, body = requests[i % len(requests)]
            i += connections
            began = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                        + (f"Authorization: {auth}\r\n" if auth else "") + "\r\n")
                writer.write(head.encode() + body.encode())
                await writer.drain()
                answer = await reader.read()
                writer.close()
                code = answer[9:12].decode() or "empty"
            except OSError as exc:
                code = type(exc).__name__
            latencies.append(time.perf_counter() - began)
            codes[code] = codes.get(code, 0) + 1

    async def main() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(one(k, began + seconds) for k in range(connections)))
        return time.perf_counter() - began

    elapsed = asyncio.run(main())
    ok = codes.get("200", 0)
    lat = sorted(latencies) or [0.0]
    return {"tool": "asyncio", "requests": len(latencies), "non_2xx": len(latencies) - ok,
            "per_second": round(ok / elapsed, 1), "p50_ms": round(1000 * lat[len(lat) // 2], 1),
            "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1), "codes": codes}


def load(port, requests, seconds, connections, tmp):
    runner = run_wrk if shutil.which("wrk") else run_asyncio
    return runner(port, requests, seconds, connections, tmp)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # not Linux: reported as unknown
        return "?"


# ============================================================================ main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("phase_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--visits", type=int, default=2000, help="Visits under way (and healthchecks checks)")
    parser.add_argument("--workers", default="2,4", help="gunicorn sync workers, comma-separated (default 2,4)")
    parser.add_argument("--connections", default="8,32",
                        help="Connections for each worker count, in the same order (default 8,32)")
    parser.add_argument("--seconds", type=float, default=10.0, help="Each run's length (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved runs of each server per worker count")
    parser.add_argument("--inproc", type=int, default=300, help="Check-ins measured in process")
    parser.add_argument("--json", help="Write the results here as JSON")
    args = parser.parse_args()

    if args.phase:
        values = [int(a) if a.isdigit() else a for a in args.phase_args]
        print(json.dumps(PHASES[args.phase](*values), default=str))
        return

    workers = [int(w) for w in args.workers.split(",") if w]
    connections = [int(c) for c in args.connections.split(",") if c]
    if len(connections) != len(workers):
        raise SystemExit("--connections needs one count for each --workers count")
    hc_dir = os.environ.get("HEALTHCHECKS_DIR")
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-checkin-bench-"))
    target = sb.SqliteTarget(tmp)
    results: dict = {"machine": sb.machine(), "load_generator": "wrk" if shutil.which("wrk") else "asyncio",
                     "args": {k: v for k, v in vars(args).items() if k not in ("phase", "phase_args")},
                     "inproc": None, "http": []}
    print(f"==> Check-in bench (SQLite; files and logs in {tmp}); load average {loadavg()}", flush=True)
    try:
        sb.run_phase(target, "doorstep", "migrate")
        sb.run_phase(target, "doorstep", "populate", args.visits, 20, 30)
        # Deadlines 15 minutes away: check-ins are measured, not alerts.
        sb.run_phase(target, "doorstep", "arm", 15 * 60 - 60, 60, 60, 50, 0)
        logins = tmp / "logins.json"
        run_own_phase(target, "doorstep", "tokens", str(logins), args.visits)
        people = json.loads(logins.read_text())["staff"]
        body = json.dumps({"type": "check_in", "via": "phone", "pin": PIN, "location": "Living room"})
        doorstep_requests = [(f"/api/visits/{p['visits'][0]}/events", f"Bearer {p['token']}", body) for p in people]
        print(f"    Doorstep: {len(people):,} visits under way, each with its lead's API token", flush=True)

        if args.inproc:
            # On a copy, so the HTTP runs start from the same events.
            target.clone("doorstep", "inproc")
            results["inproc"] = run_own_phase(target, "inproc", "inproc", args.inproc, str(logins))
            target.drop("inproc")
            r = results["inproc"]
            print(f"    in process: {r['ms_p50']} ms p50, {r['statements']} SQL statements, "
                  f"{r['write_transactions']} write transactions, lock held {r['lock_ms']} ms; beside the duress "
                  f"PIN: safe {r['safe_ms_p50_beside_duress']} ms, duress {r['duress_ms_p50']} ms p50", flush=True)

        hc = None
        if hc_dir:
            hc_python = os.environ.get("HEALTHCHECKS_PYTHON") or str(Path(hc_dir) / ".venv" / "bin" / "python")
            hc = Healthchecks(Path(hc_dir).resolve(), hc_python, tmp)
            codes = hc.prepare(args.visits)
            hc_requests = [(f"/ping/{code}", "", "") for code in codes]
            print(f"    healthchecks ({hc_dir}): {len(codes):,} checks", flush=True)

        for count, conns in zip(workers, connections, strict=True):
            procs = []
            d_port = sb.free_port()
            procs.append(doorstep_server(target, "doorstep", d_port, count, open(tmp / f"doorstep-{count}.log", "w")))
            wait_up(d_port, "/accounts/login/")
            if hc is not None:
                h_port = sb.free_port()
                procs.append(hc.server(h_port, count, open(tmp / f"hc-{count}.log", "w")))
                wait_up(h_port, "/")
            try:
                # A short warm-up of each: every worker has imported, connected and parsed.
                load(d_port, doorstep_requests, 2, conns, tmp)
                if hc is not None:
                    load(h_port, hc_requests, 2, conns, tmp)
                for round_no in range(1, args.rounds + 1):
                    runs = [("Doorstep", d_port, doorstep_requests)]
                    if hc is not None:
                        runs.append(("healthchecks", h_port, hc_requests))
                    for name, port, reqs in runs:
                        before = loadavg()
                        r = load(port, reqs, args.seconds, conns, tmp)
                        r.update(server=name, workers=count, connections=conns, round=round_no, loadavg=before)
                        results["http"].append(r)
                        print(f"    {name:12} {count} workers x {conns} connections, round {round_no}: "
                              f"{r['per_second']:,.0f} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                              f"non-2xx {r['non_2xx']}, load {before}", flush=True)
            finally:
                sb.stop(procs)
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print()
    print(markdown(results))
    shutil.rmtree(tmp, ignore_errors=True)


def markdown(results: dict) -> str:
    lines = []
    r = results["inproc"]
    if r:
        lines += ["| one check-in, in process | ms p50 | ms mean | SQL statements | write transactions | write lock held (per check-in) |",
                  "|---|---:|---:|---:|---:|---:|",
                  f"| Doorstep, API token + PIN | {r['ms_p50']} | {r['ms_mean']} | {r['statements']} | "
                  f"{r['write_transactions']} | {r['lock_ms']} ms |", ""]
        if r.get("duress_pairs"):
            lines += [f"The duress PIN beside the safe PIN ({r['duress_pairs']} pairs, interleaved, in process): "
                      f"safe {r['safe_ms_p50_beside_duress']} ms p50, duress {r['duress_ms_p50']} ms p50.", ""]
    lines += ["| workers × connections | Doorstep req/s (each round) | healthchecks req/s (each round) | ratio (medians) |",
              "|---|---|---|---:|"]
    configs = sorted({(h["workers"], h["connections"]) for h in results["http"]})
    for workers, conns in configs:
        mine = [h["per_second"] for h in results["http"] if (h["workers"], h["connections"], h["server"]) ==
                (workers, conns, "Doorstep")]
        theirs = [h["per_second"] for h in results["http"] if (h["workers"], h["connections"], h["server"]) ==
                  (workers, conns, "healthchecks")]
        ratio = f"{statistics.median(mine) / statistics.median(theirs):.2f}" if mine and theirs else "—"
        lines.append(f"| {workers} × {conns} | {', '.join(f'{x:,.0f}' for x in mine)} | "
                     f"{', '.join(f'{x:,.0f}' for x in theirs) or '—'} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
