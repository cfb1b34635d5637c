"""A school's own policy, prepared on the policy page: a draft started from a preset or from
the school's current version, changed setting by setting (or replaced by an uploaded TOML
file), compared with the current version and with the reference policies, and published as
a new SchoolPolicy version (docs/policy-format.md, "Changing the policy on the policy page").

A draft is TOML text, the same format `doorstep set_policy` reads, so what the page publishes
is exactly what the command would. It is never used to judge a visit; publishing goes
through policies.services.store_policy, which numbers the version and writes the audit
trail. Re-checking visits already approved against the published version needs the visits
app (above this one): visits.policy_change does it.
"""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed
from people.permissions import can
from policy_engine import KEYS, PRESETS, RULES, Policy, PolicyError
from policy_engine.gaps import describe, find_gaps
from policy_engine.schema import KEY_INDEX, META_KEYS, PRESET_DIR, Key
from schools.models import School

from .models import PolicyDraft, SchoolPolicy
from .services import school_policy, store_policy

if TYPE_CHECKING:
    from people.models import StaffMember

LADDER_FIELDS = ("notify", "acknowledge_within_minutes", "call_police", "ring", "clause")


# ----------------------------------------------------------------------------- reading TOML

def raw_data(text: str) -> dict[str, Any]:
    """The draft's TOML as data, {} if it does not parse (the errors say why)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def line_of(text: str, key: str) -> int | None:
    """The line (from 1) where a dotted key ("check_in.interval_minutes", "policy.name") or a
    section ("check_in") is written in TOML text; None when it is not written there (a key the
    file leaves out)."""
    section, _, name = key.partition(".")
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_-]+)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header.group(1)
            if not name and current == section:
                return number
            continue
        if name and current == section and re.match(rf"{re.escape(name)}\s*=", stripped):
            return number
        if name and not current and re.match(rf"{re.escape(section)}\.{re.escape(name)}\s*=", stripped):
            return number
    return None


@dataclass
class Problem:
    """One reason a draft cannot be published: the key (or "" for the file as a whole), the
    line it is on in the TOML text where known, and the engine's words."""

    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.key + ': ' if self.key else ''}{self.message}"


def check(text: str, source: str = "the draft") -> tuple[Policy | None, list[Problem]]:
    """(policy, []) when the text is a policy the engine accepts, else (None, problems), each
    naming its key and line. TOML syntax errors carry tomllib's own line and column."""
    try:
        return Policy.from_toml(text, source=source), []
    except PolicyError as exc:
        problems = []
        for key, message in exc.errors:
            line = None
            found = re.search(r"\(at line (\d+), column \d+\)", message)
            if found:
                line = int(found.group(1))
            elif key:
                line = line_of(text, key)
            problems.append(Problem(key=key, message=message, line=line))
        return None, problems


# ----------------------------------------------------------------------------- writing TOML

def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(data: dict[str, Any], comment: str = "") -> str:
    """Policy data ({"policy": {...}, section: {key: {value, clause, note}}}) as TOML text in the
    format's own order. Values the form could not read are written as the text typed, so the
    engine names them."""
    lines = [f"# {line}" for line in comment.splitlines()] + ([""] if comment else [])
    lines.append("[policy]")
    for name in META_KEYS:
        value = data.get("policy", {}).get(name)
        if value not in (None, ""):
            lines.append(f"{name} = {_toml(value)}")
    section = None
    for key in KEYS:
        rule = data.get(key.section, {}).get(key.name)
        if rule is None:
            continue
        if key.section != section:
            section = key.section
            lines += ["", f"[{section}]"]
        if key.kind == "ladder" and isinstance(rule.get("value"), list):
            steps = ",\n".join(f"    {_toml(step)}" for step in rule["value"])
            head = {k: v for k, v in rule.items() if k != "value"}
            note = f", note = {_toml(head['note'])}" if head.get("note") else ""
            lines.append(f"{key.name} = {{ clause = {_toml(head.get('clause', ''))}, value = [\n{steps},\n]{note} }}")
        else:
            lines.append(f"{key.name} = {_toml(rule)}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the form

@dataclass
class Setting:
    """One setting as the editor shows it."""

    key: Key
    value: Any
    clause: str
    note: str
    error: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)


