"""Visit pages. Thin by design: every state change is a call into visits.services, which
runs the policy engine, refuses with findings and writes the audit trail. `can` decides
which buttons a person sees; the services decide again when the button is pressed."""
from types import SimpleNamespace
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms import Form
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.actions import Action
from audit.services import history, record_read_today
from core.errors import NoPolicy
from core.forms import errors_onto
from policies.services import policy_for, recorded_policy_version
from schools import calendar
from people.permissions import can
from people.decorators import require, safe_next, staff_required
from attendance.models import AttendanceMark
from attendance.models import summaries as attendance_summaries
from people.models import ROLE_LABELS
from policy_engine import RULES, cite

from . import fixes, gates, services
from .forms import (
    ApproveForm, ChangeAppointmentForm, EditPlanForm, OverrideForm, ProposeVisitForm, ReasonForm, ScheduleForm,
    VisitListForm,
)
from .models import Visit, VisitList

CLOSED_STATES = [Visit.State.DECLINED, Visit.State.WITHDRAWN, Visit.State.CANCELLED, *Visit.ENDED_STATES]

# Which stage of the policy a visit is checked against, by its state: a proposal is
# checked for approval, an approved visit for scheduling.
STAGE_FOR_STATE = {Visit.State.PROPOSED: "approve"}
STAGE_LABELS = {"approve": "for approval", "schedule": "for the visit to go ahead"}


def _visits(staff):
    return (
        Visit.objects.filter(school=staff.school)
        .select_related("pupil", "proposed_by", "approved_by", "responsible_contact", "visit_list", "policy_version")
        .prefetch_related("assignments__staff__roles")
    )


def _get_visit(request, pk):
    visit = get_object_or_404(_visits(request.staff), pk=pk)
    require(request.staff, "visit.view", visit)
    return visit


# The finding that a proposal has no approval yet: at the approval stage it is what the
# approver is about to give (visits.services adds the approval before it asks the engine).
APPROVAL_RULE = "approval.approver"


def _evaluate(visit, stage=None):
    """The engine's Evaluation, or None when the school has no policy to check against yet."""
    stage = stage or STAGE_FOR_STATE.get(visit.state, "schedule")
    try:
        evaluation = services.evaluate_visit(visit, stage=stage)
    except NoPolicy:
        return None
    return _as_if_approved(evaluation) if stage == "approve" else evaluation


def _as_if_approved(evaluation):
    findings = [f for f in evaluation.findings if f.rule != APPROVAL_RULE]
    return SimpleNamespace(
        policy=evaluation.policy, policy_version=evaluation.policy_version, findings=findings,
        allowed=not any(f.severity == "block" for f in findings),
    )


# Service field names that the forms spell differently.
FIELD_ALIASES = {"starts_at": "date", "ends_at": "end_time", "reason": "reason"}


# ---------------------------------------------------------------- lists of visits

@staff_required
def index(request):
    me = request.staff
    require(me, "visit.view")
    state = request.GET.get("state", "")
    visits = _visits(me)
    if state in Visit.State.values:
        visits = visits.filter(state=state)
        closed = None
    else:
        state = ""
        closed = visits.filter(state__in=CLOSED_STATES).order_by("-starts_at")[:30]
        visits = visits.exclude(state__in=CLOSED_STATES)
    return render(request, "visits/index.html", {
        "nav": "visits", "visits": visits, "closed": closed, "state": state, "states": Visit.State.choices,
        "state_label": Visit.State(state).label if state else "",
        "may_propose": can(me, "visit.propose"),
    })


