"""`doorstep start` keeps the safety processes running: a child that exits is started
again after a growing back-off, and only a child that keeps failing stops everything.
The real children are swapped for tiny scripts that exit when told to."""
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest

from doorstep.management.commands.start import Child, Command

# Appends the time it started to the file named by argv[1], stays up for the n-th number
# of argv[2] (the last one repeats) and exits with code 1: a child that "crashes" on cue.
CRASHER = """
import sys, time
log, plan = sys.argv[1], [float(s) for s in sys.argv[2].split(",")]
with open(log, "a") as f:
    f.write(f"{time.time()}\\n")
with open(log) as f:
    n = len(f.read().split())
time.sleep(plan[min(n, len(plan)) - 1])
sys.exit(1)
"""


def crasher(log: Path, plan: str) -> list[str]:
    return [sys.executable, "-c", CRASHER, str(log), plan]


def starts(log: Path) -> list[float]:
    return [float(line) for line in log.read_text().split()] if log.exists() else []


def supervisor(children: list[Child], **policy) -> Command:
    command = Command(stdout=StringIO(), stderr=StringIO())
    command.stop_timeout = 5
    command.tick = 0.05
    for name, value in policy.items():
        setattr(command, name, value)
    command.children = lambda options: children
    return command


def run(command: Command, until: Callable[[], bool], timeout: float = 15) -> None:
    """Run `doorstep start` in this (the main) thread, and send it SIGTERM once `until()`
    holds (or after `timeout`), as systemd or Ctrl-C would."""
    original = signal.getsignal(signal.SIGTERM)

    def stop_when_done():
        deadline = time.monotonic() + timeout
        while signal.getsignal(signal.SIGTERM) is original and time.monotonic() < deadline:
            time.sleep(0.02)
        while not until() and time.monotonic() < deadline:
            time.sleep(0.02)
        if signal.getsignal(signal.SIGTERM) is not original:
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_done, daemon=True).start()
    command.handle(bind="127.0.0.1:0", workers=1)
    assert signal.getsignal(signal.SIGTERM) is original


def test_a_child_that_exits_is_restarted_with_a_growing_back_off_that_resets_once_it_stays_up(tmp_path):
    crashes, sleeps = tmp_path / "crashes", tmp_path / "sleeps"
    # Four quick exits, then it stays up 1.5 s (healthy), then quick exits again.
    children = [Child("watchdog", crasher(crashes, "0,0,0,0,1.5,0")), Child("web", crasher(sleeps, "60"))]
    command = supervisor(children, backoff_first=0.3, backoff_max=1.6, healthy_after=1.0, give_up_exits=100)

    run(command, until=lambda: len(starts(crashes)) >= 7)

    at = starts(crashes)
    assert len(at) >= 7, command.stderr.getvalue()
    log = command.stderr.getvalue()
    waits = [float(w) for w in re.findall(r"RESTARTING watchdog: it exited with code 1 after [\d.]+ s; "
                                           r"starting it again in ([\d.]+) s", log)]
    # Doubling from 0.3 s, capped at 1.6 s; after it stayed up 1.5 s, back to 0.3 s.
    assert waits[:6] == [0.3, 0.6, 1.2, 1.6, 0.3, 0.6]
    # And it really waited: each start came that long after the previous one exited (the
    # slack is a Python start-up on a busy machine).
    up = [0, 0, 0, 0, 1.5, 0]
    for gap, wait, stayed_up in zip([b - a for a, b in zip(at, at[1:], strict=False)], waits, up, strict=False):
        assert stayed_up + wait <= gap < stayed_up + wait + 1.5
    # The rest of Doorstep was never stopped or restarted meanwhile, and is stopped cleanly at the end.
    assert len(starts(sleeps)) == 1 and "RESTARTING web" not in log
    assert "stopped cleanly" in command.stdout.getvalue()
    assert all(child.process.poll() is not None for child in children)


def test_a_killed_child_is_started_again_with_a_new_process(tmp_path):
    sleeps = tmp_path / "sleeps"
    watchdog = Child("watchdog", crasher(sleeps, "60"))
    command = supervisor([watchdog], backoff_first=0.1)
    killed = []

    def restarted():
        if not killed and len(starts(sleeps)) == 1:
            killed.append(watchdog.process.pid)
            os.kill(watchdog.process.pid, signal.SIGKILL)
        return len(starts(sleeps)) >= 2

    run(command, until=restarted)

    assert len(starts(sleeps)) == 2
    assert watchdog.process.pid != killed[0]
    assert "RESTARTING watchdog: it was killed by SIGKILL" in command.stderr.getvalue()
    assert "stopped cleanly" in command.stdout.getvalue()


def test_a_child_that_keeps_failing_stops_everything_and_exits_non_zero(tmp_path):
    crashes, sleeps = tmp_path / "crashes", tmp_path / "sleeps"
    children = [Child("web", crasher(sleeps, "60")), Child("deliver-sms", crasher(crashes, "0"))]
    command = supervisor(children, backoff_first=0.1, backoff_max=0.2, give_up_exits=4, give_up_window=60)
    started = time.monotonic()

    with pytest.raises(SystemExit) as exit_:
        command.handle(bind="127.0.0.1:0", workers=1)

    assert exit_.value.code == 1
    assert time.monotonic() - started < 10
    assert len(starts(crashes)) == 4  # started, then restarted three times
    log = command.stderr.getvalue()
    assert log.count("RESTARTING deliver-sms") == 3
    assert "GIVING UP: deliver-sms exited with code 1" in log and "exited 4 times within 60 s" in log
    assert all(child.process.poll() is not None for child in children)


def test_exits_spread_wider_than_the_window_never_add_up_to_giving_up(tmp_path):
    crashes = tmp_path / "crashes"
    # Up 0.6 s each time: never three exits within 1 s, however many there are.
    command = supervisor([Child("daily", crasher(crashes, "0.6"))], backoff_first=0.05, backoff_max=0.05,
                         give_up_exits=3, give_up_window=1.0)

    run(command, until=lambda: len(starts(crashes)) >= 6)

    assert len(starts(crashes)) >= 6
    assert "GIVING UP" not in command.stderr.getvalue()
    assert "stopped cleanly" in command.stdout.getvalue()


def test_sigterm_while_a_child_waits_to_be_restarted_stops_everything_at_once(tmp_path):
    crashes, sleeps = tmp_path / "crashes", tmp_path / "sleeps"
    children = [Child("watchdog", crasher(crashes, "0")), Child("web", crasher(sleeps, "60"))]
    command = supervisor(children, backoff_first=30)
    started = time.monotonic()

    run(command, until=lambda: "RESTARTING watchdog" in command.stderr.getvalue())

    assert time.monotonic() - started < 10  # not the 30 s back-off
    assert len(starts(crashes)) == 1
    assert "SIGTERM received; stopping" in command.stdout.getvalue()
    assert "stopped cleanly" in command.stdout.getvalue()
    assert all(child.process.poll() is not None for child in children)


def test_email_and_texts_are_sent_by_separate_workers_so_a_hanging_sms_provider_cannot_hold_back_email():
    argvs = {child.name: child.argv for child in Command().children({"bind": "127.0.0.1:0", "workers": 1})}
    assert argvs["deliver-email"][-3:] == ["deliver", "--channel", "email"]
    assert argvs["deliver-sms"][-3:] == ["deliver", "--channel", "sms"]
    assert not any(argv[-1] == "deliver" for argv in argvs.values())  # no worker sends both
    assert {"web", "tasks", "watchdog", "daily"} <= set(argvs)
