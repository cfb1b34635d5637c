"""A leaver's visits still to come, handed to someone else or withdrawn, so that the person can
be marked as left (accounts.leavers refuses until none are left). Thin: each button is one
call into visits.services (reassign, withdraw_for_leaver), which re-checks the policy, writes
the audit trail and locks the visit."""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts import leavers
from core.errors import NotAllowed
from people.decorators import StaffRequest, require, staff_required
from people.models import ROLE_LABELS, StaffMember

from . import services
from .models import Visit


@staff_required
def leaver_visits(request: StaffRequest, staff_pk: int) -> HttpResponse:
    me = request.staff
    require(me, "staff.edit")
    leaver = get_object_or_404(StaffMember, pk=staff_pk, school=me.school)
    problem: dict[str, object] = {}
    if request.method == "POST":
        visit = get_object_or_404(Visit, pk=_int(request.POST.get("visit")), school=me.school)
        try:
            if request.POST.get("action") == "withdraw":
                services.withdraw_for_leaver(me, visit, leaving=leaver, reason=request.POST.get("reason", ""),
                                             request=request)
                done = "Withdrew" if visit.state == Visit.State.WITHDRAWN else "Cancelled"
                messages.success(request, f"{done} the visit to {visit.pupil.full_name} on {_when(visit)}.")
            else:
                replacement = StaffMember.objects.filter(pk=_int(request.POST.get("replacement"))).first()
                services.reassign(me, visit, leaving=leaver, replacement=replacement, request=request)
                messages.success(request, f"{replacement.full_name if replacement else ''} now goes on the visit to "
                                          f"{visit.pupil.full_name} on {_when(visit)} in place of {leaver.full_name}.")
        except services.Refused as refused:
            problem = {"visit": visit.pk, "findings": refused.blocking,
                       "text": refused.message.splitlines()[0]}
        except NotAllowed as exc:
            problem = {"visit": visit.pk, "text": exc.message}
        except ValidationError as exc:
            problem = {"visit": visit.pk, "text": " ".join(exc.messages),
                       "field": "reason" if "reason" in getattr(exc, "error_dict", {}) else "replacement"}
        else:
            return redirect("visits:leaver_visits", leaver.pk)
    ahead = leavers.visits_ahead(leaver)
    ids = [v.pk for v in ahead]
    on_visit: dict[int, list[StaffMember]] = {pk: [] for pk in ids}
    for assignment in services.VisitStaff.objects.filter(visit__in=ids).select_related("staff").order_by("-lead", "id"):
        on_visit[assignment.visit_id].append(assignment.staff)
    candidates = list(StaffMember.objects.filter(school=me.school, active=True).exclude(pk=leaver.pk)
                      .prefetch_related("roles").order_by("full_name"))
    rows = [{"visit": v, "others": [s for s in on_visit[v.pk] if s.pk != leaver.pk],
             "choices": [(c.pk, _label(c)) for c in candidates if c not in on_visit[v.pk]],
             "problem": problem if problem.get("visit") == v.pk else None} for v in ahead]
    return render(request, "visits/leaver_visits.html", {
        "leaver": leaver, "rows": rows, "posted": request.POST if problem else {}, "nav": "staff",
    }, status=409 if problem else 200)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:  # a hand-made or damaged form: no such visit or person, so a 404 or a refusal
        return 0


def _label(person: StaffMember) -> str:
    roles = ", ".join(ROLE_LABELS.get(r, r).lower() for r in person.role_names)
    return f"{person.full_name} ({roles})" if roles else person.full_name


def _when(visit: Visit) -> str:
    """As people write it: Monday 7 December 2026, 14:30."""
    return f"{timezone.localtime(visit.starts_at):%A %-d %B %Y, %H:%M}"
