"""Where a policy is silent on something the reference policies decide, and how values read
aloud (shared by `doorstep policy show` and `doorstep policy gaps`)."""
from __future__ import annotations

from typing import Any

from .schema import KEY_INDEX, KEYS, PRESETS, PURPOSE_LABELS, ROLE_LABELS, PURPOSES, Policy


def describe(key: str, value: Any) -> str:
    """A resolved value as a headteacher would read it."""
    spec = KEY_INDEX[key]
    if spec.kind == "ladder":
        steps = []
        for step in value:
            who = " and ".join(ROLE_LABELS.get(r, r) for r in step["notify"])
            text = f"{who}{' (rung by phone)' if step.get('ring') else ''}{' (told to call the police)' if step['call_police'] else ''}"
            if step["acknowledge_within_minutes"] is not None:
                text += f", {step['acknowledge_within_minutes']} min to acknowledge"
            steps.append(f"{text} [{step['clause']}]")
        return " → ".join(steps)
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        unit = {"minutes": f"{value} min", "percent": f"{value} %", "months": f"{value} months",
                "people": f"{value}"}.get(spec.unit, str(value))
        if key == "check_in.interval_minutes":
            return f"every {value} min"
        return unit
    if isinstance(value, list):
        if not value:
            return "none"
        if spec.choices and set(spec.choices) == set(PURPOSES) and set(value) == set(PURPOSES):
            return "any purpose"
        labels = ROLE_LABELS if spec.what == "roles" else PURPOSE_LABELS if spec.what == "visit purposes" else {}
        return ", ".join(labels.get(v, v.replace("_", " ")) for v in value)
    if isinstance(value, str) and spec.kind in ("enum", "role"):
        return ROLE_LABELS.get(value, value.replace("_", " ")) if spec.kind == "role" else value.replace("_", " ")
    return str(value)


def find_gaps(policy: Policy, references: list[Policy] | None = None) -> list[dict[str, Any]]:
    """[{"key", "description", "default", "references": [{"policy", "school", "value", "clause"}]}] for every
    key this policy leaves to Doorstep's default while at least one reference policy decides it."""
    if references is None:
        references = [Policy.preset(name) for name in PRESETS]
    references = [r for r in references if r.name != policy.name]
    gaps = []
    for key in KEYS:
        if not policy.is_default(key.dotted):
            continue
        decided = [
            {"policy": r.name, "school": r.short_name, "value": r.value(key.dotted), "clause": r.clause(key.dotted),
             "reads": describe(key.dotted, r.value(key.dotted))}
            for r in references if not r.is_default(key.dotted)
        ]
        if decided:
            gaps.append({"key": key.dotted, "description": key.description, "default": policy.value(key.dotted),
                         "default_reads": describe(key.dotted, policy.value(key.dotted)), "references": decided})
    return gaps


def gaps_text(policy: Policy, gaps: list[dict[str, Any]]) -> str:
    if not gaps:
        return f"{policy.label} decides everything the reference policies decide. No gaps.\n"
    lines = [
        f"{policy.label} ({policy.source}) is silent on {len(gaps)} point{'s' if len(gaps) != 1 else ''} "
        "that the reference policies decide.",
        "Doorstep applies its default to each (findings cite \"default\"); decide them in your policy "
        "before an incident tests them.",
        "",
    ]
    for gap in gaps:
        lines.append(f"{gap['key']}: {gap['description']}")
        lines.append(f"    Doorstep's default: {gap['default_reads']}")
        for ref in gap["references"]:
            lines.append(f"    {ref['school']}: {ref['reads']} ({ref['clause']})")
        lines.append("")
    return "\n".join(lines)