@staff_required
def approvals(request):
    me = request.staff
    require(me, "visit.approve")
    proposed = list(_visits(me).filter(state=Visit.State.PROPOSED).order_by("starts_at"))
    # A proposal is judged by the school's current policy (policies.services.policy_version_for),
    # so it is read once for the page, as are the facts about every proposal's people and pupil.
    current = me.school.current_policy()
    policy = current.load() if current is not None else None
    facts = services.PlanFacts.gather(proposed)
    lone_possible = _lone_visits_possible(me.school, current)
    who_approves = services.not_an_approver(me, policy) if policy is not None else ""
    items = []
    for v in proposed:
        v.school = me.school
        evaluation = None if policy is None else _as_if_approved(
            services.evaluate_visit(v, stage="approve", policy=policy, facts=facts))
        verdict = fixes.ways_out(evaluation, v, me, overridable=_overridable_rules(v, current),
                                 lone_possible=lone_possible)
        authorised = any(o.rule == services.LONE_VISIT_RULE for o in facts.overrides.get(v.pk, []))
        items.append({"visit": v, "evaluation": verdict,
                      "lone": lone_possible and len(facts.people.get(v.pk, [])) == 1 and not authorised,
                      "may_approve": bool(verdict and verdict.allowed) and not who_approves})
    return render(request, "visits/approvals.html", {
        "nav": "approvals", "items": items, "who_approves": who_approves,
        "may_decline": can(me, "visit.decline"), "may_override": can(me, "visit.override"),
        "here": reverse("visits:approvals"),
    })


# ---------------------------------------------------------------- proposing

@staff_required
def propose(request):
    me = request.staff
    require(me, "visit.propose")
    missing = gates.missing_before_proposing(me.school)
    if missing:
        # The school's set-up is not safe yet: say exactly what is missing, with where to do it.
        return render(request, "visits/propose_not_ready.html", {"nav": "visits", "missing": missing},
                      status=409 if request.method == "POST" else 200)
    if request.method == "POST":
        form = ProposeVisitForm(request.POST, school=me.school)
        if form.is_valid():
            try:
                visit = services.propose(me, request=request, **_plan(form, me))
            except services.Refused as refused:
                form.add_error(None, refused.message)
            except ValidationError as exc:
                errors_onto(form, exc, FIELD_ALIASES)
            else:
                messages.success(request, _waits_for(visit))
                return redirect("visits:detail", visit.pk)
        status = 400
    else:
        initial = {}
        if request.GET.get("pupil", "").isdigit():
            initial["pupil"] = request.GET["pupil"]
        if me.has_role("attendance_officer", "teacher", "family_support", "dsl"):
            initial["staff"] = [me.pk]
        form = ProposeVisitForm(initial=initial, school=me.school)
        status = 200
    return render(request, "visits/propose.html", {"nav": "visits", "form": form}, status=status)


def _waits_for(visit) -> str:
    """What a proposal waits for now: the approver, or first the things the policy blocks on."""
    evaluation = _evaluate(visit, "approve")
    if evaluation is None:
        return "Visit proposed. It cannot be approved until the school's home-visit policy is loaded."
    if evaluation.allowed:
        approvers = [ROLE_LABELS.get(r, r).lower() for r in policy_for(visit).approval.approver_roles.value]
        return f"Visit proposed. It now waits for approval by the {' or '.join(approvers)}."
    waits = [RULES[f.rule][1] if f.rule in RULES else f.message for f in evaluation.findings if f.severity == "block"]
    return ("Visit proposed, but the policy blocks it, so it cannot be approved until "
            + ("this is put right: " if len(waits) == 1 else f"these {len(waits)} things are put right: ")
            + "; ".join(waits) + ". Each is listed below with where to put it right.")


@staff_required
@require_POST
def propose_check(request):
    """htmx: what the policy says about the plan as it stands, without saving it.
    The plan is proposed through the services inside a transaction that is rolled back,
    so the preview is exactly what the real proposal would be told."""
    me = request.staff
    require(me, "visit.propose")
    form = ProposeVisitForm(request.POST, school=me.school)
    ctx: dict[str, Any] = {"form": form}
    if form.is_valid():
        # Not a policy rule (none of the policies speaks of holidays), but worth saying: the
        # family may be away, and the office that watches the visit may be shut.
        ctx["closure"] = calendar.closure_on(me.school, timezone.localtime(form.service_kwargs()["starts_at"]).date())
        try:
            with transaction.atomic():
                visit = services.propose(me, **_plan(form, me))
                ctx["evaluation"] = _as_if_approved(services.evaluate_visit(visit, stage="approve"))
                transaction.set_rollback(True)
        except services.Refused as refused:
            ctx["evaluation"] = refused
        except gates.NotReadyToPropose as exc:
            ctx["problems"] = [m.what for m in exc.missing]
        except NoPolicy as exc:
            ctx["problems"] = [exc.message]
        except ValidationError as exc:
            ctx["problems"] = exc.messages
    else:
        ctx["missing"] = [form.fields[name].label or name.replace("_", " ").capitalize() for name in form.errors if name in form.fields]
        ctx["problems"] = form.non_field_errors()
    return render(request, "visits/_plan_findings.html", ctx)


