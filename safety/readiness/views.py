"""The readiness panel and the test alarm's buttons. Thin: the data and every change are in
safety.readiness.services, which checks the role and writes the audit trail."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import NotAllowed
from people.access import staff_records
from people.decorators import StaffRequest, staff_required
from people.models import StaffMember
from people.permissions import can

from . import services
from .models import Drill
from .probes import NAMES


def _me(request: StaffRequest, action: str = "readiness.view") -> StaffMember:
    if not can(request.staff, action):
        raise PermissionDenied(f"Only {services.ROLES_WORDS} can see whether Doorstep is ready.")
    return request.staff


@staff_required
def panel(request: StaffRequest) -> HttpResponse:
    me = _me(request)
    return render(request, "readiness/panel.html", {
        "nav": "board", "may_drill": can(me, "readiness.drill"), **services.readiness(me.school),
    })


@staff_required
@require_POST
def check_now(request: StaffRequest) -> HttpResponseBase:
    me = _me(request)
    rows = services.run_checks(by=me, request=request)
    down = [NAMES[r.provider] for r in rows if not r.ok]
    if not rows:
        messages.warning(request, "There is no text or email service to check: none is set up.")
    elif down:
        messages.error(request, f"Checked: {', '.join(down)} did not answer as it should. See below.")
    else:
        messages.success(request, "Checked: every text and email service answered.")
    return redirect("readiness:panel")


@staff_required
@require_POST
def drill_start(request: StaffRequest) -> HttpResponseBase:
    me = _me(request, "readiness.drill")
    try:
        services.start_drill(me, request=request)
    except NotAllowed as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Test alarm started: the office board is sounding it, and a text and an email "
                                  "saying it is a test are on their way to you. End the test on the board.")
    return redirect("readiness:panel")


@staff_required
@require_POST
def drill_end(request: StaffRequest, pk: int) -> HttpResponseBase:
    """'End the test', from the board or the readiness panel. The person's staff record at
    the drill's school acts (the board can show several schools); another school's drill is a 404."""
    drill = Drill.objects.filter(pk=pk).select_related("school").first()
    me = next((s for s in staff_records(request.user) if drill and s.school_id == drill.school_id), None)
    if drill is None or me is None or not can(me, "readiness.drill", drill):
        raise Http404("No such test alarm.")
    if services.end_drill(drill, by=me, request=request):
        messages.success(request, "Test alarm ended. Thank you: the alarm reached the board and someone answered it.")
    else:
        messages.info(request, "This test alarm had already ended.")
    # A fixed choice, not a URL, so it cannot be made to redirect anywhere else.
    return redirect("alerts:board" if request.POST.get("back") == "board" else "readiness:panel")
