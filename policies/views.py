from itertools import groupby

from django.shortcuts import render

from people.decorators import require, staff_required
from people.models import ROLE_LABELS
from policy_engine.schema import PURPOSE_CHOICES

SECTIONS = {
    "approval": "Deciding and approving a visit",
    "risk_assessment": "Risk assessment and briefing",
    "staffing": "Who goes",
    "vetting": "Vetting",
    "vehicles": "Vehicles",
    "appointment": "Appointment",
    "hours": "Hours",
    "doorstep": "On the doorstep",
    "check_in": "Checking in during a visit",
    "escalation": "When a check-in is missed",
    "after": "After the visit",
    "attendance": "Attendance",
    "overrides": "Headteacher overrides",
    "review": "Reviewing the policy",
}
WORDS = {**ROLE_LABELS, **dict(PURPOSE_CHOICES)}


def _word(value):
    if isinstance(value, str):
        return WORDS.get(value, value.replace("_", " "))
    return value


def _step(n, step):
    """One rung of the escalation ladder, in words."""
    parts = [f"Step {n}: tell the " + ", ".join(_word(r).lower() for r in step.get("notify", []))]
    if step.get("acknowledge_within_minutes") is not None:
        parts.append(f"who must acknowledge within {step['acknowledge_within_minutes']} minutes")
    if step.get("ring"):
        parts.append("ring them by phone (press 1 to take it on)")
    if step.get("call_police"):
        parts.append("call the police")
    text = "; ".join(parts)
    return f"{text} ({step['clause']})" if step.get("clause") else text


def _display(value):
    """(text, items): a rule's value for people, not programmers."""
    if value is None:
        return "Not set", None
    if value is True:
        return "Yes", None
    if value is False:
        return "No", None
    if isinstance(value, (list, tuple)):
        if not value:
            return "None", None
        if all(isinstance(v, dict) for v in value):
            return None, [_step(i, v) for i, v in enumerate(value, 1)]
        return None, [str(_word(v)) for v in value]
    if isinstance(value, dict):
        return None, [f"{_word(k)}: {_word(v)}" for k, v in value.items()]
    return str(_word(value)), None


@staff_required
def show(request):
    me = request.staff
    require(me, "policy.view")
    version = me.school.current_policy()
    ctx = {"nav": "policy", "version": version, "policy": None, "sections": [], "error": None}
    if version is not None:
        try:
            policy = version.load()
        except ValueError as exc:  # engine.PolicyError names the file, the key and what was expected
            ctx["error"] = str(exc)
        else:
            rules = []
            for rule in policy.rules():
                text, items = _display(rule["value"])
                rules.append({**rule, "text": text, "items": items, "silent": rule["clause"] == "default"})
            ctx["policy"] = policy
            ctx["rules"] = rules
            ctx["silent"] = sum(1 for r in rules if r["silent"])
            section = lambda r: r["key"].split(".")[0]  # noqa: E731
            ctx["sections"] = [
                {"key": key, "title": SECTIONS.get(key, key.replace("_", " ").capitalize()), "rules": list(group)}
                for key, group in groupby(rules, key=section)
            ]
    return render(request, "policies/show.html", ctx)
