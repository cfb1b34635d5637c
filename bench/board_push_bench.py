"""Office board push benchmark (docs/benchmarks.md, "The office board is pushed"): from a missed deadline to
the alert drawn on an open office board in Chromium, with --visits visits under way at the school.

    .venv/bin/python bench/board_push_bench.py                          # SQLite (a temporary file)
    pg_virtualenv -v 15 env DOORSTEP_DB=postgres .venv/bin/python bench/board_push_bench.py
    .venv/bin/python bench/board_push_bench.py --visits 200 --alerts 5  # quick

What runs, all real processes:
  1. a fresh database (bench/safety_bench.py's targets and phases: migrate, then --visits
     visits under way at one school with their staff and logins);
  2. `doorstep start --workers 2` (gunicorn with gthread workers, as in production, the watchdog,
     the delivery workers, the task worker, the daily jobs), against that database;
  3. Chromium (Debian's, headless, sound allowed without a click) signs in as the school's
     office (password, then the authenticator code) and opens /board/ with the sound on;
  4. every visit's events and watch are written with its alert time spread --gap seconds
     apart from a few seconds ahead (safety_bench's `arm` phase), so the watchdog raises one
     alert every --gap seconds while the others are fine;
  5. in the page, a MutationObserver notes (Date.now(), the same machine's clock) when each
     alert's element (data-alarm="alert-N") first appears; after --alerts alerts:
     delay = first drawn - the policy's alert time (Alert.ladder_from, the missed deadline
     plus its grace), p50 / p95 / p99 / max;
  6. the board's two fragments are fetched --fragment-samples times with the office's
     session (client-side time on the same machine): /board/live/ (every visit) and
     /board/alarms/ (the alarm strip).

The same harness (`Site`) runs the browser test tests/test_browser_board_push.py with a few
visits. Prints a Markdown table and writes JSON to --json.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import safety_bench as sb  # noqa: E402 - the sibling bench: its databases, phases and processes

PY = sys.executable
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]

# Notes when each data-alarm key first appears, and counts page loads (a reload would reset it).
OBSERVER = """
window.__drawn = window.__drawn || {};
window.__loads = (window.__loads || 0) + 1;
(function () {
  function look() {
    document.querySelectorAll('[data-alarm]').forEach(function (el) {
      var k = el.getAttribute('data-alarm');
      if (!(k in window.__drawn)) { window.__drawn[k] = Date.now(); }
    });
  }
  new MutationObserver(look).observe(document, {childList: true, subtree: true});
  document.addEventListener('DOMContentLoaded', look);
})();
"""


# ============================================================================ phases (in Django)

def phase_office():
    """The first school's office user, with an authenticator device whose key this script
    knows (to type its code at sign-in, as the person's phone would)."""
    sb.setup_django()
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from people.models import StaffMember

    people = []
    for office in StaffMember.objects.filter(roles__role="office").select_related("user").order_by("pk")[:2]:
        key = secrets.token_hex(20)
        TOTPDevice.objects.filter(user=office.user).delete()
        TOTPDevice.objects.create(user=office.user, name="Bench phone", confirmed=True, key=key)
        people.append({"username": office.user.username, "key": key, "school": office.school_id,
                       "name": office.full_name})
    return {"office": people}


def phase_alerts():
    """Every alert: its id, its visit and the policy's time for it (ladder_from)."""
    sb.setup_django()
    from safety.alerts.models import Alert

    return {"alerts": [{"id": a.pk, "visit": a.visit_id, "due": a.ladder_from.timestamp(), "raised": a.raised_at.timestamp(),
                        "state": a.state} for a in Alert.objects.order_by("pk")]}


def phase_acknowledge():
    """The office takes every open alert on, from this process (not the page)."""
    sb.setup_django()
    from people.models import StaffMember
    from safety import alerting
    from safety.alerts.models import Alert

    office = StaffMember.objects.filter(roles__role="office").order_by("pk").first()
    done = [alerting.acknowledge(a, by=office).pk for a in Alert.objects.filter(state=Alert.State.OPEN)]
    return {"acknowledged": done}


PHASES = {"office": phase_office, "alerts": phase_alerts, "acknowledge": phase_acknowledge}


def run_phase(target, db, phase, *args):
    out = subprocess.run([PY, __file__, "--phase", phase, *map(str, args)], env=sb.child_env(target, db),
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise RuntimeError(f"phase {phase} failed on {target.name} (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ============================================================================ the site

def totp(key_hex, at=None, step=30, digits=6):
    """RFC 6238, as django-otp's TOTP device and an authenticator app compute it."""
    counter = int((at or time.time()) // step)
    mac = hmac.new(bytes.fromhex(key_hex), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return f"{code:0{digits}d}"


def target_from_environment(tmp):
    if os.environ.get("DOORSTEP_BENCH_DATABASE_URL") or os.environ.get("DOORSTEP_DB") == "postgres":
        return sb.PostgresTarget.from_environment()
    return sb.SqliteTarget(tmp)


class Site:
    """A throwaway Doorstep: its own database with `visits` visits under way at one school,
    `doorstep start` serving it (gunicorn gthread workers, the watchdog, delivery, ...)."""

    def __init__(self, target, db, logdir, visits, web_workers=2):
        self.target, self.db, self.logdir, self.visits = target, db, Path(logdir), visits
        self.web_workers = web_workers
        self.proc = None
        self.base = ""

    def build(self):
        self.target.drop(self.db)
        if isinstance(self.target, sb.PostgresTarget):
            self.target.create(self.db)
        sb.run_phase(self.target, self.db, "migrate")
        sb.run_phase(self.target, self.db, "populate", self.visits, self.visits, self.visits)
        self.office = run_phase(self.target, self.db, "office")["office"]  # two people of the office
        return self

    def start(self):
        port = sb.free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(self.logdir / f"start-{self.db}.log", "w")
        self.proc = subprocess.Popen(
            [PY, str(ROOT / "manage.py"), "start", "--bind", f"127.0.0.1:{port}", "--workers", str(self.web_workers)],
            env=sb.child_env(self.target, self.db), cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        import urllib.request

        for _ in range(600):
            try:
                with urllib.request.urlopen(self.base + "/accounts/login/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"doorstep start did not answer: see {self.log.name}")
        if not self.wait_for_watchdog():
            raise RuntimeError(f"the watchdog did not start: see {self.log.name}")
        return self

    def wait_for_watchdog(self, timeout=60):
        code = ("from safety.alerts.models import Heartbeat; import time\n"
                f"end = time.monotonic() + {timeout}\n"
                "while time.monotonic() < end and not Heartbeat.objects.exists(): time.sleep(0.2)\n"
                "print(Heartbeat.objects.exists())")
        out = subprocess.run([PY, str(ROOT / "manage.py"), "shell", "-c", code], env=sb.child_env(self.target, self.db),
                             cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip().endswith("True")

    def arm(self, lead, gap):
        """Alert times `gap` seconds apart from `lead` seconds ahead, one per visit."""
        return sb.run_phase(self.target, self.db, "arm", float(lead), float(gap * max(1, self.visits - 1)), 0.0, 20.0, 0)

    def alerts(self):
        return run_phase(self.target, self.db, "alerts")["alerts"]

    def acknowledge(self):
        return run_phase(self.target, self.db, "acknowledge")["acknowledged"]

    def sign_in(self, page, who=0):
        person = self.office[who]
        page.goto(self.base + "/accounts/login/")
        page.get_by_label("Username").fill(person["username"])
        page.get_by_label("Password").fill(sb.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/accounts/two-factor/**", timeout=60_000)
        page.get_by_label("Code").fill(totp(person["key"]))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(lambda url: "/accounts/" not in url, timeout=60_000)

    def open_board(self, browser, viewport=None, who=0):
        context = browser.new_context(viewport=viewport or {"width": 1366, "height": 900}, locale="en-GB",
                                      timezone_id="Europe/London")
        context.grant_permissions(["notifications"], origin=self.base)
        context.add_init_script(OBSERVER)
        page = context.new_page()
        self.sign_in(page, who)
        page.goto(self.base + "/board/")
        page.get_by_role("button", name="Sound is off: turn it on").click()
        page.get_by_role("button", name="Sound is on").wait_for()
        page.wait_for_function("() => window.doorstepBoard && window.doorstepBoard.streamOpen", timeout=30_000)
        return page

    def web_server_pid(self):
        """The gunicorn master `doorstep start` runs (its child whose command line says gunicorn)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):  # a process that ended meanwhile
                continue
            if ppid == self.proc.pid and b"gunicorn" in cmdline:
                return int(entry.name)
        raise RuntimeError("doorstep start has no web server running")

    def kill_web_server(self):
        """SIGKILL the web server's process group (master and workers), as a crash would;
        `doorstep start` starts it again after its back-off."""
        os.killpg(os.getpgid(self.web_server_pid()), signal.SIGKILL)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def drop(self):
        self.target.drop(self.db)


# ============================================================================ measuring

def pick(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] if s else None


def summary(values):
    return {"n": len(values), "p50": pick(values, 0.5), "p95": pick(values, 0.95), "p99": pick(values, 0.99),
            "max": max(values) if values else None, "mean": statistics.fmean(values) if values else None}


def loadavg():
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:  # not Linux
        return []


def fragment_times(page, base, path, samples):
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        answer = page.request.get(base + path)
        if answer.status != 200:
            raise RuntimeError(f"{path} answered {answer.status}")
        answer.body()
        times.append(time.perf_counter() - started)
    return times


def measure(target, logdir, visits, alerts, gap, lead, fragment_samples):
    from playwright.sync_api import sync_playwright

    site = Site(target, f"board_push_{visits}", logdir, visits).build()
    result = {"database": target.name, "visits": visits, "alerts_wanted": alerts, "gap_seconds": gap}
    try:
        site.start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = site.open_board(browser)
            result["load_before"] = loadavg()
            armed = site.arm(lead, gap)
            wait_until = time.time() + armed["headroom_seconds"] + gap * alerts + 10
            while time.time() < wait_until:
                drawn = page.evaluate("Object.keys(window.__drawn).length")
                if drawn >= alerts:
                    break
                time.sleep(0.5)
            time.sleep(1.0)
            result["load_after"] = loadavg()
            drawn = page.evaluate("window.__drawn")
            state = page.evaluate("({beeps: window.doorstepBoard.beeps, loads: window.__loads, title: document.title})")
            result["page"] = state
            result["drawn_keys"] = sorted(drawn)[:50]
            result["trace"] = page.evaluate("window.doorstepBoard.trace")
            result["due"] = [(a["id"], a["due"], a["raised"]) for a in site.alerts()]
            rows = site.alerts()[:alerts]
            delays = [drawn[f"alert-{a['id']}"] / 1000 - a["due"] for a in rows if f"alert-{a['id']}" in drawn]
            raise_delays = [a["raised"] - a["due"] for a in rows]
            result.update(alerts=len(rows), drawn=len(delays), delay=summary(delays), raise_delay=summary(raise_delays))
            result["live_fragment"] = summary(fragment_times(page, site.base, "/board/live/", fragment_samples))
            result["alarm_fragment"] = summary(fragment_times(page, site.base, "/board/alarms/", fragment_samples))
            browser.close()
    finally:
        site.stop()
        site.drop()
    return result


def ms(value):
    return "-" if value is None else f"{value * 1000:.0f} ms"


def markdown(results):
    lines = ["| database | visits under way | alerts (N) | missed deadline → drawn p50 | p95 | p99 | max | "
             "of which the watchdog (p50 / max) | /board/live/ p50 / p95 | /board/alarms/ p50 / p95 | load (1 min) before → after |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        d, w, live, strip = r["delay"], r["raise_delay"], r["live_fragment"], r["alarm_fragment"]
        lines.append(f"| {r['database']} | {r['visits']:,} | {r['drawn']} of {r['alerts']} | {ms(d['p50'])} | {ms(d['p95'])} | "
                     f"{ms(d['p99'])} | {ms(d['max'])} | {ms(w['p50'])} / {ms(w['max'])} | {ms(live['p50'])} / {ms(live['p95'])} | "
                     f"{ms(strip['p50'])} / {ms(strip['p95'])} | {(r.get('load_before') or ['-'])[0]} → {(r.get('load_after') or ['-'])[0]} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("phase_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--visits", type=int, default=1000, help="Visits under way at the school (default 1,000)")
    parser.add_argument("--alerts", type=int, default=30, help="Alerts measured (default 30)")
    parser.add_argument("--gap", type=float, default=3.0, help="Seconds between two alerts (default 3)")
    parser.add_argument("--lead", type=float, default=8.0, help="Seconds before the first alert (default 8)")
    parser.add_argument("--fragment-samples", type=int, default=20)
    parser.add_argument("--json", help="Write the results here as JSON")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](*args.phase_args), default=str))
        return
    tmp = tempfile.mkdtemp(prefix="doorstep-board-bench-")
    target = target_from_environment(tmp)
    print(f"==> Board push bench on {target.name}: {args.visits:,} visits, {args.alerts} alerts (logs in {tmp})", flush=True)
    result = measure(target, tmp, args.visits, args.alerts, args.gap, args.lead, args.fragment_samples)
    result["machine"] = {**sb.machine(), "loadavg_end": loadavg()}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    print(markdown([result]))
    if isinstance(target, sb.SqliteTarget):
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
