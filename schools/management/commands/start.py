"""Start everything a school needs on one machine, and stop it cleanly.

    doorstep start [--bind 127.0.0.1:8000] [--workers 2]

Each part runs as a child process. If one of them dies, the others are stopped and the
command exits non-zero, so that a supervisor (systemd, Docker, `make run`) sees the
failure instead of a half-working Doorstep. Ctrl-C or SIGTERM stops them all.
"""
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from django.core.management.base import BaseCommand, CommandError


def doorstep_command(*args):
    """A `doorstep <management command>` invocation using this same interpreter."""
    return [sys.executable, "-m", "doorstep.cli", *args]


@dataclass
class Child:
    name: str
    argv: list
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, env):
        # Its own process group: Ctrl-C in a terminal reaches only `doorstep start`, which
        # then asks each child once to stop gracefully (a second signal would make the task
        # worker abandon the task it is running).
        self.process = subprocess.Popen(self.argv, env=env, process_group=0, preexec_fn=_die_with_parent)

    def poll(self):
        return self.process.poll() if self.process else None


def _die_with_parent():
    # If `doorstep start` itself is killed outright (SIGKILL), its children must not
    # live on as orphans holding the port: ask Linux to send them SIGTERM.
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


class Command(BaseCommand):
    help = "Start the web server, the task worker, the watchdog, delivery and the daily jobs; stop them all on Ctrl-C or SIGTERM."

    stop_timeout = 15  # seconds each child gets to finish before it is killed

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("DOORSTEP_BIND", "127.0.0.1:8000"),
                            help="Address for the web server (default 127.0.0.1:8000)")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)),
                            help="Web server worker processes (default 2)")

    def children(self, options):
        """Everything a single-machine school needs. Adding a process is adding a line."""
        return [
            Child("web", [sys.executable, "-m", "gunicorn", "doorstep.wsgi:application",
                          "--bind", options["bind"], "--workers", str(options["workers"]),
                          "--graceful-timeout", "10", "--access-logfile", "-",
                          # gunicorn's control socket has one default path per user: two
                          # Doorsteps on one machine would fight over it, and nothing uses it.
                          "--no-control-socket"]),
            Child("tasks", doorstep_command("db_worker", "--no-reload")),
            # The safety core: alerts for missed check-ins, and the outbox that sends them.
            Child("watchdog", doorstep_command("watchdog")),
            Child("deliver", doorstep_command("deliver")),
            # Once a day: the attendance referral scan and the review of agreements.
            Child("daily", doorstep_command("daily", "--loop")),
        ]

    def handle(self, *args, **options):
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "doorstep.settings")}
        children = self.children(options)

        stop_signal = []

        def on_signal(signum, frame):
            stop_signal.append(signum)

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in children:
                child.start(env)
                self.stdout.write(f"doorstep: started {child.name} (pid {child.process.pid})")
            self.stdout.flush()
            failed = None
            while not stop_signal and failed is None:
                time.sleep(0.2)
                failed = next((c for c in children if c.poll() is not None), None)
            if stop_signal:
                failed = None  # a child that exits while we are being stopped is not a failure
            if failed is not None:
                self.stderr.write(
                    f"doorstep: {failed.name} exited with code {failed.poll()}; stopping everything else"
                )
            else:
                self.stdout.write(f"doorstep: {signal.Signals(stop_signal[0]).name} received; stopping")
        finally:
            self.stop(children)
            for s, handler in previous.items():
                signal.signal(s, handler)
        if failed is not None:
            sys.exit(1)
        self.stdout.write("doorstep: stopped cleanly")

    def stop(self, children):
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


def _signal_group(process, signum):
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
