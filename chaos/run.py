"""Fault injection for the safety loop (`make chaos`; docs/chaos.md).

    .venv/bin/python chaos/run.py                         # SQLite, the full run
    CHAOS_QUICK=1 .venv/bin/python chaos/run.py           # a smoke run of a few minutes
    pg_virtualenv -t -v 15 env DOORSTEP_DB=postgres .venv/bin/python chaos/run.py

What it does to Doorstep, with visits under way and their deadlines falling during the run
(built by bench/safety_bench.py's populate and arm phases, through the project's own models):

  kill     two watchdogs and the delivery worker(s) run as `doorstep start` runs them; at
           random every few seconds one is killed with SIGKILL (sometimes exactly while a
           text is being sent: the fake provider holds the answer until the worker is dead)
           and started again after up to 2 s. Counts missed deadlines never alerted,
           duplicate alerts, and duplicate texts per killed send.
  outage   `doorstep start` runs; the database goes away: SQLite held by another process in
           BEGIN EXCLUSIVE for 30 s, PostgreSQL restarted (pg_ctlcluster). Then its
           watchdog and delivery worker are killed once each. Counts missed deadlines never
           alerted, and whether `doorstep start` and its children are still running.
  sms      the watchdog and delivery workers with the SMS providers fine, then with both
           hanging, then (full run, SQLite) both refusing with HTTP 500: email delay in each
           case (email must not wait on SMS), and seconds until the office board
           (safety.board.board_context rendered with alerts/_board.html, as the board
           page fetches it) warns that texts are not going out.
  faults   (full run, SQLite) the fake SMTP and SMS servers refuse, hang, greylist /
           rate-limit and lose answers, each for a quarter of the recipients for a while:
           every message must arrive in the end, with no duplicate except after a lost answer.

Prints a table, writes var/chaos-<database>.json, and exits 1 when a limit is broken.
Everything listens on 127.0.0.1 only; every loop stops by itself.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import safety_bench as bench  # noqa: E402 - the visits under way, the databases, the summaries
from chaos.fakes import FakeSms, FakeSmtp, staff_number  # noqa: E402 - after the path is set, as above
from doorstep.management.commands.start import Command as StartCommand  # noqa: E402 - how a school runs Doorstep

PY = sys.executable
PROVIDER_TIMEOUT = 3.0   # seconds per provider call in these runs (the default is 10)
HANG_SECONDS = 8.0       # a hanging provider answers this late, well past the timeout

# The limits the issue sets (docs/chaos.md).
BOARD_WARNING_WITHIN = 60.0   # seconds from the first text that cannot go to the board saying so
EMAIL_SLACK = 5.0             # email with SMS hanging may be this much later than with SMS fine

# The quick run keeps what a broken tree would show first: kills, the 30 s lock, a
# PostgreSQL restart and the board with texts hanging (its email is judged against
# QUICK_EMAIL_LIMIT instead of a run with SMS fine).
QUICK = dict(kill_visits=40, kill_spread=15, kill_drain=15, outage_visits=40, outage_spread=50, outage_drain=10,
             pg_outage_spread=25, sms_visits=20, sms_bound=65, recovery_bound=20, faults=False, sms_baseline=False, sms_refuse=False,
             fault_window=20, fault_drain=45, sms_on_postgres=False, kill_on_postgres=False)
FULL = dict(kill_visits=200, kill_spread=45, kill_drain=130, outage_visits=200, outage_spread=65, outage_drain=15,
            pg_outage_spread=35, sms_visits=40, sms_bound=65, recovery_bound=30, faults=True, sms_baseline=True, sms_refuse=True,
            fault_window=20, fault_drain=50, sms_on_postgres=True, kill_on_postgres=True)
QUICK_EMAIL_LIMIT = 10.0  # seconds: with no SMS-fine run to compare with, an email this late has waited on SMS


# ============================================================================ phases (in Django)
# Each phase runs in a process of its own against one database, and imports the models only
# after bench.setup_django() (the harness itself never loads Django settings).

def _alert_offset() -> datetime.timedelta:
    return bench._deadline_offsets()["alert"]


def phase_measure(rows: int = 0) -> dict:
    """What the database says now: every armed deadline (from its `entered` event, as
    bench's arm phase wrote it), whether an alert exists for it and how late its in-app
    message was written, duplicates, and the outbox."""
    bench.setup_django()
    from django.db.models import Count, Min

    from safety.alerts.models import Alert
    from safety.checkins.models import VisitEvent
    from notify.models import Message

    offset = _alert_offset()
    due = {v: at + offset for v, at in VisitEvent.objects.filter(type="entered").values_list("visit_id", "at")}
    alerts = {}
    for pk, visit_id in Alert.objects.order_by("pk").values_list("pk", "visit_id"):
        alerts.setdefault(visit_id, []).append(pk)
    written = dict(Message.objects.filter(channel="in_app", alert_id__isnull=False).values("alert_id")
                   .annotate(first=Min("created_at")).values_list("alert_id", "first"))
    lateness = []
    for visit, at in due.items():
        firsts = [written[a] for a in alerts.get(visit, []) if a in written]
        if firsts:
            lateness.append((min(firsts) - at).total_seconds())
    unalerted = sorted(v for v in due if v not in alerts)
    out_rows = list(Message.objects.exclude(channel="in_app").values_list(
        "pk", "channel", "to_address", "status", "created_at", "sent_at", "attempts"))
    by = {}
    for _, channel, _, status, *_ in out_rows:
        by.setdefault(channel, {}).setdefault(status, 0)
        by[channel][status] += 1
    delays = {ch: [(sent - created).total_seconds() for _, c, _, s, created, sent, _ in out_rows if c == ch and sent]
              for ch in ("email", "sms")}
    result = {
        "armed": len(due), "alerted": len(due) - len(unalerted), "unalerted": len(unalerted),
        "unalerted_sample": unalerted[:10],
        "duplicate_alerts": sum(len(a) - 1 for a in alerts.values()),
        "alerts": Alert.objects.count(),
        "alert_lateness": bench.summary(lateness),
        "messages": by,
        "unsent": sum(1 for r in out_rows if r[3] == "pending"),
        "email_delay": bench.summary(delays["email"]), "sms_delay": bench.summary(delays["sms"]),
        "last_sent": max((r[5] for r in out_rows if r[5]), default=None),
        "first_due": min(due.values(), default=None), "last_due": max(due.values(), default=None),
        "per_alert_messages": dict(Message.objects.filter(alert_id__isnull=False).values("channel")
                                   .annotate(n=Count("pk")).values_list("channel", "n")),
    }
    if rows:
        result["rows"] = [{"id": r[0], "channel": r[1], "to": r[2], "status": r[3], "created": r[4].timestamp(),
                           "sent": r[5].timestamp() if r[5] else None, "attempts": r[6]} for r in out_rows]
    return result


TEXT_WARNING = re.compile(r"\btext|\bsms\b", re.I)
BANNER = re.compile(r'<(div|section|p|aside)\b[^>]*role="alert"[^>]*>(.*?)</\1>', re.S)


def board_warnings(html: str) -> list[str]:
    """The loud banners of a rendered board that say texts are not going out."""
    found = []
    for _, inner in BANNER.findall(html):
        text = " ".join(re.sub(r"<[^>]+>", " ", inner).split())
        if TEXT_WARNING.search(text):
            found.append(text)
    return found


def phase_board(bound: float, interval: float = 1.0) -> dict:
    """Render the office board of the first school every `interval` s, as its page does
    (board_context into alerts/_board.html, the part the page refreshes), until a banner
    says texts are not going out or `bound` s have passed since the first text was due."""
    bench.setup_django()
    from django.db import close_old_connections
    from django.template.loader import render_to_string

    from safety import board as board_view
    from notify.models import Message
    from people.models import StaffMember

    office = (StaffMember.objects.filter(roles__role="office").order_by("school_id", "pk").first())
    started = time.time()
    first_text = None
    samples = early = 0
    while True:
        close_old_connections()
        try:
            if first_text is None:
                first = Message.objects.filter(channel="sms", school=office.school_id).order_by("created_at").first()
                first_text = first.created_at.timestamp() if first else None
            html = render_to_string("alerts/_board.html", board_view.board_context([office]))
            warnings = board_warnings(html)
        except Exception as exc:  # noqa: BLE001 - a failed render is a sample with no warning
            warnings = []
            sys.stderr.write(f"board render failed: {exc!r}\n")
        samples += 1
        now = time.time()
        if warnings:
            if first_text is None:
                early += 1
            else:
                return {"warned_after": round(now - first_text, 1), "warning": warnings[0][:300], "samples": samples,
                        "before_any_text": early}
        reference = first_text if first_text is not None else started
        if now - reference > bound:
            return {"warned_after": None, "warning": "", "samples": samples, "before_any_text": early}
        time.sleep(interval)


def phase_ready(timeout: float) -> dict:
    """Wait until a watchdog and a delivery worker have each written their heartbeat: the
    deadlines are armed only once the processes are up (starting takes seconds on a busy
    machine, and the run must measure faults, not start-up)."""
    bench.setup_django()
    from django.db import close_old_connections

    from safety.alerts.models import Heartbeat
    from notify.models import DeliveryHeartbeat

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        close_old_connections()
        if Heartbeat.objects.exists() and DeliveryHeartbeat.objects.exists():
            return {"ok": True}
        time.sleep(0.3)
    return {"ok": False}


PHASES = {"measure": phase_measure, "board": phase_board, "ready": phase_ready}


# ============================================================================ processes

def chaos_phase(target, db, phase, *args, extra=None):
    out = subprocess.run([PY, __file__, "--phase", phase, *map(str, args)], env=bench.child_env(target, db, **(extra or {})),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
        raise SystemExit(f"chaos phase {phase} failed on {target.name} (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def safety_children() -> list[tuple[str, list[str]]]:
    """The watchdog and delivery processes exactly as `doorstep start` starts them (so a
    change there, such as one worker per channel, is what these runs measure)."""
    kids = StartCommand().children({"bind": "127.0.0.1:0", "workers": 1})
    return [(c.name, list(c.argv)) for c in kids if "watchdog" in c.name or "deliver" in c.name]


@dataclass
class Supervised:
    """A child the harness starts, and starts again a moment after it is killed."""
    name: str
    argv: list[str]
    env: dict
    log: Path
    proc: subprocess.Popen | None = None
    restart_at: float | None = None
    pids: list[int] = field(default_factory=list)

    def start(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pids.append(self.proc.pid)
        self.restart_at = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            return True
        return False

    def tick(self, rng, restart=True):
        if self.proc is not None and not self.alive() and restart:
            now = time.monotonic()
            if self.restart_at is None:
                self.restart_at = now + rng.uniform(0.2, 2.0)
            elif now >= self.restart_at:
                self.start()

    def stop(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is `pid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")))
        except (OSError, ValueError, IndexError):
            continue
    return out


def wait_ready(target, db, extra):
    if not chaos_phase(target, db, "ready", 90, extra=extra)["ok"]:
        raise SystemExit(f"the watchdog or delivery worker did not start on {target.name} in 90 s")


def arm(target, db, lead, spread):
    """bench's arm phase: events and Watch rows for every visit, deadlines spread evenly
    over `spread` s from `lead` s from now. Returns the epoch of the first deadline."""
    armed = bench.run_phase(target, db, "arm", lead, spread, spread, 50, 0)
    return datetime.datetime.fromisoformat(armed["first_alert_at"]).timestamp()


class Fakes:
    def __init__(self, **sms_kwargs):
        self.sms = FakeSms(hang_seconds=HANG_SECONDS, **sms_kwargs)
        self.smtp = FakeSmtp(hang_seconds=HANG_SECONDS)

    def env(self):
        return {**self.sms.settings(), **self.smtp.settings(), "DOORSTEP_PROVIDER_TIMEOUT": str(PROVIDER_TIMEOUT),
                "DOORSTEP_BASE_URL": "https://doorstep.school.example", "LOG_LEVEL": "WARNING"}

    def stop(self):
        self.sms.stop()
        self.smtp.stop()


def copies_summary(copies: dict[str, int]) -> dict:
    return {"distinct": len(copies), "copies": sum(copies.values()), "duplicates": sum(c - 1 for c in copies.values()),
            "worst": max(copies.values(), default=0)}


def texts_summary(fakes: "Fakes", measured: dict) -> dict:
    """Copies of texts as phones got them; `extra` counts texts no outbox row accounts for."""
    out = copies_summary(fakes.sms.copies())
    rows = sum(measured.get("messages", {}).get("sms", {}).values())
    out.update(outbox_rows=rows, extra=max(0, out["distinct"] - rows), duplicated=fakes.sms.duplicated())
    return out


# ============================================================================ experiments

VICTIMS = ["watchdog", "deliver_mid_send", "watchdog", "deliver"]


def exp_kill(target, template, cfg, logdir, seed=11) -> dict:
    db = "chaos_kill"
    target.drop(db)
    target.clone(template, db)
    rng = random.Random(seed)
    fakes = Fakes(delay=(0.02, 0.25))  # a send takes a moment, as a real provider's does
    env = bench.child_env(target, db, **fakes.env())
    kids = safety_children()
    watchdog = next(argv for name, argv in kids if "watchdog" in name)
    procs = [Supervised("watchdog-1", watchdog, env, logdir / "kill-watchdog-1.log"),
             Supervised("watchdog-2", watchdog, env, logdir / "kill-watchdog-2.log")]
    procs += [Supervised(name, argv, env, logdir / f"kill-{name}.log") for name, argv in kids if "deliver" in name]
    lead, spread = 5, cfg["kill_spread"]
    kills = {"watchdog": 0, "deliver": 0, "deliver_mid_send": 0}
    victims: list[str] = []
    began = time.monotonic()
    try:
        for p in procs:
            p.start()
        wait_ready(target, db, fakes.env())
        first_due = arm(target, db, lead, spread)
        stop_killing = time.monotonic() + max(0.0, first_due - time.time()) + spread
        next_kill = time.monotonic() + rng.uniform(1, 3)
        while time.monotonic() < stop_killing:
            for p in procs:
                p.tick(rng)
            if time.monotonic() >= next_kill:
                what = VICTIMS[len(victims) % len(VICTIMS)]  # in turn; when, and which watchdog, at random
                victims.append(what)
                if what == "watchdog":
                    kills["watchdog"] += rng.choice([p for p in procs if p.name.startswith("watchdog")]).kill()
                elif what == "deliver":
                    sending = fakes.sms.inflight > 0  # a kill at random may land mid-send too
                    killed = sum(p.kill() for p in procs if "deliver" in p.name)
                    kills["deliver"] += bool(killed)
                    kills["deliver_mid_send"] += bool(killed) and sending
                else:
                    fakes.sms.holding.clear()
                    fakes.sms.hold.set()
                    if fakes.sms.holding.wait(5):
                        killed = sum(p.kill() for p in procs if "deliver" in p.name)
                        kills["deliver_mid_send"] += bool(killed)
                        fakes.sms.released.set()
                    fakes.sms.hold.clear()
                next_kill = time.monotonic() + rng.uniform(1.5, 4)
            time.sleep(0.1)
        # Stop killing; let everything catch up (a killed send waits for its lease).
        drain_end = time.monotonic() + cfg["kill_drain"]
        result = None
        while time.monotonic() < drain_end:
            for p in procs:
                p.tick(rng)
            time.sleep(4)
            result = chaos_phase(target, db, "measure")
            if result["unalerted"] == 0 and result["unsent"] == 0:
                break
        result = chaos_phase(target, db, "measure")
    finally:
        for p in procs:
            p.stop()
        fakes.stop()
    sms, email = texts_summary(fakes, result), copies_summary(fakes.smtp.copies())
    result.update(experiment="kill", database=target.name, kills=kills, seconds=round(time.monotonic() - began),
                  texts=sms, emails=email, held_sends=len(fakes.sms.held_keys),
                  held_copies=[fakes.sms.copies().get(k, 0) for k in fakes.sms.held_keys],
                  restarts={p.name: len(p.pids) - 1 for p in procs})
    result.pop("rows", None)
    target.drop(db)
    return result


def hold_sqlite(path: Path, seconds: float, done: dict) -> None:
    """Another program holds the database file: BEGIN EXCLUSIVE for `seconds`."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    done["locked_at"] = time.time()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()
    done["released_at"] = time.time()


def restart_postgres(done: dict) -> None:
    port = os.environ.get("PGPORT", "5432")
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split("\n")
    version, name = next(((c.split()[0], c.split()[1]) for c in clusters if len(c.split()) > 2 and c.split()[2] == port),
                         (os.environ.get("PGVERSION", "15"), "regress"))
    done["locked_at"] = time.time()
    for _ in range(3):  # a restart refused (say, another pg_ctlcluster at work) is tried again
        out = subprocess.run(["pg_ctlcluster", version, name, "restart", "-m", "fast"], capture_output=True, text=True)
        done.setdefault("tries", []).append({"rc": out.returncode, "output": (out.stdout + out.stderr).strip()[-300:]})
        if out.returncode == 0:
            break
        time.sleep(1)
    done["released_at"] = time.time()
    done["rc"] = out.returncode


def exp_outage(target, template, cfg, logdir) -> dict:
    db = "chaos_outage"
    target.drop(db)
    target.clone(template, db)
    fakes = Fakes()
    env = bench.child_env(target, db, **fakes.env())
    sqlite = isinstance(target, bench.SqliteTarget)
    lead = 5
    spread = cfg["outage_spread"] if sqlite else cfg["pg_outage_spread"]
    port = bench.free_port()
    log = open(logdir / "outage-start.log", "w")
    seen = {"watchdog": [], "deliver": []}
    timeline = []
    fault: dict = {}
    kills = {}
    began = time.monotonic()
    start = None
    try:
        start = subprocess.Popen([PY, "-m", "doorstep.cli", "start", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                                 env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_ready(target, db, fakes.env())
        first_due = arm(target, db, lead, spread)
        t_fault = first_due + 5
        end = first_due + spread + cfg["outage_drain"]
        fault_thread = None
        kill_plan = None
        while time.time() < end:
            now = time.time()
            kids = children_of(start.pid) if start.poll() is None else []
            row = {"t": round(now - first_due, 1), "start": start.poll() is None}
            for role in seen:
                pids = [pid for pid, cmd in kids if f" {role}" in cmd]
                row[role] = pids
                for pid in pids:
                    if pid not in seen[role]:
                        seen[role].append(pid)
            timeline.append(row)
            if fault_thread is None and now >= t_fault:
                work = ((lambda: hold_sqlite(target.tmp / f"{db}.sqlite3", 30, fault)) if sqlite
                        else (lambda: restart_postgres(fault)))
                fault_thread = threading.Thread(target=work, daemon=True)
                fault_thread.start()
            if fault.get("released_at") and kill_plan is None:
                kill_plan = [(fault["released_at"] + 4, "watchdog"), (fault["released_at"] + 8, "deliver")]
            for when, role in list(kill_plan or []):
                if now >= when:
                    kill_plan.remove((when, role))
                    pids = row.get(role) or []
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    kills[role] = {"at": round(now - first_due, 1), "pids": pids}
            time.sleep(1)
        if fault_thread:
            fault_thread.join(timeout=40)
        result = chaos_phase(target, db, "measure")
        alive_at_end = start.poll() is None
        kids = children_of(start.pid) if alive_at_end else []
        running_at_end = {role: [pid for pid, cmd in kids if f" {role}" in cmd] for role in seen}
    finally:
        if start is not None:
            if start.poll() is None:
                os.killpg(start.pid, signal.SIGTERM)
                try:
                    start.wait(timeout=25)
                except subprocess.TimeoutExpired:
                    os.killpg(start.pid, signal.SIGKILL)
                    start.wait()
            for pid in seen["watchdog"] + seen["deliver"]:  # orphans, if `doorstep start` died first
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        fakes.stop()
        log.close()

    def back_after(role):
        if role not in kills:
            return None
        at = kills[role]["at"]
        later = [r["t"] for r in timeline if r["t"] > at and any(p not in kills[role]["pids"] for p in r[role])]
        return round(later[0] - at, 1) if later else None

    died = next((r["t"] for r in timeline if not r["start"]), None)
    result.update(experiment="outage", database=target.name, fault="SQLite held in BEGIN EXCLUSIVE for 30 s" if sqlite
                  else "PostgreSQL restarted (pg_ctlcluster restart -m fast)",
                  fault_seconds=round(fault.get("released_at", 0) - fault.get("locked_at", 0), 1) if fault else None,
                  fault_at=round(fault.get("locked_at", 0) - first_due, 1) if fault else None,
                  fault_ok=bool(fault.get("released_at")) and fault.get("rc", 0) == 0,
                  fault_tries=fault.get("tries"),
                  start_alive_at_end=alive_at_end, start_exit=start.poll() if start else None,
                  safety_running_at_end=bool(running_at_end["watchdog"] and running_at_end["deliver"]),
                  start_stopped_at=died, watchdog_pids=len(seen["watchdog"]), deliver_pids=len(seen["deliver"]),
                  kills=kills, watchdog_back_after=back_after("watchdog"), deliver_back_after=back_after("deliver"),
                  seconds=round(time.monotonic() - began), spread=spread,
                  texts=texts_summary(fakes, result), emails=copies_summary(fakes.smtp.copies()))
    target.drop(db)
    return result


def exp_sms(target, template, cfg, logdir, mode) -> dict:
    """mode "ok": every provider fine; "hang": both SMS providers hang until recovery;
    "refuse": both answer HTTP 500 at once (the worker stays busy and beating, so only a
    warning about the texts themselves can show it)."""
    db = f"chaos_sms_{mode}"
    target.drop(db)
    target.clone(template, db)
    fakes = Fakes()
    fakes.sms.faults.mode = mode
    env = bench.child_env(target, db, **fakes.env())
    procs = [Supervised(name, argv, env, logdir / f"sms-{mode}-{name}.log") for name, argv in safety_children()]
    bound = cfg["sms_bound"] if mode != "ok" else 20  # "ok": watch the board this long for a false alarm
    began = time.monotonic()
    board = None
    recovery = None
    try:
        for p in procs:
            p.start()
        wait_ready(target, db, fakes.env())
        first_due = arm(target, db, 3, 4)
        board = subprocess.Popen([PY, __file__, "--phase", "board", str(bound)], env=env, cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=open(logdir / f"board-{mode}.log", "w"), text=True)
        end = first_due + bound + 5
        while time.time() < end:
            time.sleep(3)
            m = chaos_phase(target, db, "measure")
            emails_done = m["messages"].get("email", {}).get("pending", 1) == 0 and m["alerted"] == m["armed"]
            if emails_done and board.poll() is not None:
                break
        out, _ = board.communicate(timeout=bound + 30)
        board_result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"warned_after": None}
        result = chaos_phase(target, db, "measure")
        if mode != "ok":
            fakes.sms.faults.mode = "ok"
            recovered_from = time.time()
            end = recovered_from + cfg["recovery_bound"]
            while time.time() < end:
                time.sleep(3)
                m = chaos_phase(target, db, "measure")
                if m["messages"].get("sms", {}).get("pending", 0) == 0:
                    break
            m = chaos_phase(target, db, "measure")
            last = datetime.datetime.fromisoformat(m["last_sent"]).timestamp() if m["last_sent"] else None
            recovery = {"texts_sent": m["messages"].get("sms", {}).get("sent", 0),
                        "texts_pending": m["messages"].get("sms", {}).get("pending", 0),
                        "texts_failed": m["messages"].get("sms", {}).get("failed", 0),
                        "all_sent_after": round(last - recovered_from, 1) if last and not m["messages"].get("sms", {}).get("pending") else None}
    finally:
        if board is not None and board.poll() is None:
            board.kill()
        for p in procs:
            p.stop()
        fakes.stop()
    result.update(experiment=f"sms-{mode}", database=target.name, board=board_result, recovery=recovery,
                  emails=copies_summary(fakes.smtp.copies()), texts=texts_summary(fakes, result),
                  seconds=round(time.monotonic() - began))
    target.drop(db)
    return result


SMTP_MODES = ["refuse", "hang", "greylist", "lose"]
SMS_MODES = ["refuse", "hang", "ratelimit", "lose"]


def exp_faults(target, template, cfg, logdir) -> dict:
    """Each fault for a quarter of the recipients (staff number mod 4), for fault_window s."""
    db = "chaos_faults"
    target.drop(db)
    target.clone(template, db)
    fakes = Fakes()
    env = bench.child_env(target, db, **fakes.env())
    procs = [Supervised(name, argv, env, logdir / f"faults-{name}.log") for name, argv in safety_children()]
    began = time.monotonic()
    try:
        for p in procs:
            p.start()
        wait_ready(target, db, fakes.env())
        first_due = arm(target, db, 3, 3)
        until = time.monotonic() + max(0.0, first_due - time.time()) + cfg["fault_window"]
        window_end = time.time() + (until - time.monotonic())
        fakes.smtp.faults.by_staff, fakes.smtp.faults.until = SMTP_MODES, until
        fakes.sms.faults.by_staff, fakes.sms.faults.until = SMS_MODES, until
        end = window_end + cfg["fault_drain"]
        while time.time() < end:
            time.sleep(4)
            m = chaos_phase(target, db, "measure")
            if time.time() > window_end and m["unsent"] == 0 and m["alerted"] == m["armed"]:
                break
        m = chaos_phase(target, db, "measure", 1)
    finally:
        for p in procs:
            p.stop()
        fakes.stop()
    per = {}
    for channel, modes, fake in (("email", SMTP_MODES, fakes.smtp), ("sms", SMS_MODES, fakes.sms)):
        lost = {}
        for a in fake.accepted:
            if a.mode == "lose":
                lost[a.to] = lost.get(a.to, 0) + 1
        copies = {}
        for a in fake.accepted:
            copies.setdefault(a.key, []).append(a)
        for i, mode in enumerate(modes):
            rows = [r for r in m["rows"] if r["channel"] == channel and (staff_number(r["to"]) or 0) % len(modes) == i]
            mine = [v for v in copies.values() if (staff_number(v[0].to) or 0) % len(modes) == i]
            sent_times = [r["sent"] for r in rows if r["sent"]]
            per[f"{channel} {mode}"] = {
                "messages": len(rows), "arrived": len(mine), "duplicates": sum(len(v) - 1 for v in mine),
                "lost_answers": sum(1 for v in mine for a in v if a.mode == "lose"),
                "failed": sum(1 for r in rows if r["status"] == "failed"),
                "pending": sum(1 for r in rows if r["status"] == "pending"),
                "last_sent_after_fault": round(max(sent_times) - window_end, 1) if sent_times else None,
            }
    m.pop("rows", None)
    m.update(experiment="faults", database=target.name, window=cfg["fault_window"], per_mode=per,
             texts=texts_summary(fakes, m), emails=copies_summary(fakes.smtp.copies()),
             seconds=round(time.monotonic() - began))
    target.drop(db)
    return m


# ============================================================================ limits and report

def checks(results: list[dict]) -> list[dict]:
    out = []

    def check(experiment, what, value, limit, ok):
        out.append({"experiment": experiment, "check": what, "value": value, "limit": limit, "ok": bool(ok)})

    ok_email = next((r for r in results if r["experiment"] == "sms-ok"), None)
    for r in results:
        e = r["experiment"]
        if e in ("kill", "outage"):
            check(e, "missed deadlines never alerted", f"{r['unalerted']} of {r['armed']}", "0", r["unalerted"] == 0)
            check(e, "duplicate alerts", r["duplicate_alerts"], "0", r["duplicate_alerts"] == 0)
        if e == "kill":
            killed = r["kills"]["deliver_mid_send"]
            extra = r["texts"]["duplicates"] + r["texts"]["extra"]
            check(e, "duplicate texts per killed send",
                  f"{extra} over {killed} killed sends (most copies of one text: {r['texts']['worst']})",
                  "at most 1 each", extra <= killed)
        if e == "outage":
            check(e, "the fault happened", f"{r['fault']}: {r['fault_seconds']} s", "yes", r["fault_ok"])
            check(e, "doorstep start, its watchdog and delivery running at the end",
                  "yes" if r["safety_running_at_end"] else
                  ("doorstep start stopped" if not r["start_alive_at_end"] else "a child missing"),
                  "yes", r["safety_running_at_end"])
            back = r["watchdog_back_after"]
            check(e, "watchdog running again after SIGKILL", f"{back} s" if back is not None else "never", "yes",
                  back is not None)
        if e == "sms-ok":
            early = (r["board"] or {}).get("warned_after")
            check(e, "no text warning on the board while texts go out",
                  "none" if early is None else f"warned after {early} s", "no warning", early is None)
        if e in ("sms-hang", "sms-refuse"):
            warned = r["board"].get("warned_after")
            check(e, "seconds until the board warns that texts are not going out",
                  f"{warned} s" if warned is not None else f"none in {r['board'].get('samples', 0)} samples",
                  f"<= {BOARD_WARNING_WITHIN:g} s", warned is not None and warned <= BOARD_WARNING_WITHIN)
        if e == "sms-hang":
            hang_delay = (r["email_delay"] or {}).get("max")
            base = (ok_email or {}).get("email_delay") or {}
            pending = r["messages"].get("email", {}).get("pending", 0)
            limit = (base["max"] + EMAIL_SLACK) if base.get("max") is not None else QUICK_EMAIL_LIMIT
            check(e, "email delay max with SMS hanging (vs SMS fine)",
                  f"{hang_delay} s vs {base.get('max', '(not run)')} s; {pending} emails unsent", f"<= {limit:.1f} s, none unsent",
                  hang_delay is not None and pending == 0 and hang_delay <= limit)
        if e == "faults":
            for name, p in r["per_mode"].items():
                dup_limit = p["lost_answers"] if name.endswith("lose") else 0
                check(e, f"{name}: arrived / duplicates",
                      f"{p['arrived']} of {p['messages']} / {p['duplicates']} ({p['failed']} failed, {p['pending']} pending)",
                      f"all / <= {dup_limit}", p["arrived"] >= p["messages"] and p["duplicates"] <= dup_limit)
    return out


def fmt_summary(s):
    return "-" if not s else f"{s['p50']:.1f} / {s['max']:.1f} s"


def report(results, limits) -> str:
    lines = ["| experiment | database | deadlines | never alerted | duplicate alerts | alert lateness p50 / max | "
             "texts: copies / duplicates | emails: copies / duplicates | email delay p50 / max | notes |",
             "|---|---|---:|---:|---:|---|---|---|---|---|"]
    for r in results:
        notes = ""
        if r["experiment"] == "kill":
            notes = (f"kills: {r['kills']['watchdog']} watchdog, {r['kills']['deliver']} delivery, "
                     f"{r['kills']['deliver_mid_send']} mid-send; unsent at end {r['unsent']}")
        elif r["experiment"] == "outage":
            notes = (f"{r['fault']} ({r['fault_seconds']} s); doorstep start "
                     f"{'running' if r['start_alive_at_end'] else 'stopped at ' + str(r['start_stopped_at']) + ' s'}; "
                     f"watchdog back after kill: {r['watchdog_back_after']} s; delivery: {r['deliver_back_after']} s")
        elif r["experiment"].startswith("sms"):
            b = r["board"] or {}
            notes = f"board text warning after {b.get('warned_after')} s"
            if r.get("recovery"):
                notes += f"; texts all sent {r['recovery']['all_sent_after']} s after recovery"
        elif r["experiment"] == "faults":
            notes = "see per-mode table"
        lines.append(f"| {r['experiment']} | {r['database']} | {r['armed']} | {r['unalerted']} | {r['duplicate_alerts']} | "
                     f"{fmt_summary(r['alert_lateness'])} | {r.get('texts', {}).get('copies', '-')} / "
                     f"{r.get('texts', {}).get('duplicates', '-')}"
                     f"{' (+' + str(r['texts']['extra']) + ' unaccounted)' if r.get('texts', {}).get('extra') else ''} | {r.get('emails', {}).get('copies', '-')} / "
                     f"{r.get('emails', {}).get('duplicates', '-')} | {fmt_summary(r['email_delay'])} | {notes} |")
    for r in results:
        if r["experiment"] == "faults":
            lines += ["", "| channel and fault | messages | arrived | duplicates | lost answers | failed | pending | last sent after the fault |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for name, p in r["per_mode"].items():
                lines.append(f"| {name} | {p['messages']} | {p['arrived']} | {p['duplicates']} | {p['lost_answers']} | "
                             f"{p['failed']} | {p['pending']} | {p['last_sent_after_fault']} s |")
    lines += ["", "| experiment | check | measured | limit | |", "|---|---|---|---|---|"]
    for c in limits:
        lines.append(f"| {c['experiment']} | {c['check']} | {c['value']} | {c['limit']} | {'ok' if c['ok'] else 'BROKEN'} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("phase_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("CHAOS_QUICK", "") not in ("", "0"),
                        help="A smoke run of a few minutes (also CHAOS_QUICK=1)")
    parser.add_argument("--only", default="", help="Comma-separated experiments: kill,outage,sms,faults")
    parser.add_argument("--json", default="", help="Where to write the results (default var/chaos-<database>.json)")
    args = parser.parse_args()
    if args.phase:
        values = [float(a) if "." in a else int(a) for a in args.phase_args]
        print(json.dumps(PHASES[args.phase](*values), default=str))
        return 0

    cfg = QUICK if args.quick else FULL
    if os.environ.get("PGHOST") == "localhost":
        os.environ["PGHOST"] = "127.0.0.1"  # 127.0.0.1 only, never ::1 or a name
    postgres = bool(os.environ.get("DOORSTEP_BENCH_DATABASE_URL") or os.environ.get("DOORSTEP_DB") == "postgres")
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-chaos-"))
    target = bench.PostgresTarget.from_environment() if postgres else bench.SqliteTarget(tmp)
    only = set(filter(None, args.only.split(",")))
    if not only:
        only = {"kill", "outage", "sms", "faults"}
        if postgres:
            only.discard("faults")  # how a provider misbehaves does not depend on the database
            if not cfg["sms_on_postgres"]:
                only.discard("sms")
            # The board and the channels are the same code on both databases: PostgreSQL
            # runs only sms-hang (judged against QUICK_EMAIL_LIMIT), to keep the run short.
            cfg = {**cfg, "sms_baseline": False, "sms_refuse": False}
            if not cfg["kill_on_postgres"]:
                only.discard("kill")
        if not cfg["faults"]:
            only.discard("faults")
    started = time.monotonic()
    print(f"==> Fault injection on {target.name} ({'quick' if args.quick else 'full'} run; logs in {tmp})", flush=True)
    results = []
    out_path = Path(args.json or ROOT / "var" / f"chaos-{'postgres' if postgres else 'sqlite'}.json")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    try:
        target.drop("chaos_template")
        if postgres:
            target.create("chaos_template")
        bench.run_phase(target, "chaos_template", "migrate")
        templates = {}
        sizes = {"big": (max(cfg["kill_visits"], cfg["outage_visits"]), 20), "small": (cfg["sms_visits"], 2)}
        for label, (visits, per_school) in sizes.items():
            name = f"chaos_pop_{label}"
            target.drop(name)
            target.clone("chaos_template", name)
            made = bench.run_phase(target, name, "populate", visits, per_school, per_school)
            templates[label] = name
            print(f"    {label}: {made['visits']} visits under way in {made['schools']} schools", flush=True)
        plan = []
        if "kill" in only:
            plan.append(("kill", lambda: exp_kill(target, templates["big"], cfg, tmp)))
        if "outage" in only:
            plan.append(("outage", lambda: exp_outage(target, templates["big"], cfg, tmp)))
        if "sms" in only:
            if cfg["sms_baseline"]:
                plan.append(("sms-ok", lambda: exp_sms(target, templates["small"], cfg, tmp, "ok")))
            plan.append(("sms-hang", lambda: exp_sms(target, templates["small"], cfg, tmp, "hang")))
            if cfg["sms_refuse"]:
                plan.append(("sms-refuse", lambda: exp_sms(target, templates["small"], cfg, tmp, "refuse")))
        if "faults" in only:
            plan.append(("faults", lambda: exp_faults(target, templates["small"], cfg, tmp)))
        for label, run in plan:
            print(f"    {label} ...", flush=True)
            r = run()
            results.append(r)
            print(f"    {label}: {r['unalerted']} of {r['armed']} never alerted, {r['duplicate_alerts']} duplicate alerts, "
                  f"{r['seconds']} s", flush=True)
        for name in list(templates.values()) + ["chaos_template"]:
            target.drop(name)
    finally:
        limits = checks(results)
        Path(out_path).write_text(json.dumps({
            "database": target.name, "quick": args.quick, "seconds": round(time.monotonic() - started),
            "load_before": load_before, "load_after": os.getloadavg(), "machine": bench.machine(),
            "provider_timeout": PROVIDER_TIMEOUT, "results": results, "checks": limits}, indent=2, default=str))
    print()
    print(report(results, limits))
    broken = [c for c in limits if not c["ok"]]
    print(f"\n==> {target.name}: {len(limits) - len(broken)} of {len(limits)} limits met in "
          f"{round(time.monotonic() - started)} s; load {os.getloadavg()[0]:.1f}; JSON in {out_path}")
    if isinstance(target, bench.SqliteTarget):
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