def _get_proposal_to_edit(request, pk):
    visit = _get_visit(request, pk)
    require(request.staff, "visit.edit", visit)
    return visit


@staff_required
def edit(request, pk):
    """Change the plan of a proposal: a blocked proposal is put right here, not withdrawn and
    proposed again. The live check runs on the changed plan as it would be saved, with the
    headteacher's decisions that still apply to it."""
    me = request.staff
    visit = _get_proposal_to_edit(request, pk)
    if visit.state != Visit.State.PROPOSED:
        messages.error(request, f"This visit is {visit.get_state_display().lower()}, so its plan cannot be changed; "
                                "only a proposal waiting for approval can be.")
        return redirect("visits:detail", visit.pk)
    if request.method == "POST":
        form = EditPlanForm(request.POST, school=me.school, visit=visit)
        if form.is_valid():
            try:
                services.change_plan(me, visit, request=request, **_plan(form, me))
            except services.NotAllowed as refusal:
                form.add_error(None, refusal.message)
            except ValidationError as exc:
                errors_onto(form, exc, FIELD_ALIASES)
            else:
                messages.success(request, "Plan changed. " + _waits_for(visit).removeprefix("Visit proposed").lstrip(". ,").capitalize())
                return redirect("visits:detail", visit.pk)
        status = 400
    else:
        form = EditPlanForm(school=me.school, visit=visit)
        status = 200
    return render(request, "visits/edit.html", {"nav": "visits", "form": form, "visit": visit}, status=status)


@staff_required
@require_POST
def edit_check(request, pk):
    """htmx: what the policy would say about the changed plan, without saving it (the change is
    made through the services inside a transaction that is rolled back)."""
    me = request.staff
    visit = _get_proposal_to_edit(request, pk)
    form = EditPlanForm(request.POST, school=me.school, visit=visit)
    ctx: dict[str, Any] = {"form": form}
    if form.is_valid():
        ctx["closure"] = calendar.closure_on(me.school, timezone.localtime(form.service_kwargs()["starts_at"]).date())
        try:
            with transaction.atomic():
                try:
                    services.change_plan(me, visit, **_plan(form, me))
                except ValidationError as exc:
                    # An unchanged plan is checked as it stands.
                    if getattr(exc, "code", None) != "unchanged":
                        raise
                changed = Visit.objects.get(pk=visit.pk)
                ctx["evaluation"] = _as_if_approved(services.evaluate_visit(changed, stage="approve"))
                transaction.set_rollback(True)
        except services.NotAllowed as refusal:
            ctx["problems"] = [refusal.message]
        except NoPolicy as exc:
            ctx["problems"] = [exc.message]
        except ValidationError as exc:
            ctx["problems"] = exc.messages
    else:
        ctx["missing"] = [form.fields[name].label or name.replace("_", " ").capitalize() for name in form.errors if name in form.fields]
        ctx["problems"] = form.non_field_errors()
    return render(request, "visits/_plan_findings.html", ctx)


# ---------------------------------------------------------------- one visit

def _who_approves(me, visit) -> str:
    """Why this person may not approve the proposal under the school's policy ("" if they may).
    Someone whose role never approves (a DSL, the visiting staff) is told who does: otherwise a
    proposal that nothing blocks read as if it waited for nobody."""
    current = visit.school.current_policy()
    if visit.state != Visit.State.PROPOSED or current is None:
        return ""
    if not can(me, "visit.approve", visit):
        return services.approvers_sentence(current.load())
    return services.not_an_approver(me, current.load())