def settings_of(text: str) -> list[Setting]:
    """Every setting of the format with what the draft's TOML says of it ("" clause: silent)."""
    data = raw_data(text)
    out = []
    for key in KEYS:
        rule = data.get(key.section, {}).get(key.name)
        if isinstance(rule, dict):
            out.append(Setting(key=key, value=rule.get("value"), clause=str(rule.get("clause", "")),
                               note=str(rule.get("note", ""))))
        else:
            out.append(Setting(key=key, value=None, clause="", note=""))
    return out


def _read_value(key: Key, form: Any, name: str) -> Any:
    """A posted value as the engine should see it; the text as typed where it is not a number."""
    if key.kind == "list":
        return list(form.getlist(name))
    raw = (form.get(name) or "").strip()
    if key.kind == "bool":
        return {"yes": True, "no": False}.get(raw, raw or None)
    if raw == "":
        return None
    if key.kind == "int":
        return int(raw) if re.fullmatch(r"-?\d+", raw) else raw
    return raw


def _read_ladder(form: Any) -> list[dict[str, Any]]:
    steps = []
    for i in range(int(form.get("ladder-rows") or 0)):
        notify = list(form.getlist(f"ladder-{i}-notify"))
        if not notify or form.get(f"ladder-{i}-remove"):
            continue
        ack = (form.get(f"ladder-{i}-ack") or "").strip()
        steps.append({
            "notify": notify,
            "acknowledge_within_minutes": (int(ack) if re.fullmatch(r"\d+", ack) else ack) if ack else None,
            "call_police": bool(form.get(f"ladder-{i}-police")),
            "ring": bool(form.get(f"ladder-{i}-ring")),
            "clause": (form.get(f"ladder-{i}-clause") or "").strip(),
        })
    return steps


def text_from_form(form: Any, school: School, started_from: str) -> tuple[str, dict[str, str]]:
    """(TOML text, {key: message}) from the editor's posted fields. A setting with no clause is
    left out (the policy is silent there and Doorstep's default applies); a changed value with no
    clause is an error here, before the engine sees it, so nothing is dropped unseen."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"policy": {name: (form.get(f"meta-{name}") or "").strip() for name in META_KEYS}}
    for key in KEYS:
        clause = (form.get(f"clause-{key.dotted}") or "").strip()
        note = (form.get(f"note-{key.dotted}") or "").strip()
        value = _read_ladder(form) if key.kind == "ladder" else _read_value(key, form, f"value-{key.dotted}")
        if not clause:
            if key.kind != "ladder" and value not in (None, key.default) and not (key.kind == "list" and sorted(value) == sorted(key.default)):
                errors[key.dotted] = ("you changed this setting but gave no clause: type the clause of your policy "
                                      "it comes from, or put the setting back to Doorstep's default")
            continue
        rule: dict[str, Any] = {"clause": clause}
        if value is not None:
            rule["value"] = value
        if note:
            rule["note"] = note
        data.setdefault(key.section, {})[key.name] = rule
    return to_toml(data, comment=f"{school.name}: home-visit policy, prepared on Doorstep's policy page "
                                 f"(started from {started_from})."), errors


# ----------------------------------------------------------------------------- comparing

def plain(description: str) -> str:
    """A setting's description from the schema for a headteacher: no "null", no underscores."""
    return description.replace("(null:", "(empty:").replace("_", " ")


def _reads(key: str, value: Any) -> str:
    """describe(), with a list of rule ids (overrides) read as what each rule checks."""
    if isinstance(value, list) and value and all(isinstance(v, str) and v in RULES for v in value):
        return "; ".join(RULES[v][1] for v in value)
    return describe(key, value)


def diff(old: Policy | None, new: Policy) -> list[dict[str, str]]:
    """What changed from `old` to `new`: [{"key", "setting", "old", "new", "old_clause", "new_clause"}],
    in the format's order; every setting when there is no old version."""
    changes = []
    for key in KEYS:
        k = key.dotted
        before = (old.value(k), old.clause(k)) if old is not None else (None, "")
        after = (new.value(k), new.clause(k))
        if before == after:
            continue
        changes.append({
            "key": k, "setting": plain(key.description),
            "old": _reads(k, before[0]) if old is not None else "(no policy yet)",
            "new": _reads(k, after[0]),
            "old_clause": before[1], "new_clause": after[1],
        })
    return changes


def gaps(policy: Policy) -> list[dict[str, Any]]:
    """Where the draft is silent and a reference policy decides (policy_engine.gaps)."""
    return [{**gap, "description": plain(gap["description"])} for gap in find_gaps(policy)]


# ----------------------------------------------------------------------------- changing

