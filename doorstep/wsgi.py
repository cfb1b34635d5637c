import gc
import os
import signal
import threading
from types import FrameType

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "doorstep.settings")
application = get_wsgi_application()


def settle() -> None:
    """Freeze what is loaded at start-up out of the garbage collector's reach. Those objects
    (Django, the project, WeasyPrint: about 130,000) live as long as the process, yet every full
    collection walked them all again: 120-370 ms at a time on a busy 2-core machine, landing in
    the middle of whichever request set it off (most often a PDF's, which makes the most objects;
    measured in docs/benchmarks.md). Frozen, a full collection looks only at what requests made."""
    from core.pdf import load_library  # after get_wsgi_application: the apps are ready

    load_library()
    gc.collect()
    gc.freeze()


def end_streams_on_sigterm() -> None:
    """gunicorn stops a worker gracefully with SIGTERM, then waits up to its graceful timeout
    (10 s) for the requests in hand, and an open office board's event stream is one until its
    next ping, up to 15 s away: every restart waited the whole timeout. Here SIGTERM first ends
    this process's streams (the pages open new ones, on the next worker), then does what it did.
    Outside gunicorn (a bench, runserver, a shell) SIGTERM has no handler of Python's: left alone."""
    from safety import live  # after get_wsgi_application: the apps are ready

    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous) or threading.current_thread() is not threading.main_thread():
        return

    def end_streams_then_stop(signum: int, frame: FrameType | None) -> None:
        live.end_waits()
        previous(signum, frame)

    signal.signal(signal.SIGTERM, end_streams_then_stop)


settle()
end_streams_on_sigterm()
