"""The pages that are about the whole of Doorstep rather than one app: the home page, which
gathers a tile from each app for the person signed in, and switching school."""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from safety.board import home_tile
from setup.services import administered_trusts, is_first_administrator, is_gated
from reports.services import agreements_to_review, reports_owed
from people.access import SESSION_KEY, current_staff, schools_for, staff_records
from people.permissions import VISITORS, can
from visits.models import Visit, VisitList
from visits.services import evaluate_visit, not_an_approver

OPEN_STATES = [Visit.State.PROPOSED, Visit.State.APPROVED, Visit.State.SCHEDULED, Visit.State.UNDER_WAY]


# The policy's rules put right on the staff register (the person's own record): what the home
# page tells them about.
RECORD_RULES = {"staffing.mobile", "vetting.dbs", "vehicles.details", "vehicles.insurance",
                "staffing.trained_home_visitor"}


def _about_you(part: str, name: str) -> str:
    """One finding's words about a named person, said to that person ("Chloe Bennett's car
    insurance expired on…" -> "Your car insurance expired on…")."""
    for said, to_you in ((f"{name}'s ", "your "), (f"{name} has ", "you have "), (f"{name} is ", "you are ")):
        if part.startswith(said):
            part = to_you + part[len(said):]
            break
    part = part.strip().rstrip(".")
    return part[:1].upper() + part[1:]


def record_blocks(me, my_visits) -> list[dict]:
    """What on this person's own staff record stops one of their visits (an expired insurance,
    a missing DBS check, no training...), in the policy engine's words turned to them, with
    the visit it stops. A colleague looking at the visit reads the same finding; this makes
    sure the person who must act is told it on their home page, not only by a red edge."""
    out = []
    for visit in my_visits:
        if visit.state == Visit.State.UNDER_WAY or not any(a.staff_id == me.pk for a in visit.assignments.all()):
            continue
        evaluation = evaluate_visit(visit)
        for finding in evaluation.findings:
            if finding.severity != "block" or finding.rule not in RECORD_RULES:
                continue
            # "<policy> requires …; <one person's gap>; <another's>." -> the gaps about me.
            parts = finding.message.rstrip(".").split("; ")
            mine = [_about_you(p, me.full_name) for p in parts[1:] if me.full_name in p]
            if not mine and len(parts) == 1 and me.full_name in finding.message:
                mine = [_about_you(finding.message, me.full_name)]
            for words in mine:
                out.append({"visit": visit, "words": words, "clause": finding.clause})
    return out


@login_required
def home(request):
    me = current_staff(request)
    if me is None:
        if is_first_administrator(request.user) or administered_trusts(request.user):
            return redirect("setup:start")  # the trust, its schools and their headteachers (docs/setup.md)
        return render(request, "schools/no_school.html", status=403)
    school = me.school
    now = timezone.now()
    today = timezone.localdate()
    day_start = timezone.make_aware(datetime.datetime.combine(today, datetime.time.min))
    day_end = day_start + datetime.timedelta(days=1)
    visits = Visit.objects.filter(school=school).select_related("pupil").prefetch_related("assignments__staff")
    ctx = {"nav": "home", "schools": schools_for(request.user) if staff_records(request.user).count() > 1 else None}

    if can(me, "visit.approve"):
        ctx["awaiting_approval"] = visits.filter(state=Visit.State.PROPOSED).order_by("starts_at")
        # The policy names the approvers: a deputy may approve at one school and not the next.
        policy = school.current_policy()
        ctx["who_approves"] = not_an_approver(me, policy.load()) if policy is not None else ""
    if can(me, "visitlist.sign"):
        ctx["lists_to_sign"] = VisitList.objects.filter(school=school, signed_at__isnull=True).prefetch_related("visits")
    if me.has_role(*VISITORS):
        ctx["my_visits"] = (
            visits.filter(Q(assignments__staff=me) | Q(proposed_by=me), state__in=OPEN_STATES, ends_at__gte=now)
            .distinct()
            .order_by("starts_at")[:20]
        )
        ctx["my_record_blocks"] = record_blocks(me, ctx["my_visits"])
    if me.has_role("office", "headteacher", "deputy_headteacher", "dsl"):
        ctx["today"] = visits.filter(
            starts_at__gte=day_start, starts_at__lt=day_end,
            state__in=[Visit.State.APPROVED, Visit.State.SCHEDULED, Visit.State.UNDER_WAY,
                       Visit.State.COMPLETED, Visit.State.NOT_SEEN, Visit.State.ABANDONED],
        ).order_by("starts_at")
    if me.has_role(*VISITORS):
        # Reports of ended visits this person led and has not written.
        ctx["reports_owed"] = reports_owed(me)
    ctx["agreements_due"] = agreements_to_review(me)
    if can(me, "board.view"):
        # The office board's tile: visits under way, open alerts, watchdog.
        ctx["board_tile"] = home_tile(me)
    ctx["may_propose"] = can(me, "visit.propose")
    # A school set up on Doorstep's pages: its set-up checklist, for those who set it up (docs/setup.md).
    ctx["setup_checklist"] = can(me, "setup.view", school) and is_gated(school)
    return render(request, "schools/home.html", ctx)


@login_required
@require_POST
def switch_school(request):
    """Act as one's staff record at another school (for people on several schools' staff)."""
    try:
        school_id = int(request.POST.get("school", ""))
    except ValueError:
        school_id = None
    record = staff_records(request.user).filter(school_id=school_id).first()
    if record is None:
        raise PermissionDenied("You are not on the staff of that school.")
    request.session[SESSION_KEY] = record.school_id
    messages.success(request, f"You are now working in {record.school.name}.")
    return redirect("home")


def not_found(request, exception):
    """The page for a 404. It gives our own sentence when the view raised one ("This is not one
    of your visits today, or it has finished…"), never Django's "No Visit matches the given
    query"; otherwise it does not guess why (a mistyped address, something removed, a finished
    visit, another school's record all look alike, and must: saying which would give away what
    exists)."""
    reason = exception.args[0] if exception is not None and exception.args else ""
    if not isinstance(reason, str) or "matches the given query" in reason:
        reason = ""
    return render(request, "404.html", {"reason": reason}, status=404)
