"""Safety-core benchmark (docs/benchmarks.md, "Safety core"): how long from a missed deadline to the alert, and how
many check-ins a second the real HTTP stack takes.

    .venv/bin/python bench/safety_bench.py                          # SQLite (a temporary file)
    pg_virtualenv -v 15 env DOORSTEP_DB=postgres .venv/bin/python bench/safety_bench.py
    DOORSTEP_BENCH_DATABASE_URL=postgres://u:p@host/db .venv/bin/python bench/safety_bench.py
    .venv/bin/python bench/safety_bench.py --visits 1000 --watchdogs 1 --http-seconds 5   # quick

Alert delay, for each number of visits under way (--visits) and watchdogs (--watchdogs):
  1. a fresh database (SQLite: a file in a temporary directory; PostgreSQL: a database made
     from a migrated template), with coteford schools of --visits-per-school visits each:
     pupils, staff with logins (two visiting staff a visit, office, head, deputy, DSL), visits
     under way with their staff, events (left school, arrived, went in) and Watch rows;
  2. the watchdogs are started as real `doorstep watchdog` processes first, idle;
  3. the events and Watch rows are written in one go, with `alert_at` spread evenly over the
     next --window seconds after a --lead: a burst of every visit missing its check-in;
  4. an observer reads new Alert rows and in-app Message rows every --observe-ms and notes
     when it first saw each one (committed and visible to the board's queries);
  5. delay = first seen - alert_at, p50/p99/max; duplicates = alerts - visits alerted.

Check-ins: gunicorn (--web-workers) with one watchdog on a fresh database, visiting staff
signed in through /accounts/login/ (session + CSRF), POST /api/visits/{id}/events
{"type": "check_in"} from --http-threads threads for --http-seconds, without and with a PIN.

Prints Markdown tables (the figures in docs/benchmarks.md) and writes JSON to --json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PASSWORD = "bench-password-123"
PIN = "4826"
DURESS_PIN = "9173"


# ============================================================================ databases

class SqliteTarget:
    name = "SQLite"

    def __init__(self, tmp):
        self.tmp = Path(tmp)

    def env(self, db):
        return {"DATABASE_URL": f"sqlite:///{self.tmp / (db + '.sqlite3')}"}

    def clone(self, source, target):
        for suffix in ("", "-wal", "-shm"):
            src = self.tmp / f"{source}.sqlite3{suffix}"
            if src.exists():
                shutil.copyfile(src, self.tmp / f"{target}.sqlite3{suffix}")

    def drop(self, db):
        for suffix in ("", "-wal", "-shm"):
            (self.tmp / f"{db}.sqlite3{suffix}").unlink(missing_ok=True)

    def analyze(self, db):
        """Nothing: SQLite keeps no statistics unless asked, and a school's database is not asked."""