def _action_forms(me, visit, bound=None, evaluation=None, who_approves=""):
    """The forms for the actions this person may take on this visit now, keyed by action. No
    "Approve" while the policy blocks the visit, nor for someone the policy does not name as an
    approver: the page says what must be resolved, or who approves, instead."""
    forms: dict[str, Form] = {}
    state = visit.state
    if state == Visit.State.PROPOSED:
        if can(me, "visit.approve", visit) and evaluation is not None and evaluation.allowed and not who_approves:
            forms["approve"] = ApproveForm(prefix="approve")
        if can(me, "visit.decline", visit):
            forms["decline"] = ReasonForm(prefix="decline", label="Why are you declining this visit?")
    if state in (Visit.State.PROPOSED, Visit.State.APPROVED) and can(me, "visit.override", visit):
        # Once authorised, there is nothing left to authorise (a second press is refused).
        if visit.assignments.count() == 1 and _lone_visits_possible(visit.school) and \
                not visit.overrides.filter(rule=services.LONE_VISIT_RULE).exists():
            forms["authorise_lone"] = ReasonForm(
                prefix="authorise_lone", label="Why is a lone visit safe and appropriate here?",
            )
        forms["override"] = OverrideForm(prefix="override", rules=[], label="Why are you overriding this rule?")
    if state == Visit.State.APPROVED and can(me, "visit.schedule", visit):
        forms["schedule"] = ScheduleForm(prefix="schedule", visit=visit)
    if state in (Visit.State.PROPOSED, Visit.State.APPROVED) and can(me, "visit.withdraw", visit):
        forms["withdraw"] = ReasonForm(prefix="withdraw", label="Why is this visit being withdrawn?")
    if state == Visit.State.SCHEDULED and can(me, "visit.schedule", visit):
        forms["change_appointment"] = ChangeAppointmentForm(prefix="change_appointment", visit=visit)
    if state in (Visit.State.APPROVED, Visit.State.SCHEDULED) and can(me, "visit.cancel", visit):
        forms["cancel"] = ReasonForm(
            prefix="cancel", label="Why is this visit being cancelled?",
            help_text="The headteacher receives this written reason.",
        )
    if bound is not None:
        forms[bound[0]] = bound[1]
    return forms


def _history(visit, me):
    """The visit's audit entries, with what staff wrote at the door (an "any concerns?" answer,
    why a visit was abandoned) kept to those who read concerns and to whoever wrote it: the
    office, the business manager and other teachers see that something was recorded, not what."""
    # What happened to the visit; who opened its pages is on the audit trail, not here.
    reads = ["visit.viewed", "visit.briefing_viewed", "visit.reason_printed"]
    entries = list(history(visit).filter(school=visit.school_id).exclude(action__in=reads))
    may_read = can(me, "concern.view")
    for entry in entries:
        private = entry.data.get("private_reason") and not may_read and entry.actor_id != me.user_id
        entry.shown_reason = "" if private else entry.reason
        entry.reason_withheld = bool(private and entry.reason)
    return entries


def _closed_reason(visit, me) -> str:
    """An abandoned visit's reason is '<category>: <what staff wrote>' (from the moment staff
    leave the home, while the visit is still under way until they are back safe); the words are
    for those who read concerns and the staff who were there, the category for everyone."""
    reason = visit.closed_reason or ""
    if visit.state not in (Visit.State.ABANDONED, Visit.State.UNDER_WAY) or can(me, "concern.view") or \
            visit.assignments.filter(staff=me).exists():
        return reason
    return reason.split(": ", 1)[0]


def _plan(form, me):
    """The service arguments for a proposal; whoever proposes leads the visit if they are going."""
    kwargs = form.service_kwargs()
    kwargs["staff"].sort(key=lambda s: s.pk != me.pk)
    return kwargs


def _overridable_rules(visit, current=None):
    """The rules the visit's policy lets a headteacher override (overrides.rules). `current`: the
    school's current version, when the caller has read it already."""
    version = (visit.policy_version if visit.policy_version_id else current) if current else recorded_policy_version(visit)
    if version is None:
        return set()
    try:
        return set(version.load().overrides.rules.value)
    except ValueError:  # a stored version that no longer parses (PolicyError)
        return set()


