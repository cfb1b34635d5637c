"""A web worker stopped gracefully ends its office boards' event streams at once (doorstep/wsgi.py):
gunicorn sends SIGTERM, then waits up to its graceful timeout for the requests in hand, and an
open board's stream was one until its next ping (safety/live.py, end_waits)."""
import os
import subprocess
import sys

import pytest

WORKER = """
import os, signal, time
told = []
signal.signal(signal.SIGTERM, lambda signum, frame: told.append(signum))  # gunicorn's own, as in a worker
import doorstep.wsgi
from safety import live
before = live.waits_ended()
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.1)
print(before, live.waits_ended(), told == [signal.SIGTERM])
"""

NOT_A_WORKER = """
import signal
import doorstep.wsgi
print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""


def run(script: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "doorstep.settings", "DOORSTEP_ALLOW_INSECURE_KEY": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(("script", "printed"), [
    # Under gunicorn: the streams end first, then gunicorn's own handler runs as before.
    (WORKER, "False True True"),
    # Anywhere else (a bench, runserver, a shell), SIGTERM is left as it was.
    (NOT_A_WORKER, "True"),
])
def test_sigterm_ends_a_workers_board_streams_then_does_what_it_did(script, printed):
    assert run(script) == printed
