"""The policy page's editor: a draft of the school's own policy, changed setting by setting or
uploaded as a TOML file, compared and tried on the visits ahead, then published
(policies.drafts, visits.policy_change; docs/policy-format.md, "Changing the policy on the
policy page"). Here, above policies, because trying a draft and re-checking approved visits
read visits."""
from __future__ import annotations

from itertools import groupby
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import NoPolicy
from people.decorators import StaffRequest, require, staff_required
from policies import drafts
from policies.views import SECTIONS
from policy_engine import PRESETS, Policy
from policy_engine.schema import LADDER_ROLES, META_KEYS, PURPOSE_CHOICES, ROLE_LABELS, Key

from . import policy_change
from .policy_draft_forms import TryPlanForm

PURPOSE_WORDS = dict(PURPOSE_CHOICES)
META_LABELS = {
    "name": "Short name for files (lowercase letters, digits, hyphens)", "school": "School", "short_name": "Name in messages",
    "version": "Your version (for example 2026-01)", "document": "Title of your written policy",
    "published": "Published (YYYY-MM)", "clause_prefix": "Clause prefix (every clause starts with it, optional)",
}


def _label(key: Key, choice: str) -> str:
    if key.kind == "role" or key.what == "roles":
        return ROLE_LABELS.get(choice, choice).capitalize()
    if key.what == "visit purposes":
        return PURPOSE_WORDS.get(choice, choice)
    return choice.replace("_", " ").capitalize()