def _lone_visits_possible(school, current=None):
    """False where the school's policy never allows a lone visit (so there is nothing to authorise).
    `current`: the school's current version, when the caller has read it already."""
    version = current or school.current_policy()
    if version is None:
        return False
    try:
        return version.load().staffing.lone_visit.value != "never"
    except ValueError:  # a stored version that no longer parses (PolicyError)
        return True


REPORT_STATES = {Visit.State.COMPLETED, Visit.State.NOT_SEEN, Visit.State.ABANDONED}
CARD_STATES = {Visit.State.SCHEDULED, Visit.State.UNDER_WAY, Visit.State.NOT_SEEN}
REASON_STATES = {Visit.State.ABANDONED, Visit.State.CANCELLED}
PAPERWORK_STATES = REPORT_STATES | CARD_STATES | REASON_STATES


# Where a refusal is shown on the form that was refused: the field at fault, by rule.
REFUSAL_FIELDS = {
    "schedule": {"appointment.agreed": "appointment_agreed", "appointment.written_confirmation": "written_confirmation"},
    "change_appointment": {"hours.outside_school_hours": "date", "hours.evening": "end_time"},
}


def _refusal_onto(action, form, refused) -> set[str]:
    """Put each blocking finding of a refusal on the form that was refused, on the field at fault
    where there is one (marked aria-invalid, with the message next to it). The rules put there,
    so the policy panel does not say them a second time."""
    fields = REFUSAL_FIELDS.get(action, {})
    for f in refused.blocking:
        text = f"{f.message} ({cite(f.clause)})"
        field = fields.get(f.rule)
        form.add_error(field if field in form.fields else None, text)
    return {f.rule for f in refused.blocking}


def _render_detail(request, visit, bound=None, refusal=None, status=200, shown_at_form=frozenset()):
    me = request.staff
    evaluation = _evaluate(visit)
    who_approves = _who_approves(me, visit)
    forms = _action_forms(me, visit, bound, evaluation, who_approves)
    overridable = _overridable_rules(visit)
    if "override" in forms:
        rules = [(f.rule, f"{f.message} ({cite(f.clause)})") for f in (evaluation.findings if evaluation else [])
                 if f.severity == "block" and f.rule in overridable]
        if refusal is not None:
            rules += [(f.rule, f"{f.message} ({cite(f.clause)})") for f in getattr(refusal, "findings", []) or []
                      if f.severity == "block" and f.rule in overridable and f.rule not in dict(rules)]
        if rules:
            forms["override"].fields["rule"].choices = [("", "Choose the rule")] + rules
        else:
            del forms["override"]
    verdict = fixes.ways_out(evaluation, visit, me, overridable=overridable if "override" in forms else frozenset(),
                             lone_possible="authorise_lone" in forms or _lone_visits_possible(visit.school))
    if verdict is not None and shown_at_form:
        verdict.findings = [f for f in verdict.findings if f.rule not in shown_at_form]
    open_action = request.GET.get("do", "")
    return render(request, "visits/detail.html", {
        "nav": "visits", "visit": visit, "evaluation": verdict, "shown_at_form": bool(shown_at_form),
        "may_edit": visit.state == Visit.State.PROPOSED and can(me, "visit.edit", visit),
        "approve_blocked": visit.state == Visit.State.PROPOSED and can(me, "visit.approve", visit) and "approve" not in forms
        and not who_approves,
        "who_approves": who_approves,
        "open_action": open_action if open_action in forms else "",
        "overrides": [(o, services.rule_name(o.rule)) for o in visit.overrides.select_related("by")],
        "stage_label": STAGE_LABELS.get(STAGE_FOR_STATE.get(visit.state, "schedule")),
        # A closed visit is not checked again: "the policy allows this" would read as if it
        # were still to happen.
        "closed": visit.state in CLOSED_STATES, "went_ahead": visit.state in Visit.ENDED_STATES,
        "forms": forms, "refusal": refusal, "history": _history(visit, me), "closed_reason": _closed_reason(visit, me),
        "assignments": visit.assignments.all(),
        # What happened on the day, and the paperwork that follows from the visit's state.
        "events": visit.events.select_related("staff", "recorded_by"),
        "paperwork_states": PAPERWORK_STATES, "report_states": REPORT_STATES,
        "card_states": CARD_STATES, "reason_states": REASON_STATES,
    }, status=status)


