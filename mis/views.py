"""The Wonde page: the school's Wonde id and token, 'Sync now' and the latest syncs.
Thin: everything is done by mis.services."""
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from core.errors import NotAllowed
from people.decorators import StaffRequest, require, staff_required

from . import services
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
            run = services.sync(me.school, by=me, full=request.POST.get("full") == "1")
        except NotAllowed as exc:
            messages.error(request, str(exc))
        else:
            if run.ok:
                messages.success(request, "Synced from Wonde.")
            else:
                messages.error(request, "The sync from Wonde failed; nothing was changed. The reason is below.")
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
    runs = SyncRun.objects.filter(school=me.school).order_by("-started", "-id")[:10]
    return render(request, "mis/wonde.html", {
        "nav": "pupils", "form": form, "conn": conn, "masked": services.masked(conn) if conn else "",
        "last": runs[0] if runs else None, "runs": runs,
    })
