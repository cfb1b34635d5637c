""""Sync now" in the background, through the project's task worker (django-tasks with its
database backend; `doorstep start` runs the worker). The page's request only writes a
"requested" SyncRun and hands its id to the worker when that commits; the worker reads from
Wonde and writes, and the page shows how it went (docs/mis-sync.md, "Sync now")."""
from typing import Any

from django.db import transaction
from django_tasks import task

from schools.models import School

from . import services
from .models import SyncRun


@task()
def run_requested_sync(run_id: int) -> dict[str, Any]:
    run = services.run_requested(run_id)
    return {"run": run_id, "ok": None if run is None else run.ok}


def request_sync(school: School, *, by: Any, full: bool = False) -> tuple[SyncRun, bool]:
    """services.request_sync, handed to the worker once written. (run, False): a sync of the
    school was already requested or running, and that one is returned instead."""
    with transaction.atomic():
        run, created = services.request_sync(school, by=by, full=full)
        if created:
            transaction.on_commit(lambda: run_requested_sync.enqueue(run.pk))
    return run, created