@staff_required
def detail(request, pk):
    visit = _get_visit(request, pk)
    # Read here, not in _render_detail: a refused action re-renders the page, and that is not a new read.
    record_read_today(request, visit, "a visit (the home address and who is going)", action=Action.VISIT_VIEWED)
    return _render_detail(request, visit)


# action name -> (permission, form factory, service call, success message)
ACTIONS = {
    "approve": (
        "visit.approve",
        lambda visit, data: ApproveForm(data, prefix="approve"),
        lambda me, visit, d, request: services.approve(me, visit, note=d["note"], request=request),
        "Visit approved.",
    ),
    "decline": (
        "visit.decline",
        lambda visit, data: ReasonForm(data, prefix="decline", label="Why are you declining this visit?"),
        lambda me, visit, d, request: services.decline(me, visit, reason=d["reason"], request=request),
        "Visit declined. The reason is recorded in its history.",
    ),
    "authorise_lone": (
        "visit.override",
        lambda visit, data: ReasonForm(data, prefix="authorise_lone", label="Why is a lone visit safe and appropriate here?"),
        lambda me, visit, d, request: services.authorise_lone_visit(me, visit, reason=d["reason"], request=request),
        "Lone visit authorised. Your reason is recorded in the visit's history.",
    ),
    "override": (
        "visit.override",
        None,  # built in visit_action: its choices are the visit's blocking findings
        lambda me, visit, d, request: services.override(me, visit, rule=d["rule"], reason=d["reason"], request=request),
        "Override recorded with your reason.",
    ),
    "schedule": (
        "visit.schedule",
        lambda visit, data: ScheduleForm(data, prefix="schedule", visit=visit),
        lambda me, visit, d, request: services.schedule(
            me, visit, appointment_agreed=d["appointment_agreed"], written_confirmation=d["written_confirmation"],
            agreed_with=d["agreed_with"], notes=d["notes"], request=request,
        ),
        "Appointment recorded. The visit is scheduled.",
    ),
    "withdraw": (
        "visit.withdraw",
        lambda visit, data: ReasonForm(data, prefix="withdraw", label="Why is this visit being withdrawn?"),
        lambda me, visit, d, request: services.withdraw(me, visit, reason=d["reason"], request=request),
        "Visit withdrawn.",
    ),
    "change_appointment": (
        "visit.schedule",
        lambda visit, data: ChangeAppointmentForm(data, prefix="change_appointment", visit=visit),
        lambda me, visit, d, request: services.change_appointment(
            me, visit, starts_at=d.get("starts_at"), ends_at=d.get("ends_at"), reason=d["reason"], request=request),
        "Appointment moved. The people your policy names have been told.",
    ),
    "cancel": (
        "visit.cancel",
        lambda visit, data: ReasonForm(data, prefix="cancel", label="Why is this visit being cancelled?"),
        lambda me, visit, d, request: services.cancel(me, visit, reason=d["reason"], request=request),
        "Visit cancelled. The headteacher has the written reason.",
    ),
}


@staff_required
@require_POST
def visit_action(request, pk, action):
    me = request.staff
    visit = _get_visit(request, pk)
    permission, make_form, call, done = ACTIONS[action]
    not_theirs = services.why_not(me, permission, visit)
    if not_theirs:
        # The button is not offered to them; pressed anyway (a page open from before, another
        # tab), the visit's page says why, rather than a bare "not allowed".
        messages.error(request, not_theirs)
        return _render_detail(request, visit, status=403)
    form: Form
    if action == "override":
        evaluation = _evaluate(visit)
        rules = [(f.rule, f.message) for f in (evaluation.findings if evaluation else []) if f.severity == "block"]
        form = OverrideForm(request.POST, prefix="override", rules=rules, label="Why are you overriding this rule?")
    else:
        assert make_form is not None  # only "override" has none, and it is built above
        form = make_form(visit, request.POST)
    if not form.is_valid():
        return _render_detail(request, visit, bound=(action, form), status=400)
    try:
        call(me, visit, form.cleaned_data, request)
    except services.NotAllowed as refusal:
        # Allowed by role, refused by the policy or the visit's state (already approved by someone else...).
        messages.error(request, refusal.message)
        visit.refresh_from_db()
        return _render_detail(request, visit, status=403)
    except services.Refused as refused:
        # Said once, on the form that was refused, next to what caused it.
        shown = _refusal_onto(action, form, refused)
        visit.refresh_from_db()
        return _render_detail(request, visit, bound=(action, form), refusal=refused, status=409, shown_at_form=shown)
    except ValidationError as exc:
        errors_onto(form, exc, FIELD_ALIASES)
        visit.refresh_from_db()
        return _render_detail(request, visit, bound=(action, form), status=400)
    messages.success(request, done)
    return redirect(safe_next(request, reverse("visits:detail", args=[visit.pk])))


