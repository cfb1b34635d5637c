from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.actions import Action
from audit.services import record, record_read_today
from policies.services import policy_now
from policy_engine.schema import ROLE_LABELS
from pupils.models import Pupil
from people.access import current_staff
from people.permissions import can

from .forms import HazardFormSet, HouseholdNoteForm, RiskAssessmentForm
from .models import RiskAssessment


def _staff_or_403(request, action):
    me = current_staff(request)
    if not can(me, action):
        raise PermissionDenied("Your role does not allow this.")
    return me


def _author_rule(school) -> dict | None:
    """Who the school's policy says writes home-visit risk assessments (C 2.5: business manager;
    P §4¶4: headteacher) as {"role", "label", "clause"}; None where the policy names nobody."""
    policy = policy_now(school)
    if policy is None:
        return None
    author = policy.risk_assessment.author_role
    if author.value is None:
        return None
    return {"role": author.value, "label": ROLE_LABELS[author.value], "clause": author.clause}


def _author_problem(ra: RiskAssessment) -> str:
    """Why a home-visit assessment does not count under the school's policy, or ''."""
    writer = _author_rule(ra.school)
    if writer is None or ra.kind != RiskAssessment.Kind.HOME_VISIT or ra.author.has_role(writer["role"]):
        return ""
    return (f"Written by {ra.author.full_name}, not the {writer['label']}: under {writer['clause']} the "
            f"{writer['label']} writes home-visit risk assessments, so visits to this home cannot be scheduled "
            "on this one.")


def _readable(me, queryset):
    """Home-visit assessments are for everyone who visits homes; a lone-working assessment is
    about a colleague (their health, their car), so only they and those who write assessments
    read it."""
    if can(me, "risk.edit"):
        return queryset
    return queryset.exclude(Q(kind=RiskAssessment.Kind.LONE_WORKING) & ~Q(staff=me))


@login_required
def assessment_list(request):
    me = _staff_or_403(request, "pupil.view")
    assessments = (
        _readable(me, RiskAssessment.objects.filter(school=me.school))
        .select_related("pupil", "staff", "author")
        .prefetch_related("hazards", "pupil__household_notes")
    )
    record_read_today(request, me.school, "the risk assessments (household risks)", action=Action.RISK_LIST_VIEWED)
    return render(request, "risk/list.html", {"assessments": assessments, "can_edit": can(me, "risk.edit")})


@login_required
def assessment_detail(request, pk):
    me = _staff_or_403(request, "pupil.view")
    ra = get_object_or_404(_readable(me, RiskAssessment.objects.select_related("pupil", "staff", "author")),
                           pk=pk, school=me.school)
    record_read_today(request, ra, "a risk assessment", action=Action.RISK_VIEWED)
    return render(request, "risk/detail.html", {"ra": ra, "can_edit": can(me, "risk.edit"), "new_risks": ra.new_risks(),
                                                "author_problem": _author_problem(ra)})


@login_required
def assessment_new(request):
    me = _staff_or_403(request, "risk.edit")
    initial = {"assessed_on": timezone.localdate(), "kind": request.GET.get("kind", "home_visit")}
    if request.GET.get("pupil"):
        initial["pupil"] = request.GET["pupil"]
    writer = _author_rule(me.school)
    form = RiskAssessmentForm(request.POST or None, school=me.school, me=me, writer=writer, initial=initial)
    formset = HazardFormSet(request.POST or None, prefix="hazards")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        with transaction.atomic():
            ra = form.save(commit=False)
            ra.school = me.school
            ra.reviewed_at = timezone.now()
            ra.save()
            formset.instance = ra
            formset.save()
            record(actor=me, school=me.school, action=Action.RISK_CREATE, obj=ra, request=request,
                   summary=f"Recorded a {ra.get_kind_display().lower()} risk assessment written by "
                           f"{ra.author.full_name} ({ra.highest_risk or 'no'} risk)",
                   data={"author": ra.author_id})
        messages.success(request, "Risk assessment saved.")
        return redirect("risk:detail", pk=ra.pk)
    return render(request, "risk/form.html", {"form": form, "formset": formset, "author_rule": writer,
                                              "no_writer": writer is not None and not form.authors.exists()})


@login_required
@require_POST
def assessment_review(request, pk):
    me = _staff_or_403(request, "risk.edit")
    with transaction.atomic():
        ra = get_object_or_404(RiskAssessment.objects.select_for_update(), pk=pk, school=me.school)
        new_risks = [n.text for n in ra.new_risks()]
        ra.mark_reviewed()
        record(actor=me, school=me.school, action=Action.RISK_REVIEW, obj=ra, request=request,
               summary="Reviewed the risk assessment", data={"new_risks_considered": new_risks})
    messages.success(request, "Marked as reviewed: the assessment is current again.")
    return redirect("risk:detail", pk=ra.pk)


@login_required
def household_note_new(request, pupil_pk):
    # A note marked dangerous stops visits to the home being scheduled: it is written by those
    # who keep the risk assessments, as the pupil page's link already offers it only to them.
    me = _staff_or_403(request, "risk.edit")
    pupil = get_object_or_404(Pupil, pk=pupil_pk, school=me.school)
    form = HouseholdNoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            note = form.save(commit=False)
            note.pupil = pupil
            note.recorded_by = request.user
            note.recorded_at = timezone.now()
            note.save()
            record(actor=me, school=me.school, action=Action.HOUSEHOLD_NOTE, obj=note, request=request,
                   summary=f"Recorded a household note ({note.get_kind_display()})")
        if note.is_risk:
            messages.warning(request, "Risk recorded. This home's risk assessment is now out of date until it is reviewed.")
        else:
            messages.success(request, "Note recorded.")
        return redirect("risk:note_new", pupil_pk=pupil.pk) if "another" in request.POST else redirect(_pupil_url(pupil))
    return render(request, "risk/note_form.html", {"form": form, "pupil": pupil})


def _pupil_url(pupil):
    return reverse("pupils:detail", args=[pupil.pk])