def _editor_sections(text: str, errors: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for s in drafts.settings_of(text):
        key = s.key
        silent = not s.clause
        value = key.default if silent and key.kind != "ladder" else s.value
        row: dict[str, Any] = {
            "name": key.dotted, "description": drafts.plain(key.description), "kind": key.kind, "clause": s.clause, "note": s.note,
            "silent": silent, "error": errors.get(key.dotted, ""), "nullable": key.nullable,
            "value": "" if value is None else ("yes" if value is True else "no" if value is False else value),
            "choices": [(c, _label(key, c)) for c in key.choices],
            "expected": key.expected(),
        }
        if key.kind == "ladder":
            steps = list(s.value) if isinstance(s.value, list) and not silent else list(key.default)
            steps.append({"notify": [], "acknowledge_within_minutes": None, "call_police": False, "ring": False, "clause": ""})
            row["steps"] = [{**step, "n": i} for i, step in enumerate(steps) if isinstance(step, dict)]
            row["roles"] = [(r, ROLE_LABELS.get(r, r).capitalize()) for r in LADDER_ROLES]
        rows.append(row)
    return [{"key": k, "title": SECTIONS.get(k, k), "settings": list(g)} for k, g in groupby(rows, key=lambda r: r["name"].split(".")[0])]


def _problems_by_key(problems: list[drafts.Problem]) -> tuple[dict[str, str], list[str]]:
    by_key: dict[str, str] = {}
    general = []
    for p in problems:
        if p.key:
            by_key[p.key] = (by_key[p.key] + " " if p.key in by_key else "") + p.message
        else:
            general.append(str(p))
    return by_key, general


def _editor(request: StaffRequest, text: str, draft: Any, errors: dict[str, str] | None = None,
            general: list[str] | None = None, status: int = 200) -> HttpResponse:
    errors = errors or {}
    data = drafts.raw_data(text)
    meta = [{"name": n, "label": META_LABELS[n], "value": data.get("policy", {}).get(n, ""), "error": errors.get(f"policy.{n}", "")}
            for n in META_KEYS]
    ctx = {"nav": "policy", "draft": draft, "sections": _editor_sections(text, errors), "meta": meta,
           "general": general or [], "has_errors": bool(errors or general), "presets": PRESETS,
           "current": request.staff.school.current_policy()}
    return render(request, "visits/policy_draft.html", ctx, status=status)


@staff_required
def editor(request: StaffRequest) -> HttpResponse:
    """The draft as a form; POST saves it when the engine accepts it, else shows each error by its setting."""
    me = request.staff
    require(me, "policy.change")
    draft = me.school.policy_draft if hasattr(me.school, "policy_draft") else None
    if draft is None:
        return _editor(request, "", None)
    if request.method != "POST":
        _, problems = drafts.check(draft.toml_text)
        by_key, general = _problems_by_key(problems)
        return _editor(request, draft.toml_text, draft, by_key, general)
    text, form_errors = drafts.text_from_form(request.POST, me.school, draft.started_from)
    _, problems = drafts.check(text)
    by_key, general = _problems_by_key(problems)
    by_key.update(form_errors)
    if by_key or general:
        return _editor(request, text, draft, by_key, general, status=400)
    try:
        drafts.save_draft(me, me.school, text, how="the form", request=request)
    except ValidationError as exc:
        return _editor(request, text, draft, {}, exc.messages, status=400)
    messages.success(request, "Draft saved. Check what changes, see how the visits ahead fare under it, then publish it.")
    return redirect("policy_draft:review")


@staff_required
@require_POST
def start(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "policy.change")
    try:
        draft = drafts.start_draft(me, me.school, request.POST.get("source", ""), request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except NoPolicy as exc:  # starting from a current version the school does not have
        messages.error(request, exc.message)
    else:
        messages.success(request, f"A new draft started from {draft.started_from}.")
    return redirect("policy_draft:editor")


@staff_required
@require_POST
def upload(request: StaffRequest) -> HttpResponse:
    """A TOML file replaces the draft, all or nothing: every error named by line and setting."""
    me = request.staff
    require(me, "policy.change")
    uploaded = request.FILES.get("file")
    if uploaded is None:
        messages.error(request, "Choose a policy file (.toml) to upload.")
        return redirect("policy_draft:editor")
    try:
        text = uploaded.read().decode("utf-8")
    except UnicodeDecodeError:
        messages.error(request, f"{uploaded.name}: not a text file (a policy file is UTF-8 TOML). Nothing changed.")
        return redirect("policy_draft:editor")
    _, problems = drafts.check(text, source=uploaded.name or "the file")
    if problems:
        ctx = {"nav": "policy", "name": uploaded.name, "problems": problems}
        return render(request, "visits/policy_upload_refused.html", ctx, status=400)
    if not hasattr(me.school, "policy_draft"):
        drafts.start_draft(me, me.school, "current" if me.school.current_policy() else PRESETS[0], request=request)
    drafts.save_draft(me, me.school, text, how=f"uploaded {uploaded.name or 'a file'}", request=request)
    messages.success(request, f"{uploaded.name} is now the draft. Review it, then publish it.")
    return redirect("policy_draft:review")


@staff_required
def review(request: StaffRequest) -> HttpResponse:
    """What changed since the current version, where the draft is silent, how the visits ahead
    fare under it, and the publish form."""
    me = request.staff
    require(me, "policy.change")
    ctx = _review(me)
    if ctx is None:
        return redirect("policy_draft:editor")
    return render(request, "visits/policy_review.html", ctx)


def _review(me: Any) -> dict[str, Any] | None:
    draft, policy, problems = drafts.publish_check(me.school)
    if draft is None:
        return None
    current = me.school.current_policy()
    ctx: dict[str, Any] = {"nav": "policy", "draft": draft, "problems": problems, "current": current}
    if policy is not None:
        old: Policy | None = current.load() if current is not None else None
        ctx["changes"] = drafts.diff(old, policy)
        ctx["gaps"] = drafts.gaps(policy)
        ctx["tried"] = policy_change.try_policy(me.school, policy)
        ctx["try_form"] = TryPlanForm(school=me.school)
    return ctx


@staff_required
@require_POST
def try_plan(request: StaffRequest) -> HttpResponse:
    """htmx: an example plan typed on the review page, judged by the current version and by
    the draft, side by side. Nothing is written."""
    me = request.staff
    require(me, "policy.change")
    draft, policy, _problems = drafts.publish_check(me.school)
    form = TryPlanForm(request.POST, school=me.school)
    ctx: dict[str, Any] = {"try_form": form}
    if policy is None:
        ctx["problems"] = ["The draft has errors to put right before a plan can be tried on it."]
    elif form.is_valid():
        ctx["result"] = policy_change.try_plan(me, policy, **form.plan())
    else:
        errors = form.errors.as_data()
        ctx["missing"] = [form.fields[n].label or n.replace("_", " ").capitalize() for n, errs in errors.items()
                          if n in form.fields and any(e.code == "required" for e in errs)]
        ctx["problems"] = [(f"{form.fields[n].label or n.capitalize()}: " if n in form.fields else "") + m
                           for n, errs in errors.items() for e in errs if e.code != "required" for m in e.messages]
    if request.headers.get("HX-Request"):
        return render(request, "visits/_policy_try_plan.html", ctx)
    # Without JavaScript the form is posted: the review page again, with the verdicts under it.
    page = _review(me)
    if page is None:
        return redirect("policy_draft:editor")
    return render(request, "visits/policy_review.html", {**page, **ctx, "tried_plan": True})


@staff_required
@require_POST
def publish(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "policy.change")
    try:
        version, blocked = policy_change.publish(me, me.school, request.POST.get("reason", ""), request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("policy_draft:review")
    text = f"Version {version.version} of the policy is published: new proposals are checked against it."
    if blocked:
        text += (f" {len(blocked)} visit(s) already approved would not be allowed under it; the headteacher has been told, "
                 "with a link to each.")
    messages.success(request, text)
    return redirect("policies:show")