# ---------------------------------------------------------------- visit lists

def _school_year_start(day):
    """1 September of the school year `day` falls in."""
    return day.replace(year=day.year if day.month >= 9 else day.year - 1, month=9, day=1)


@staff_required
def lists(request):
    me = request.staff
    require(me, "visit.view")
    visit_lists = VisitList.objects.filter(school=me.school).select_related("created_by", "signed_by").prefetch_related("visits")
    return render(request, "visits/lists.html", {
        "nav": "lists", "visit_lists": visit_lists, "may_create": can(me, "visitlist.create"),
    })


@staff_required
def list_create(request):
    me = request.staff
    require(me, "visitlist.create")
    if request.method == "POST":
        form = VisitListForm(request.POST, school=me.school)
        if form.is_valid():
            try:
                visit_list = services.create_visit_list(
                    me, title=form.cleaned_data["title"], visits=list(form.cleaned_data["visits"]), request=request,
                )
            except services.Refused as refused:
                form.add_error(None, refused.message)
            except ValidationError as exc:
                errors_onto(form, exc, FIELD_ALIASES)
            else:
                messages.success(request, "Visit list compiled." + (" It waits for the headteacher's signature." if not visit_list.is_signed else ""))
                return redirect("visits:list_detail", visit_list.pk)
        status = 400
    else:
        form = VisitListForm(initial={"title": f"Home visits from {timezone.localdate():%-d %B %Y}"}, school=me.school)
        status = 200
    return render(request, "visits/list_form.html", {"nav": "lists", "form": form}, status=status)


@staff_required
def list_detail(request, pk):
    me = request.staff
    require(me, "visit.view")
    visit_list = get_object_or_404(VisitList.objects.select_related("created_by", "signed_by"), pk=pk, school=me.school)
    visits = visit_list.visits.select_related("pupil").prefetch_related("pupil__contacts", "assignments__staff").order_by("starts_at")
    record_read_today(request, visit_list, "a visit list (addresses and parents' numbers)", action=Action.VISITLIST_VIEWED)
    # C 3.2: the list carries each pupil's attendance record; the school year so far, as the
    # visit report counts it, in one grouped query for the whole list.
    today = timezone.localdate()
    since = _school_year_start(today)
    pupil_ids = {v.pupil_id for v in visits}
    figures = attendance_summaries(AttendanceMark.objects.filter(pupil_id__in=pupil_ids), since, today)
    rows = [(v, figures.get(v.pupil_id)) for v in visits]
    return render(request, "visits/list_detail.html", {
        "nav": "lists", "visit_list": visit_list, "visits": visits, "rows": rows, "attendance_since": since,
        "may_sign": not visit_list.is_signed and can(me, "visitlist.sign", visit_list),
    })


@staff_required
@require_POST
def list_sign(request, pk):
    me = request.staff
    visit_list = get_object_or_404(VisitList, pk=pk, school=me.school)
    require(me, "visitlist.sign", visit_list)
    try:
        services.sign_visit_list(me, visit_list, request=request)
    except services.NotAllowed as refusal:
        messages.error(request, refusal.message)
    except services.Refused as refused:
        messages.error(request, refused.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Visit list signed.")
    return redirect("visits:list_detail", visit_list.pk)
