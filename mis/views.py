"""The Wonde page: the school's Wonde id and token, 'Sync now' and the latest syncs.
Thin: everything is done by mis.services."""
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from core.errors import NotAllowed
from people.decorators import StaffRequest, require, staff_required

from . import services, tasks
from .forms import WondeForm
from .models import SyncRun


@staff_required
def wonde(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "mis.manage", me.school)
    conn = services.connection_for(me.school)
    form = WondeForm(initial={"wonde_school_id": conn.wonde_school_id if conn else ""})
    if request.method == "POST" and request.POST.get("action") == "sync":
        try:
            run, created = tasks.request_sync(me.school, by=me, full=request.POST.get("full") == "1")
        except NotAllowed as exc:
            messages.error(request, str(exc))
        else:
            run.refresh_from_db()
            if created and run.ok:  # a worker quick enough to have finished already
                messages.success(request, "Synced from Wonde.")
            elif created and run.ok is False:
                messages.error(request, "The sync from Wonde failed; nothing was changed. The reason is below.")
            elif created:
                messages.success(request, "Sync requested. It runs in the background: this page shows how it goes, "
                                          "and you can leave it.")
            else:
                messages.info(request, "A sync is already under way, so another was not started. "
                                       "This page shows how it goes.")
        return redirect("mis:wonde")
    if request.method == "POST":
        form = WondeForm(request.POST)
        if form.is_valid():
            try:
                services.save_connection(me.school, wonde_school_id=form.cleaned_data["wonde_school_id"],
                                         token=form.cleaned_data["token"], by=me)
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Saved the school's Wonde connection.")
                return redirect("mis:wonde")
    return render(request, "mis/wonde.html", {
        "nav": "pupils", "form": form, "conn": conn, "masked": services.masked(conn) if conn else "", **_syncs(me),
    })


@staff_required
def status(request: StaffRequest) -> HttpResponse:
    """The sync panel's state, fetched by htmx every few seconds while a sync is requested or
    running; once it has finished the fragment stops asking."""
    me = request.staff
    require(me, "mis.manage", me.school)
    return render(request, "mis/_sync_status.html", {"conn": services.connection_for(me.school), **_syncs(me)})


def _syncs(me: Any) -> dict[str, Any]:
    runs = list(SyncRun.objects.filter(school=me.school).order_by("-started", "-id")[:10])
    done = [r for r in runs if not r.live]
    return {"live": next((r for r in runs if r.live), None), "last": done[0] if done else None, "runs": runs}