def _may_change(actor: StaffMember, school: School) -> None:
    if actor.school_id != school.pk or not can(actor, "policy.change"):
        raise NotAllowed("Only the headteacher or business manager can change this school's policy.")


def starting_text(school: School, source: str) -> tuple[str, str]:
    """(started_from, TOML text) for a new draft: "current" for the school's current version, or a
    preset's name. A preset is renamed for the school, keeping its settings and clauses."""
    if source == "current":
        version = school_policy(school)
        return f"version {version.version}", version.toml_text
    if source not in PRESETS:
        raise ValidationError(f"{source!r} is not one of the presets ({', '.join(PRESETS)}).")
    data = tomllib.loads((PRESET_DIR / f"{source}.toml").read_text(encoding="utf-8"))
    preset_name = str(data["policy"].get("short_name", source))
    data["policy"].update(name=slugify(school.name) or "school", school=school.name, short_name=school.name)
    return f"the {preset_name} preset", to_toml(data, comment=f"{school.name}: home-visit policy, started from the "
                                                        f"{preset_name} preset on Doorstep's policy page.")


def start_draft(actor: StaffMember, school: School, source: str, request: Any = None) -> PolicyDraft:
    """Begin (or begin again) the school's draft from a preset or its current version."""
    _may_change(actor, school)
    started_from, text = starting_text(school, source)
    with transaction.atomic():
        School.objects.select_for_update().get(pk=school.pk)
        draft, _ = PolicyDraft.objects.update_or_create(
            school=school, defaults={"started_from": started_from, "toml_text": text, "started_by": actor.user})
        record(actor=actor, school=school, action=Action.POLICY_DRAFT_STARTED, obj=draft,
               summary=f"Started a draft of the policy from {started_from}", data={"from": started_from},
               request=request)
    return draft


def save_draft(actor: StaffMember, school: School, text: str, *, how: str, request: Any = None) -> PolicyDraft:
    """Replace the draft's text, only when the engine accepts it (ValidationError listing each
    problem with its line otherwise; the draft is then unchanged)."""
    _may_change(actor, school)
    policy, problems = check(text)
    if problems:
        raise ValidationError([str(p) for p in problems])
    with transaction.atomic():
        draft = PolicyDraft.objects.select_for_update().filter(school=school).first()
        if draft is None:
            raise ValidationError("There is no draft to change: start one from a preset or the current version.")
        old = raw_data(draft.toml_text)
        old_policy, _ = check(draft.toml_text)
        draft.toml_text = text
        draft.save(update_fields=["toml_text", "changed_at"])
        assert policy is not None
        changed = [c["key"] for c in diff(old_policy, policy)] if old else []
        record(actor=actor, school=school, action=Action.POLICY_DRAFT_CHANGED, obj=draft,
               summary=f"Changed the policy draft ({how}): {len(changed)} setting(s)", data={"how": how, "settings": changed},
               request=request)
    return draft


def publish(actor: StaffMember, school: School, reason: str, request: Any = None) -> SchoolPolicy:
    """The school's draft as its new policy version, with who, when and why; the draft is then
    gone. Refused (ValidationError) without a reason, without a draft, or when the draft is not a
    valid policy. Two heads pressing Publish at once: the second finds no draft."""
    _may_change(actor, school)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the policy is changing: it is kept with the version and in the audit trail.")
    with transaction.atomic():
        School.objects.select_for_update().get(pk=school.pk)
        draft = PolicyDraft.objects.select_for_update().filter(school=school).first()
        if draft is None:
            raise ValidationError("There is no draft to publish (it may just have been published by someone else).")
        _, problems = check(draft.toml_text)
        if problems:
            raise ValidationError([str(p) for p in problems])
        stored = store_policy(school, f"a draft started from {draft.started_from}", draft.toml_text,
                              created_by=actor.user, via="the policy page", reason=reason)
        draft.delete()
    return stored


def publish_check(school: School) -> tuple[PolicyDraft | None, Policy | None, list[Problem]]:
    draft = PolicyDraft.objects.filter(school=school).first()
    if draft is None:
        return None, None, []
    policy, problems = check(draft.toml_text)
    return draft, policy, problems


__all__ = [
    "KEY_INDEX", "LADDER_FIELDS", "Problem", "plain", "Setting", "check", "diff", "gaps", "line_of", "publish", "publish_check",
    "raw_data", "save_draft", "settings_of", "start_draft", "starting_text", "text_from_form", "to_toml",
]
