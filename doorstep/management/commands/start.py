"""Start everything a school needs on one machine, keep it running, and stop it cleanly.

    doorstep start [--bind 127.0.0.1:8000] [--workers 2]

Each part runs as a child process. The watchdog and the delivery workers are what tell a
person that a colleague has missed a check-in, so a child that exits is started again
rather than taking the others down with it:

- it is restarted after a back-off that starts at 1 s and doubles with each quick exit
  (1, 2, 4, 8, 16, 30, 30 ... seconds); once it has stayed up for 60 s the back-off starts
  again from 1 s. Every exit and restart is written to stderr.
- only a child that keeps failing, 20 exits within 15 minutes (a child that fails at once
  gets there after about 8 minutes of back-off), stops everything: the command then exits
  non-zero, so that a supervisor (systemd, Docker) sees the failure instead of Doorstep
  quietly restarting something that can never work. A database that is away for a few
  minutes is ridden out.

Email, SMS and phone calls are sent by three delivery workers (`deliver --channel email`,
`deliver --channel sms` and `deliver --channel voice`), so a text or phone-call provider
that hangs never holds back the others.
Ctrl-C or SIGTERM stops them all.
"""
import collections
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from django.core.management.base import BaseCommand, CommandError


def doorstep_command(*args: str) -> list[str]:
    """A `doorstep <management command>` invocation using this same interpreter."""
    return [sys.executable, "-m", "doorstep.cli", *args]


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0            # time.monotonic() of the latest start
    restart_at: float | None = None    # set while it waits out its back-off
    backoff: float = 0.0               # the wait before the next restart
    exits: collections.deque = field(default_factory=collections.deque, repr=False)  # monotonic times

    def start(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        # Its own process group: Ctrl-C in a terminal reaches only `doorstep start`, which
        # then asks each child once to stop gracefully (a second signal would make the task
        # worker abandon the task it is running).
        self.process = process = subprocess.Popen(self.argv, env=env, process_group=0, preexec_fn=_die_with_parent)
        self.started_at = time.monotonic()
        self.restart_at = None
        return process

    def poll(self) -> int | None:
        return self.process.poll() if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.restart_at is None


def _die_with_parent():
    # If `doorstep start` itself is killed outright (SIGKILL), its children must not
    # live on as orphans holding the port: ask Linux to send them SIGTERM.
    if sys.platform.startswith("linux"):
        try:
            import ctypes  # only where there is a Linux libc to ask

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _seconds(value: float) -> str:
    return f"{value / 60:.0f} minutes" if value >= 120 else f"{round(value, 1):g} s"


WEB_THREADS = 16  # per web process: each open office board's event stream holds one (see children())


class Command(BaseCommand):
    help = ("Start the web server, the task worker, the watchdog, delivery and the daily jobs; restart any "
            "that stops; stop them all on Ctrl-C or SIGTERM.")

    stop_timeout = 15       # seconds each child gets to finish before it is killed
    # Restart policy (see the module docstring). Tests make these small.
    backoff_first = 1.0     # seconds before a child is started again after its first quick exit
    backoff_max = 30.0      # the wait doubles after each quick exit, up to this
    healthy_after = 60.0    # a child up this long is well again: the next wait is backoff_first
    give_up_exits = 20      # this many exits of one child ...
    give_up_window = 900.0  # ... within this many seconds stop everything
    tick = 0.2              # how often the children are looked at

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("DOORSTEP_BIND", "127.0.0.1:8000"),
                            help="Address for the web server (default 127.0.0.1:8000)")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)),
                            help="Web server worker processes (default 2)")
        parser.add_argument("--threads", type=int, default=int(os.environ.get("DOORSTEP_WEB_THREADS", WEB_THREADS)),
                            help=f"Threads in each web server process (default {WEB_THREADS}): each open office board holds one")

    def children(self, options: dict) -> list[Child]:
        """Everything a single-machine school needs. Adding a process is adding a line."""
        return [
            Child("web", [sys.executable, "-m", "gunicorn", "doorstep.wsgi:application",
                          "--bind", options["bind"], "--workers", str(options["workers"]),
                          # Threads, not gunicorn's default sync workers: each open office board
                          # keeps an event stream open (up to a minute at a time, safety/live.py),
                          # and a sync worker would be taken whole by one board. A thread waiting
                          # on that stream costs little; the rest of the page is served by the others.
                          "--worker-class", "gthread", "--threads", str(options.get("threads", WEB_THREADS)),
                          "--graceful-timeout", "10", "--access-logfile", "-",
                          # Access lines with calendar feeds' secret addresses cut out.
                          "--logger-class", "doorstep.logs.AccessLog",
                          # gunicorn's control socket has one default path per user: two
                          # Doorsteps on one machine would fight over it, and nothing uses it.
                          "--no-control-socket"]),
            Child("tasks", doorstep_command("db_worker", "--no-reload")),
            # The safety core: alerts for missed check-ins, and the outbox that sends them,
            # one worker per channel so that a hanging text provider never delays email.
            Child("watchdog", doorstep_command("watchdog")),
            Child("deliver-email", doorstep_command("deliver", "--channel", "email")),
            Child("deliver-sms", doorstep_command("deliver", "--channel", "sms")),
            Child("deliver-voice", doorstep_command("deliver", "--channel", "voice")),
            # Once a day: the attendance referral scan and the review of agreements.
            Child("daily", doorstep_command("daily", "--loop")),
        ]

    def handle(self, *args, **options):
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        if options.get("threads", WEB_THREADS) < 2:
            raise CommandError("--threads must be at least 2: one is taken by each open office board")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "doorstep.settings")}
        children = self.children(options)

        stop_signal = []

        def on_signal(signum, frame):
            stop_signal.append(signum)

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        given_up = None
        try:
            for child in children:
                process = child.start(env)
                self.stdout.write(f"doorstep: started {child.name} (pid {process.pid})")
            self.stdout.flush()
            while not stop_signal and given_up is None:
                time.sleep(self.tick)
                if stop_signal:
                    break  # a child that exits while we are being stopped is not a failure
                given_up = self.look_after(children, env)
            if given_up is None:
                self.stdout.write(f"doorstep: {signal.Signals(stop_signal[0]).name} received; stopping")
        finally:
            self.stop(children)
            for s, handler in previous.items():
                signal.signal(s, handler)
        if given_up is not None:
            sys.exit(1)
        self.stdout.write("doorstep: stopped cleanly")

    def look_after(self, children: list[Child], env: dict[str, str]) -> Child | None:
        """Notice children that have exited and start again those whose back-off is over.
        Returns the child that keeps failing, if one does."""
        now = time.monotonic()
        for child in children:
            if child.running and child.process is not None:  # (running means it has a process)
                code = child.poll()
                if code is None:
                    continue
                # Whatever it left behind in its process group (a web server's workers)
                # must not hold the port against the next start.
                _signal_group(child.process, signal.SIGTERM)
                up_for = now - child.started_at
                child.backoff = (self.backoff_first if up_for >= self.healthy_after or not child.backoff
                                 else min(child.backoff * 2, self.backoff_max))
                child.exits.append(now)
                while child.exits and child.exits[0] < now - self.give_up_window:
                    child.exits.popleft()
                window = _seconds(self.give_up_window)
                if len(child.exits) >= self.give_up_exits:
                    self.stderr.write(
                        f"doorstep: GIVING UP: {child.name} {_how_it_ended(code)} after {_seconds(up_for)}; it has exited "
                        f"{len(child.exits)} times within {window}. Stopping everything so that a supervisor sees it")
                    self.stderr.flush()
                    return child
                child.restart_at = now + child.backoff
                self.stderr.write(
                    f"doorstep: RESTARTING {child.name}: it {_how_it_ended(code)} after {_seconds(up_for)}; "
                    f"starting it again in {_seconds(child.backoff)} ({len(child.exits)} exits within {window}; "
                    f"{self.give_up_exits} stop everything)")
                self.stderr.flush()
            elif child.restart_at is not None and now >= child.restart_at:
                try:
                    process = child.start(env)
                except OSError as exc:  # e.g. out of processes: try again after the next back-off
                    child.restart_at = now + min(child.backoff * 2, self.backoff_max)
                    self.stderr.write(f"doorstep: could not start {child.name} again ({exc}); trying again")
                    self.stderr.flush()
                    continue
                self.stderr.write(f"doorstep: started {child.name} again (pid {process.pid})")
                self.stderr.flush()
        return None

    def stop(self, children: list[Child]) -> None:
        # Signal each child's whole process group: it reaches a web server's own workers
        # too, even when their master has died and left them behind.
        for child in children:
            if child.process:
                _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in children:
            if not child.process:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"doorstep: {child.name} did not stop in {self.stop_timeout} s; killing it")
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
