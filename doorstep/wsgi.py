import gc
import os

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


settle()