class PostgresTarget:
    name = "PostgreSQL"

    def __init__(self, url):
        self.url = url
        parts = urlsplit(url)
        self.parts = parts

    @classmethod
    def from_environment(cls):
        url = os.environ.get("DOORSTEP_BENCH_DATABASE_URL")
        if url:
            return cls(url)
        user, password = os.environ.get("PGUSER", ""), os.environ.get("PGPASSWORD", "")
        host, port = os.environ.get("PGHOST", "localhost"), os.environ.get("PGPORT", "5432")
        auth = quote(user) + (":" + quote(password) if password else "") + "@" if user else ""
        if host.startswith("/"):  # a socket directory
            return cls(f"postgres://{auth}/{os.environ.get('PGDATABASE', 'postgres')}?host={quote(host)}&port={port}")
        return cls(f"postgres://{auth}{host}:{port}/{os.environ.get('PGDATABASE', 'postgres')}")

    def _url_for(self, db):
        return urlunsplit(self.parts._replace(path="/" + db))

    def env(self, db):
        return {"DATABASE_URL": self._url_for(db)}

    def _admin(self, sql):
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self, db):
        self._admin(f'CREATE DATABASE "{db}"')

    def clone(self, source, target):
        self._admin(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')

    def drop(self, db):
        self._admin(f'DROP DATABASE IF EXISTS "{db}"')

    def analyze(self, db):
        """The planner's statistics, as autovacuum keeps them on a database in use: tables
        filled by a bench a moment ago have none, and PostgreSQL then plans joins badly."""
        import psycopg

        with psycopg.connect(self._url_for(db), autocommit=True) as conn:
            conn.execute("ANALYZE")


def child_env(target, db, **extra):
    env = dict(os.environ)
    env.pop("DOORSTEP_DB", None)
    env.update(target.env(db))
    env.update(DJANGO_SETTINGS_MODULE="doorstep.settings", DOORSTEP_ALLOW_INSECURE_KEY="1", DEBUG="0",
               DOORSTEP_HTTPS="0", ALLOWED_HOSTS="127.0.0.1,localhost", PYTHONUNBUFFERED="1",
               DOORSTEP_PLAIN_STATIC="1")  # the sign-in page without `collectstatic` first
    env.update(extra)
    return env


def run_phase(target, db, phase, *args):
    """Run one phase of this script in its own process against database `db`; its JSON answer."""
    out = subprocess.run([PY, __file__, "--phase", phase, *map(str, args)], env=child_env(target, db),
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"phase {phase} failed on {target.name} (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ============================================================================ phases (in Django)

def setup_django():
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def phase_migrate():
    setup_django()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    return {"seconds": round(time.perf_counter() - started, 1)}


def phase_populate(visits, per_school, pupils_per_school):
    """Schools, staff with logins, pupils and scheduled visits: everything but what happens
    on the visit (phase_arm writes that, with times relative to when it runs)."""
    setup_django()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from people.models import StaffMember, StaffRole
    from policies.models import SchoolPolicy
    from pupils.models import Pupil
    from pupils.upn import make_upn
    from schools.models import School
    from visits.models import Visit, VisitStaff

    started = time.perf_counter()
    User = get_user_model()
    password = make_password(PASSWORD)
    from people.pins import hash_pin

    safe_pin, duress_pin = hash_pin(PIN), hash_pin(DURESS_PIN)
    preset = (ROOT / "policy_engine" / "presets" / "coteford.toml").read_text()
    now = timezone.now()
    n_schools = -(-visits // per_school)
    helpers = [("office", "Office"), ("office", "Office"), ("headteacher", "Head"), ("deputy_headteacher", "Deputy"),
               ("dsl", "DSL")]
    with transaction.atomic():
        schools = School.objects.bulk_create([
            School(name=f"Bench School {s:04d}", urn=f"{900000 + s}", address=f"{s} School Lane", phone="01632 960000")
            for s in range(n_schools)])
        policies = SchoolPolicy.objects.bulk_create([
            SchoolPolicy(school=school, version=1, source_name="coteford", toml_text=preset) for school in schools])
        # Per school: the helpers, then two visiting staff per visit (each on one visit at a time).
        plan = []  # (school index, role, name)
        counts = [min(per_school, visits - s * per_school) for s in range(n_schools)]
        for s, count in enumerate(counts):
            plan += [(s, role, f"{label} {s:04d}-{i}") for i, (role, label) in enumerate(helpers)]
            plan += [(s, "attendance_officer" if i % 2 == 0 else "teacher", f"Visitor {s:04d}-{i:03d}")
                     for i in range(2 * count)]
        users = User.objects.bulk_create([
            User(username=f"bench{k:06d}", password=password, first_name=name) for k, (_, _, name) in enumerate(plan)],
            batch_size=2000)
        staff = StaffMember.objects.bulk_create([
            StaffMember(school=schools[s], user=users[k], full_name=name, mobile=f"07700 9{k % 100000:05d}",
                        email=f"bench{k:06d}@example.org", trained_home_visitor=role in ("attendance_officer", "teacher"),
                        safe_pin=safe_pin, duress_pin=duress_pin)
            for k, (s, role, name) in enumerate(plan)], batch_size=2000)
        StaffRole.objects.bulk_create([StaffRole(staff=staff[k], role=role) for k, (_, role, _) in enumerate(plan)],
                                      batch_size=5000)
        pupils = Pupil.objects.bulk_create([
            Pupil(school=school, upn=make_upn(f"{s:05d}{p:07d}"), admission_number=f"{p:06d}",
                  first_name=random.choice(["Amira", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Hari"]),
                  last_name=f"Pupil{s:04d}x{p:04d}", date_of_birth=datetime.date(2015, 9, 1), year_group="5",
                  address_line1=f"{p + 1} Long Road", town="Benchton", postcode=f"ZZ{s % 90 + 1} {p % 9 + 1}ZZ")
            for s, school in enumerate(schools) for p in range(pupils_per_school)], batch_size=5000)
        by_school = {}
        for member, (s, role, _) in zip(staff, plan, strict=True):
            if role in ("attendance_officer", "teacher"):
                by_school.setdefault(s, []).append(member)
        visit_rows, pairs = [], []
        for s, count in enumerate(counts):
            visitors = by_school[s]
            for v in range(count):
                visit_rows.append(Visit(
                    school=schools[s], pupil=pupils[s * pupils_per_school + v], purpose="attendance",
                    reason="Absent since Monday with no word from home.", starts_at=now, ends_at=now,
                    state=Visit.State.UNDER_WAY, proposed_by=visitors[2 * v], proposed_at=now,
                    approved_at=now, policy_version=policies[s], appointment_agreed=True, written_confirmation=True))
                pairs.append((visitors[2 * v], visitors[2 * v + 1]))
        made = Visit.objects.bulk_create(visit_rows, batch_size=2000)
        VisitStaff.objects.bulk_create([VisitStaff(visit=visit, staff=member, lead=(i == 0))
                                        for visit, pair in zip(made, pairs, strict=True) for i, member in enumerate(pair)],
                                       batch_size=5000)
    return {"seconds": round(time.perf_counter() - started, 1), "schools": n_schools, "visits": len(made),
            "staff": len(staff), "pupils": len(pupils)}


def _deadline_offsets():
    """The coteford deadline of a visit whose staff went in at time 0 (from the timing rules
    the watchdog uses, so the Watch rows are what record_event would have written)."""
    from policy_engine import Policy
    from policy_engine import timing

    policy = Policy.from_toml((ROOT / "policy_engine" / "presets" / "coteford.toml").read_text(), source="coteford")
    entered = datetime.datetime(2026, 3, 2, 10, 1, tzinfo=datetime.timezone.utc)
    starts = entered - datetime.timedelta(minutes=1)
    events = [timing.Event(at=starts - datetime.timedelta(minutes=15), type="left_school",
                           expected_return=starts + datetime.timedelta(minutes=120)),
              timing.Event(at=starts, type="arrived"), timing.Event(at=entered, type="entered")]
    d = timing.next_deadline(policy, starts, starts + datetime.timedelta(minutes=90), events)
    return {"kind": d.kind, "clause": d.clause, "what": d.what, "alert": d.alert_at - entered,
            "due": d.due_at - entered, "reminder": (d.reminder_at - entered) if d.reminder_at else None}


def phase_arm(lead, spread, measure, observe_ms, timeout, seed=7):
    """Write what happened on every visit (events, the Watch rows) with the deadlines falling
    due evenly over `spread` seconds from now + `lead`, then watch the alerts of those due in
    the first `measure` seconds arrive (observe). timeout 0: arm only."""
    setup_django()
    from django.db import transaction
    from django.utils import timezone

    from safety.checkins.models import VisitEvent, Watch, WatchStaff
    from visits.models import Visit, VisitStaff

    off = _deadline_offsets()
    visits = list(Visit.objects.filter(state=Visit.State.UNDER_WAY).values_list("pk", "school_id"))
    team = {}
    for visit_id, staff_id in VisitStaff.objects.values_list("visit_id", "staff_id").order_by("-lead", "id"):  # the lead first
        team.setdefault(visit_id, []).append(staff_id)
    order = list(range(len(visits)))
    random.Random(seed).shuffle(order)
    t0 = timezone.now() + datetime.timedelta(seconds=lead)
    n = len(visits)
    alert_at = {}
    events, watches, visit_times = [], [], []
    for rank, (visit_id, school_id) in zip(order, visits, strict=True):
        at = t0 + datetime.timedelta(seconds=spread * rank / max(1, n - 1) if n > 1 else 0)
        entered = at - off["alert"]
        starts = entered - datetime.timedelta(minutes=1)
        lead_staff = team[visit_id][0]
        alert_at[visit_id] = at
        visit_times.append(Visit(pk=visit_id, starts_at=starts, ends_at=starts + datetime.timedelta(minutes=90)))
        for kind, when, extra in (("left_school", starts - datetime.timedelta(minutes=15),
                                   {"expected_return": starts + datetime.timedelta(minutes=120)}),
                                  ("arrived", starts, {"location": "Outside the house"}), ("entered", entered, {})):
            events.append(VisitEvent(visit_id=visit_id, school_id=school_id, type=kind, at=when, recorded_at=when,
                                     staff_id=lead_staff, recorded_by_id=lead_staff, via="phone", **extra))
        watches.append(Watch(visit_id=visit_id, school_id=school_id, status=Watch.Status.OK, next_kind=off["kind"],
                             what=off["what"], clause=off["clause"], due_at=entered + off["due"], alert_at=at,
                             reminder_at=entered + off["reminder"] if off["reminder"] else None,
                             # The reminder went out before the burst: only alerts are measured.
                             reminder_sent_at=entered if off["reminder"] else None,
                             started_at=starts - datetime.timedelta(minutes=15), last_event_at=entered,
                             last_location="Outside the house", updated_at=entered))
    started = time.perf_counter()
    Visit.objects.bulk_update(visit_times, ["starts_at", "ends_at"], batch_size=1000)
    VisitEvent.objects.bulk_create(events, batch_size=2000)
    # Writing the visits and events can take longer than the lead (10,000 visits on SQLite):
    # the deadlines move on by that much, so the first still falls due after the Watch rows exist.
    late = timezone.now() + datetime.timedelta(seconds=min(lead, 3 + n / 2000)) - t0  # the Watch rows take a while too
    if late.total_seconds() > 0:
        t0 += late
        for watch in watches:
            watch.alert_at += late
            watch.due_at += late
            alert_at[watch.visit_id] = watch.alert_at
    with transaction.atomic():
        made = Watch.objects.bulk_create(watches, batch_size=2000)
        by_visit = {w.visit_id: w.pk for w in made}
        WatchStaff.objects.bulk_create([WatchStaff(watch_id=by_visit[v], staff_id=s) for v, ids in team.items()
                                        for s in ids if v in by_visit], batch_size=5000)
    committed = timezone.now()
    arm_seconds = time.perf_counter() - started
    headroom = (min(alert_at.values()) - committed).total_seconds() if alert_at else 0.0
    if timeout <= 0:
        return {"visits": n, "arm_seconds": round(arm_seconds, 2), "headroom_seconds": round(headroom, 2),
                "first_alert_at": min(alert_at.values()).isoformat()}
    expected = {v: at for v, at in alert_at.items() if at <= t0 + datetime.timedelta(seconds=measure)}
    return observe(expected, t0, measure, observe_ms, timeout, arm_seconds, headroom)


def observe(alert_at, t0, window, observe_ms, timeout, arm_seconds, headroom):
    """alert_at: the visits whose alerts are awaited, with when each is due."""
    from django.utils import timezone

    from safety.alerts.models import Alert, AlertStep
    from notify.models import Message

    seen_alert, seen_inapp, alert_visit = {}, {}, {}
    raised_at, inapp_created = {}, {}
    last_alert = last_msg = 0
    # Ids come from a sequence when a row is inserted, but transactions commit in their own
    # order (two watchdogs): look back a little behind the highest id seen.
    back_alerts, back_msgs = 50, 200
    deadline = time.monotonic() + (t0 - timezone.now()).total_seconds() + window + timeout
    n = len(alert_at)
    while True:
        now = timezone.now()
        for pk, visit_id, raised in Alert.objects.filter(pk__gt=last_alert - back_alerts).order_by("pk").values_list(
                "pk", "visit_id", "raised_at"):
            last_alert = max(last_alert, pk)
            if visit_id not in alert_at:
                continue  # due after the measured stretch
            alert_visit[pk] = visit_id
            raised_at[pk] = raised
            seen_alert.setdefault(visit_id, now)
        for pk, alert_id, created in Message.objects.filter(pk__gt=last_msg - back_msgs, channel="in_app").order_by(
                "pk").values_list("pk", "alert_id", "created_at"):
            last_msg = max(last_msg, pk)
            if alert_id is not None:  # its alert may have been committed after the query above
                seen_inapp.setdefault(alert_id, now)
                inapp_created.setdefault(alert_id, created)
        # Autocommit: each query sees what has been committed so far, with no reconnecting.
        if len(seen_alert) >= n and all(a in seen_inapp for a in alert_visit):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(observe_ms / 1000)

    def delays(pairs):
        return [(when - alert_at[visit]).total_seconds() for visit, when in pairs]

    alert_delays = delays(seen_alert.items())
    inapp_delays = delays((alert_visit[a], when) for a, when in seen_inapp.items() if a in alert_visit)
    decided = delays((alert_visit[a], when) for a, when in raised_at.items())
    written = delays((alert_visit[a], when) for a, when in inapp_created.items() if a in alert_visit)
    total_alerts = Alert.objects.count()
    return {
        "awaited": n, "alerted": len(seen_alert), "alerts": total_alerts,
        "duplicates": total_alerts - Alert.objects.values("visit_id").distinct().count(),
        "steps": AlertStep.objects.count(), "in_app_messages": Message.objects.filter(channel="in_app").count(),
        "messages": Message.objects.count(),
        "arm_seconds": round(arm_seconds, 2), "headroom_seconds": round(headroom, 2),
        "alert_row": summary(alert_delays), "in_app": summary(inapp_delays),
        "raised_at": summary(decided), "in_app_created_at": summary(written),
        # How fast alerts came once the first was due: the watchdogs' capacity in a burst.
        "alerts_per_second": round(len(seen_alert) / max(1e-9, (max(seen_alert.values()) - t0).total_seconds()), 1)
        if seen_alert else 0.0,
        "last_alert_after_window_end": round(max(seen_alert.values(), default=t0) .timestamp()
                                             - (t0.timestamp() + window), 2),
    }


def summary(values):
    if not values:
        return None
    values = sorted(values)

    def pick(q):
        return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]

    return {"n": len(values), "p50": round(statistics.median(values), 3), "p99": round(pick(0.99), 3),
            "max": round(values[-1], 3), "min": round(values[0], 3)}


def phase_heartbeats(count, timeout):
    """Wait until `count` watchdogs have written their heartbeat (they are up and polling)."""
    setup_django()
    from django.db import connection

    from safety.alerts.models import Heartbeat

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if Heartbeat.objects.filter(name__startswith="bench-").count() >= count:
            return {"ok": True}
        connection.close()
        time.sleep(0.2)
    return {"ok": False}


def phase_logins(count):
    """Visiting staff to sign in, each with the visits they are on and an API token of their
    own (scope events:write, made by accounts.services.issue_token as /accounts/tokens/ does)."""
    setup_django()
    from people.models import StaffMember
    from visits.models import VisitStaff

    rows = {}
    for visit_id, staff_id in VisitStaff.objects.filter(lead=True).values_list("visit_id", "staff_id"):
        rows.setdefault(staff_id, []).append(visit_id)
    people = StaffMember.objects.filter(pk__in=sorted(rows)[:count]).select_related("user", "school")
    from accounts.services import issue_token

    out = []
    for member in people:
        token = issue_token(member, name="Safety bench", scopes=["events:write"], days=1)[1]
        out.append({"username": member.user.username, "visits": rows[member.pk], "token": token})
    return {"staff": out}


def phase_profile(count, sort="cumulative"):
    """One watchdog pass over `count` due watches under cProfile (armed with no lead): where
    the time of raising an alert goes. `--phase profile 200` after `--phase arm 0 0 0 0`."""
    import cProfile
    import io
    import pstats

    setup_django()
    from django.utils import timezone

    from safety import watchdog

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    done = watchdog.poll(timezone.now() + datetime.timedelta(seconds=120), batch=int(count))
    profiler.disable()
    seconds = time.perf_counter() - started
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
    sys.stderr.write(out.getvalue())
    return {"done": done, "seconds": round(seconds, 2), "per_alert_ms": round(1000 * seconds / max(1, done["raised"]), 1)}


PHASES = {"profile": phase_profile, "migrate": phase_migrate, "populate": phase_populate, "arm": phase_arm, "heartbeats": phase_heartbeats,
          "logins": phase_logins}


# ============================================================================ processes

def start_watchdogs(target, db, count, logdir):
    procs = []
    for i in range(count):
        log = open(Path(logdir) / f"watchdog-{db}-{i}.log", "w")
        procs.append(subprocess.Popen([PY, str(ROOT / "manage.py"), "watchdog", "--name", f"bench-{i}:{i}"],
                                      env=child_env(target, db), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    return procs


def stop(procs):
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ============================================================================ scenarios

MODES = {
    # Every visit under way misses its check-in within a few seconds of the others.
    "burst": lambda args: (args.window, args.window),
    # Every visit under way misses its check-in (say the phone network is down), with the
    # deadlines spread as they fall in life over coteford's 20-minute check-in interval;
    # the first --steady-seconds of it are measured.
    "steady": lambda args: (args.spread, args.steady_seconds),
}


def alert_scenario(target, template, visits, watchdogs, mode, args, logdir):
    db = f"bench_v{visits}_w{watchdogs}_{mode}"
    spread, measure = MODES[mode](args)
    target.drop(db)
    target.clone(template, db)
    procs = start_watchdogs(target, db, watchdogs, logdir)
    try:
        if not run_phase(target, db, "heartbeats", watchdogs, 60)["ok"]:
            raise SystemExit(f"the watchdogs did not start on {target.name}: see {logdir}")
        result = run_phase(target, db, "arm", args.lead, spread, measure, args.observe_ms, args.timeout)
    finally:
        stop(procs)
    logs = [Path(logdir, f"watchdog-{db}-{i}.log").read_text() for i in range(watchdogs)]
    failures = [line for log in logs for line in log.splitlines() if "failed" in line]
    errors = len(failures)
    result["watchdog_error_sample"] = failures[:3]
    result.update(database=target.name, visits=visits, watchdogs=watchdogs, mode=mode, spread=spread,
                  measured=measure, watchdog_errors=errors)
    target.drop(db)
    return result


def http_scenario(target, template, visits, args, logdir):
    import requests

    db = f"bench_http_v{visits}"
    target.drop(db)
    target.clone(template, db)
    # Deadlines 15 minutes away: check-ins are measured, not alerts.
    run_phase(target, db, "arm", 15 * 60 - 60, 60, 60, 50, 0)
    staff = run_phase(target, db, "logins", args.http_staff)["staff"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web_log = open(Path(logdir) / f"gunicorn-{db}.log", "w")
    procs = start_watchdogs(target, db, 1, logdir)
    procs.append(subprocess.Popen(
        [PY, "-m", "gunicorn", "doorstep.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers",
         str(args.web_workers), "--access-logfile", "-" if args.access_log else "/dev/null", "--control-socket",
         str(Path(logdir) / f"gunicorn-{port}.ctl")],
        env=child_env(target, db), cwd=ROOT, stdout=web_log, stderr=subprocess.STDOUT, start_new_session=True))
    results = {}
    try:
        for _ in range(200):
            try:
                if requests.get(base + "/accounts/login/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        sessions, tokened = [], []
        login_started = time.perf_counter()
        for person in staff:
            if person["token"]:
                bearer = requests.Session()
                bearer.headers["Authorization"] = f"Bearer {person['token']}"
                tokened.append((bearer, person["visits"]))
            session = requests.Session()
            page = session.get(base + "/accounts/login/")
            token = session.cookies["csrftoken"]
            answer = session.post(base + "/accounts/login/", allow_redirects=False,
                                  data={"username": person["username"], "password": PASSWORD,
                                        "csrfmiddlewaretoken": token},
                                  headers={"Referer": base + "/accounts/login/"})
            if answer.status_code != 302:
                raise SystemExit(f"signing in {person['username']} failed: {answer.status_code} {page.status_code}")
            sessions.append((session, person["visits"]))
        login_seconds = time.perf_counter() - login_started
        for label, pin, who in HTTP_CASES:
            people = tokened if who == "token" else sessions
            if people:
                results[label] = hammer(base, people, pin, args.http_seconds, args.http_threads)
        results["logins"] = {"count": len(sessions), "seconds": round(login_seconds, 2)}
    finally:
        stop(procs)
    target.drop(db)
    return {"database": target.name, "visits": visits, "web_workers": args.web_workers,
            "threads": args.http_threads, **results}


HTTP_CASES = [  # (label, PIN, how the phone signs in)
    ("check-in, API token", None, "token"),
    ("check-in, session + CSRF", None, "session"),
    ("check-in with PIN, API token", PIN, "token"),
]


def hammer(base, sessions, pin, seconds, threads):
    """Post check-ins for `seconds` from `threads` threads; each thread has its own signed-in
    people (a requests.Session is not safe to share between threads)."""
    latencies, errors, codes = [], [], {}
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    body = {"type": "check_in", "via": "phone", "concerns": "", "location": "Living room"}
    if pin:
        body["pin"] = pin

    def work(mine):
        local_lat, local_err, local_codes = [], [], {}
        i = 0
        while time.perf_counter() < stop_at and mine:
            session, visit_ids = mine[i % len(mine)]
            visit_id = visit_ids[(i // len(mine)) % len(visit_ids)]
            i += 1
            began = time.perf_counter()
            headers = {"Referer": base + "/"}
            if "csrftoken" in session.cookies:  # a session sign-in: unsafe methods carry the CSRF token
                headers["X-CSRFToken"] = session.cookies["csrftoken"]
            try:
                r = session.post(f"{base}/api/visits/{visit_id}/events", json=body, headers=headers, timeout=30)
                code = r.status_code
                if code != 200 and len(local_err) < 5:
                    local_err.append(f"{code}: {r.text[:200]}")
            except Exception as exc:  # noqa: BLE001 - counted as an error
                code = type(exc).__name__
                local_err.append(code)
            local_lat.append(time.perf_counter() - began)
            local_codes[code] = local_codes.get(code, 0) + 1
        with lock:
            latencies.extend(local_lat)
            errors.extend(local_err)
            for k, v in local_codes.items():
                codes[k] = codes.get(k, 0) + v

    shares = [sessions[t::threads] for t in range(threads)]
    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(share,)) for share in shares]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    ok = codes.get(200, 0)
    return {"requests": len(latencies), "ok": ok, "errors": len(latencies) - ok, "codes": {str(k): v for k, v in codes.items()},
            "seconds": round(elapsed, 2), "per_second": round(ok / elapsed, 1),
            "latency": summary(latencies), "sample_errors": errors[:5]}


# ============================================================================ report

NONE = {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}


def ms(value):
    return f"{value * 1000:,.0f} ms"


def markdown(results):
    lines = ["| database | visits under way | deadlines | watchdogs | alert row p50 / p99 / max | in-app p50 / p99 / max | alerted | alerts/s | duplicates |",
             "|---|---:|---|---:|---|---|---:|---:|---:|"]
    for r in results["alerts"]:
        a, i = r["alert_row"] or NONE, r["in_app"] or NONE
        rate = r["visits"] / r["spread"] if r["spread"] else 0
        what = (f"burst: all in {r['spread']:g} s" if r["mode"] == "burst" else
                f"steady: {rate:,.1f}/s, {r['measured']:g} s measured")
        lines.append(f"| {r['database']} | {r['visits']:,} | {what} | {r['watchdogs']} | {ms(a['p50'])} / {ms(a['p99'])} / {ms(a['max'])} | "
                     f"{ms(i['p50'])} / {ms(i['p99'])} / {ms(i['max'])} | {r['alerted']:,} of {r['awaited']:,} | "
                     f"{r['alerts_per_second']:,.0f} | {r['duplicates']} |")
    lines += ["", "| database | visits | request | requests/s | latency p50 / p99 / max | errors |", "|---|---:|---|---:|---|---:|"]
    for r in results["http"]:
        for label in [c[0] for c in HTTP_CASES if c[0] in r]:
            h = r[label]
            lat = h["latency"]
            lines.append(f"| {r['database']} | {r['visits']:,} | {label} | {h['per_second']:,.0f} | "
                         f"{ms(lat['p50'])} / {ms(lat['p99'])} / {ms(lat['max'])} | {h['errors']} of {h['requests']:,} |")
    return "\n".join(lines)


# ============================================================================ main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("phase_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--visits", default="1000,10000", help="Visits under way, comma-separated (default 1000,10000)")
    parser.add_argument("--watchdogs", default="1,2", help="Watchdog processes, comma-separated (default 1,2)")
    parser.add_argument("--visits-per-school", type=int, default=20)
    parser.add_argument("--pupils-per-school", type=int, default=300)
    parser.add_argument("--lead", type=float, default=None, help="Seconds before the first deadline (default 5 + 1 per 1,000 visits)")
    parser.add_argument("--modes", default="burst,steady", help="burst, steady or both (default)")
    parser.add_argument("--window", type=float, default=15.0, help="burst: seconds over which every deadline falls due (default 15)")
    parser.add_argument("--spread", type=float, default=1200.0, help="steady: seconds over which the deadlines fall due (default 1200)")
    parser.add_argument("--steady-seconds", type=float, default=60.0, help="steady: seconds measured (default 60)")
    parser.add_argument("--observe-ms", type=float, default=20.0, help="How often the observer looks for new alerts")
    parser.add_argument("--timeout", type=float, default=300.0, help="Give up waiting this long after the burst")
    parser.add_argument("--http-seconds", type=float, default=10.0)
    parser.add_argument("--http-threads", type=int, default=8)
    parser.add_argument("--http-staff", type=int, default=40, help="Visiting staff signed in for the HTTP test")
    parser.add_argument("--http-visits", type=int, default=1000, help="Visits under way during the HTTP test")
    parser.add_argument("--web-workers", type=int, default=max(2, 2 * (os.cpu_count() or 1)))
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--json", help="Write the results here as JSON")
    args = parser.parse_args()

    if args.phase:
        fn = PHASES[args.phase]
        values = [float(a) if "." in a else int(a) for a in args.phase_args]
        print(json.dumps(fn(*values), default=str))
        return

    if os.environ.get("DOORSTEP_BENCH_DATABASE_URL") or os.environ.get("DOORSTEP_DB") == "postgres":
        target = PostgresTarget.from_environment()
    else:
        target = None
    tmp = tempfile.mkdtemp(prefix="doorstep-safety-bench-")
    if target is None:
        target = SqliteTarget(tmp)
    visit_counts = [int(v) for v in args.visits.split(",") if v]
    watchdog_counts = [int(w) for w in args.watchdogs.split(",") if w]
    results = {"database": target.name, "machine": machine(), "args": {k: v for k, v in vars(args).items()
                                                                       if k not in ("phase", "phase_args")},
               "alerts": [], "http": []}
    print(f"==> Safety bench on {target.name} (logs in {tmp})", flush=True)
    try:
        target.drop("bench_template")
        if isinstance(target, PostgresTarget):
            target.create("bench_template")
        took = run_phase(target, "bench_template", "migrate")
        print(f"    migrated in {took['seconds']} s", flush=True)
        sizes = sorted(set(visit_counts + ([] if args.no_http else [args.http_visits])))
        for visits in sizes:
            db = f"bench_pop_{visits}"
            target.drop(db)
            target.clone("bench_template", db)
            made = run_phase(target, db, "populate", visits, args.visits_per_school, args.pupils_per_school)
            print(f"    {visits:,} visits: {made['schools']} schools, {made['staff']:,} staff, {made['pupils']:,} pupils "
                  f"in {made['seconds']} s", flush=True)
            if visits in visit_counts:
                for mode, watchdogs in [(m, w) for m in args.modes.split(",") for w in watchdog_counts]:
                    lead_args = argparse.Namespace(**vars(args))
                    lead_args.lead = args.lead if args.lead is not None else 5 + visits / 1000
                    r = alert_scenario(target, db, visits, watchdogs, mode, lead_args, tmp)
                    results["alerts"].append(r)
                    print(f"    alerts ({mode}): {visits:,} visits, {watchdogs} watchdog(s): row p50 {ms((r['alert_row'] or NONE)['p50'])}, "
                          f"p99 {ms((r['alert_row'] or NONE)['p99'])}, max {ms((r['alert_row'] or NONE)['max'])}; "
                          f"{r['alerted']:,} of {r['awaited']:,} alerted, "
                          f"{r['duplicates']} duplicates, headroom {r['headroom_seconds']} s, "
                          f"watchdog errors {r['watchdog_errors']}", flush=True)
            if not args.no_http and visits == args.http_visits:
                r = http_scenario(target, db, visits, args, tmp)
                results["http"].append(r)
                for label in [c[0] for c in HTTP_CASES if c[0] in r]:
                    h = r[label]
                    print(f"    HTTP {label}: {h['per_second']} req/s, p50 {ms(h['latency']['p50'])}, "
                          f"p99 {ms(h['latency']['p99'])}, errors {h['errors']} {h['sample_errors'][:2]}", flush=True)
            target.drop(db)
        target.drop("bench_template")
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print()
    print(markdown(results))
    if isinstance(target, SqliteTarget):
        shutil.rmtree(tmp, ignore_errors=True)


def machine():
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:  # no /proc (not Linux): the figures go out without the machine's memory
        pass
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):  # no /proc, or no model name in it: the same, without the CPU
        pass
    return {"nproc": os.cpu_count(), "memory": mem, "cpu": cpu, "python": sys.version.split()[0]}


if __name__ == "__main__":
    main()
