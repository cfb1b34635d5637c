"""Visit plans and the rules that judge them against a policy. Pure: no database, no clock
(a plan carries its own dates), so the same plan and policy always give the same findings.
docs/plan-format.md is the reader's version of this module.
"""
from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from core.text import and_list

from .schema import PURPOSE_LABELS, PURPOSES, ROLE_LABELS, ROLES, RULES, WEEKDAYS, Policy

STAGES = ("propose", "approve", "schedule")
# Only needed by the time the visit is scheduled: reported as warnings while approving.
SCHEDULE_ONLY = {
    "approval.visit_list_signed",
    "risk_assessment.home_visit",
    "risk_assessment.new_risk",
    "risk_assessment.lone_working",
    "risk_assessment.author",
    "risk_assessment.safe_word",
    "appointment.agreed",
    "appointment.written_confirmation",
}


class PlanError(ValueError):
    """A plan that cannot be evaluated. .field names the first offending field
    (e.g. "staff[0].dbs.issued_on"); .errors holds every (field, message) found."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = list(errors)
        self.field = self.errors[0][0]
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in self.errors))


# Plan parsing ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dbs:
    level: str
    barred_list_checked: bool
    issued_on: datetime.date | None


@dataclass(frozen=True)
class Vehicle:
    make: str | None
    model: str | None
    colour: str | None
    registration: str | None
    insurance_expires_on: datetime.date | None


@dataclass(frozen=True)
class Staff:
    name: str
    roles: tuple[str, ...]
    dbs: Dbs | None
    trained_home_visitor: bool
    mobile: str | None
    vehicle: Vehicle | None


@dataclass(frozen=True)
class Author:
    """Who wrote an assessment, as the rules need it: a name to show and the roles they hold."""
    name: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Approval:
    role: str
    on: datetime.date


@dataclass(frozen=True)
class OverrideRequest:
    rule: str
    reason: str


@dataclass(frozen=True)
class Plan:
    purpose: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    staff: tuple[Staff, ...] = ()
    approvals: tuple[Approval, ...] = ()
    visit_list_signed_by_headteacher: bool = False
    home_visit_ra_on: datetime.date | None = None
    lone_working_ra_on: datetime.date | None = None
    new_risk_since: bool = False
    home_visit_ra_by: Author | None = None
    lone_working_safe_word: bool = False
    appointment_agreed: bool = False
    written_confirmation: bool = False
    emergency: bool = False
    lone_visit_authorised_by_headteacher: bool = False
    responsible_contact: str | None = None
    dangerous_animals: bool = False
    overrides: tuple[OverrideRequest, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> "Plan":
        reader = _Reader()
        plan = reader.plan(data)
        if reader.errors:
            raise PlanError(reader.errors)
        assert plan is not None  # the reader returns None only with errors
        return plan


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")
_MISSING = object()


class _Reader:
    """Reads a plan dict, collecting every error with the path of the field at fault."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def table(self, value: Any, path: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {_kind(value)}")
            return None
        for name in value:
            if name not in allowed:
                self.fail(_join(path, name), "unknown field; expected one of " + ", ".join(allowed))
        for name in required:
            if name not in value:
                self.fail(_join(path, name), "missing")
        return value

    def boolean(self, obj: dict[str, Any], name: str, path: str) -> bool:
        value = obj.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(_join(path, name), f"expected true or false, got {_kind(value)}")
            return False
        return value

    def text(self, obj: dict[str, Any], name: str, path: str, required: bool = False) -> str | None:
        value = obj.get(name)
        if value is None:
            if required:
                self.fail(_join(path, name), "expected some text, got null")
            return None
        if not isinstance(value, str):
            self.fail(_join(path, name), f"expected text, got {_kind(value)}")
            return None
        value = value.strip()
        if required and not value:
            self.fail(_join(path, name), "expected some text, got an empty string")
        return value or None

    def date(self, obj: dict[str, Any], name: str, path: str, required: bool = False) -> datetime.date | None:
        value = obj.get(name)
        if value is None:
            if required:
                self.fail(_join(path, name), 'expected a date as "YYYY-MM-DD", got null')
            return None
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(_join(path, name), f'expected a date as "YYYY-MM-DD", got {_kind(value)}')
        return None

    def moment(self, obj: dict[str, Any], name: str, path: str) -> datetime.datetime | None:
        value = obj.get(name)
        if isinstance(value, str) and _DATETIME.fullmatch(value):
            try:
                return datetime.datetime.fromisoformat(value)
            except ValueError:
                pass
        self.fail(_join(path, name), f'expected a local date and time as "YYYY-MM-DDTHH:MM", got {_kind(value)}')
        return None

    def plan(self, data: Any) -> Plan | None:
        allowed = ["purpose", "starts_at", "ends_at", "staff", "approvals", "visit_list_signed_by_headteacher",
                   "risk_assessment", "appointment", "emergency", "lone_visit_authorised_by_headteacher",
                   "responsible_contact", "household", "overrides"]
        if self.table(data, "", allowed, required=["purpose", "starts_at", "ends_at"]) is None:
            return None
        purpose = data.get("purpose")
        if "purpose" in data and purpose not in PURPOSES:
            self.fail("purpose", f"expected one of {', '.join(PURPOSES)}, got {_kind(purpose)}")
        starts_at = self.moment(data, "starts_at", "") if "starts_at" in data else None
        ends_at = self.moment(data, "ends_at", "") if "ends_at" in data else None
        if starts_at and ends_at and ends_at <= starts_at:
            self.fail("ends_at", f"expected a time after starts_at ({data['starts_at']}), got {_kind(data['ends_at'])}")

        staff: list[Staff] = []
        raw_staff = data.get("staff")
        if raw_staff is None:
            raw_staff = []
        if not isinstance(raw_staff, list):
            self.fail("staff", f"expected a list of staff, got {_kind(raw_staff)}")
            raw_staff = []
        for i, person in enumerate(raw_staff):
            member = self.staff(person, f"staff[{i}]")
            if member:
                staff.append(member)

        approvals: list[Approval] = []
        for i, item in self.items(data, "approvals"):
            path = f"approvals[{i}]"
            if self.table(item, path, ["role", "on"], required=["role", "on"]) is None:
                continue
            role = item.get("role")
            if "role" in item and role not in ROLES:
                self.fail(f"{path}.role", f"expected one of {', '.join(ROLES)}, got {_kind(role)}")
            on = self.date(item, "on", path, required=True) if "on" in item else None
            if role in ROLES and on:
                approvals.append(Approval(role, on))

        ra = data.get("risk_assessment")
        ra = {} if ra is None else ra
        if self.table(ra, "risk_assessment", ["home_visit_done_on", "lone_working_done_on", "new_risk_since",
                                              "home_visit_written_by", "lone_working_safe_word_recorded"]) is None:
            ra = {}
        author = self.author(ra.get("home_visit_written_by"), "risk_assessment.home_visit_written_by")
        appointment = data.get("appointment")
        appointment = {} if appointment is None else appointment
        if self.table(appointment, "appointment", ["agreed_with_parent", "written_confirmation"]) is None:
            appointment = {}
        household = data.get("household")
        household = {} if household is None else household
        if self.table(household, "household", ["dangerous_animals"]) is None:
            household = {}

        overrides: list[OverrideRequest] = []
        for i, item in self.items(data, "overrides"):
            path = f"overrides[{i}]"
            if self.table(item, path, ["rule", "reason"], required=["rule", "reason"]) is None:
                continue
            rule = item.get("rule")
            if "rule" in item and rule not in RULES:
                self.fail(f"{path}.rule", f"expected a rule id ({', '.join(RULES)}), got {_kind(rule)}")
            reason = self.text(item, "reason", path, required=True) if "reason" in item else None
            if rule in RULES and reason:
                overrides.append(OverrideRequest(rule, reason))
        seen = [o.rule for o in overrides]
        for rule in sorted({r for r in seen if seen.count(r) > 1}):
            self.fail("overrides", f"overrides {rule} more than once")

        self._check_leaves(data, ra, appointment, household)
        if self.errors:
            return None
        assert starts_at is not None and ends_at is not None  # missing or unreadable, they are errors
        return Plan(
            purpose=purpose, starts_at=starts_at, ends_at=ends_at, staff=tuple(staff), approvals=tuple(approvals),
            visit_list_signed_by_headteacher=self.boolean(data, "visit_list_signed_by_headteacher", ""),
            home_visit_ra_on=self.date(ra, "home_visit_done_on", "risk_assessment"),
            lone_working_ra_on=self.date(ra, "lone_working_done_on", "risk_assessment"),
            new_risk_since=self.boolean(ra, "new_risk_since", "risk_assessment"),
            home_visit_ra_by=author,
            lone_working_safe_word=self.boolean(ra, "lone_working_safe_word_recorded", "risk_assessment"),
            appointment_agreed=self.boolean(appointment, "agreed_with_parent", "appointment"),
            written_confirmation=self.boolean(appointment, "written_confirmation", "appointment"),
            emergency=self.boolean(data, "emergency", ""),
            lone_visit_authorised_by_headteacher=self.boolean(data, "lone_visit_authorised_by_headteacher", ""),
            responsible_contact=self.text(data, "responsible_contact", ""),
            dangerous_animals=self.boolean(household, "dangerous_animals", "household"),
            overrides=tuple(overrides),
        )

    def _check_leaves(self, data: dict[str, Any], ra: dict[str, Any], appointment: dict[str, Any],
                      household: dict[str, Any]) -> None:
        """Type-check the optional leaves before building, so every error is reported."""
        for name in ("visit_list_signed_by_headteacher", "emergency", "lone_visit_authorised_by_headteacher"):
            self.boolean(data, name, "")
        self.text(data, "responsible_contact", "")
        self.date(ra, "home_visit_done_on", "risk_assessment")
        self.date(ra, "lone_working_done_on", "risk_assessment")
        self.boolean(ra, "new_risk_since", "risk_assessment")
        self.boolean(ra, "lone_working_safe_word_recorded", "risk_assessment")
        self.boolean(appointment, "agreed_with_parent", "appointment")
        self.boolean(appointment, "written_confirmation", "appointment")
        self.boolean(household, "dangerous_animals", "household")

    def author(self, value: Any, path: str) -> Author | None:
        """{"name": ..., "roles": [...]}: who wrote an assessment. Null when not known."""
        if value is None or self.table(value, path, ["name", "roles"], required=["name"]) is None:
            return None
        before = len(self.errors)
        name = self.text(value, "name", path, required=True) if "name" in value else None
        roles = self.roles(value, path)
        if len(self.errors) > before or name is None:  # no name is an error
            return None
        return Author(name, tuple(roles))

    def roles(self, person: dict[str, Any], path: str) -> list[str]:
        """A person's `roles`: a list of known roles, each wrong one reported at its place."""
        roles = person.get("roles")
        if roles is None:
            return []
        if not isinstance(roles, list):
            self.fail(f"{path}.roles", f"expected a list of roles, got {_kind(roles)}")
            return []
        for j, role in enumerate(roles):
            if role not in ROLES:
                self.fail(f"{path}.roles[{j}]", f"expected one of {', '.join(ROLES)}, got {_kind(role)}")
        return roles

    def items(self, data: dict[str, Any], name: str) -> list[tuple[int, Any]]:
        value = data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(name, f"expected a list, got {_kind(value)}")
            return []
        return list(enumerate(value))

    def staff(self, person: Any, path: str) -> Staff | None:
        allowed = ["name", "roles", "dbs", "trained_home_visitor", "mobile", "vehicle"]
        if self.table(person, path, allowed, required=["name"]) is None:
            return None
        before = len(self.errors)
        name = self.text(person, "name", path, required=True) if "name" in person else None
        roles = self.roles(person, path)
        dbs = None
        raw = person.get("dbs")
        if raw is not None and self.table(raw, f"{path}.dbs", ["level", "barred_list_checked", "issued_on"], required=["level"]) is not None:
            level = raw.get("level")
            if "level" in raw and level not in ("basic", "standard", "enhanced"):
                self.fail(f"{path}.dbs.level", f"expected one of basic, standard, enhanced, got {_kind(level)}")
            dbs = Dbs(level, self.boolean(raw, "barred_list_checked", f"{path}.dbs"), self.date(raw, "issued_on", f"{path}.dbs"))
        vehicle = None
        raw = person.get("vehicle")
        if raw is not None and self.table(raw, f"{path}.vehicle", ["make", "model", "colour", "registration", "insurance_expires_on"]) is not None:
            vpath = f"{path}.vehicle"
            vehicle = Vehicle(self.text(raw, "make", vpath), self.text(raw, "model", vpath),
                              self.text(raw, "colour", vpath), self.text(raw, "registration", vpath),
                              self.date(raw, "insurance_expires_on", vpath))
        trained = self.boolean(person, "trained_home_visitor", path)
        mobile = self.text(person, "mobile", path)
        if len(self.errors) > before or name is None:  # no name is an error
            return None
        return Staff(name, tuple(roles), dbs, trained, mobile, vehicle)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# Findings ----------------------------------------------------------------------------------

@dataclass
class Finding:
    rule: str
    severity: str  # "block" | "warn"
    clause: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "clause": self.clause, "message": self.message}


@dataclass
class Evaluation:
    policy: str
    policy_version: str
    allowed: bool
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "policy_version": self.policy_version, "allowed": self.allowed,
                "findings": [f.to_dict() for f in self.findings]}

    @property
    def blocks(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "block"]


def _quoted(reason: str) -> str:
    """A headteacher's words quoted at the end of a sentence, with one full stop whichever way
    they were typed."""
    reason = reason.strip()
    return f'"{reason}"' + ("" if reason.endswith((".", "!", "?")) else ".")


def evaluate(policy: Policy, plan: Plan | dict[str, Any], *, stage: str = "schedule") -> Evaluation:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    if not isinstance(plan, Plan):
        plan = Plan.from_dict(plan)
    overrides = {o.rule: o.reason for o in plan.overrides}
    overridable = set(policy.overrides.rules.value)
    findings = []
    for check in CHECKS:
        for rule, severity, message, *key in check(policy, plan):
            clause = policy.clause(key[0] if key else RULES[rule][0])
            if clause == "default":
                # The school's policy is silent here: say so rather than put words in its mouth.
                message = message.replace(policy.label, f"Doorstep's default rule ({policy.label} is silent on this)", 1)
            if severity == "block" and stage == "propose":
                severity = "warn"
            elif severity == "block" and stage == "approve" and rule in SCHEDULE_ONLY:
                severity = "warn"
                message += " This must be in place before the visit is scheduled."
            if rule in overrides:
                reason = overrides[rule]
                if rule in overridable:
                    if severity == "block":
                        severity = "warn"
                    message += f" The headteacher has overridden this: {_quoted(reason)}"
                elif severity == "block":
                    message += (f" A headteacher override was recorded (\"{reason}\"), but {policy.label} does not "
                                "allow this rule to be overridden, so the visit stays blocked.")
            findings.append(Finding(rule, severity, clause, message))
    allowed = not any(f.severity == "block" for f in findings)
    return Evaluation(policy=policy.name, policy_version=policy.version, allowed=allowed, findings=findings)


# Rules -------------------------------------------------------------------------------------
# Each check yields (rule id, "block"|"warn", message), and the key whose clause to cite where
# it is not the rule's own (RULES). evaluate() adds the clause and applies the stage and any
# headteacher override.

Found = Iterator[tuple[str, ...]]


def _names(people: Iterable[Staff]) -> str:
    return and_list(p.name for p in people)


def _roles(roles: Sequence[str]) -> str:
    labels = [ROLE_LABELS.get(r, r) for r in roles]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def _number(n: int) -> str:
    return ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"][n] if n <= 10 else str(n)


def _day(d: datetime.date) -> str:
    return f"{d.day} {d:%B %Y}"


def _visit_day(plan: Plan) -> datetime.date:
    return plan.starts_at.date()


def check_approval(policy: Policy, plan: Plan) -> Found:
    approvers = policy.approval.approver_roles.value
    valid = [a for a in plan.approvals if a.role in approvers and a.on <= _visit_day(plan)]
    if not valid:
        recorded = ""
        if plan.approvals:
            recorded = " Approvals recorded: " + "; ".join(
                f"{ROLE_LABELS[a.role]} on {_day(a.on)}" for a in plan.approvals) + "."
        yield ("approval.approver", "block",
               f"{policy.label} requires every visit to be approved by the {_roles(approvers)}; "
               f"this visit has no such approval dated on or before the visit.{recorded}")


def check_purpose(policy: Policy, plan: Plan) -> Found:
    recognised = policy.approval.recognised_purposes.value
    if plan.purpose not in recognised:
        yield ("approval.purpose", "warn",
               f"{policy.label} does not list {PURPOSE_LABELS[plan.purpose]} among its reasons for a home visit "
               f"({', '.join(PURPOSE_LABELS[p] for p in recognised)}); check that this visit is necessary and "
               "in the pupil's best interests.")


def check_visit_list(policy: Policy, plan: Plan) -> Found:
    if policy.approval.visit_list_signed_by_headteacher.value and not plan.visit_list_signed_by_headteacher:
        yield ("approval.visit_list_signed", "block",
               f"{policy.label} requires the headteacher to sign the list of visits before any visit on it takes place; "
               "this visit is not on a signed list.")


def check_staffing(policy: Policy, plan: Plan) -> Found:
    minimum, lone = policy.staffing.minimum.value, policy.staffing.lone_visit.value
    count = len(plan.staff)
    if count == 0:
        yield ("staffing.minimum", "block", "No member of staff is assigned to this visit yet.")
        return
    if count >= minimum:
        return
    who = f" ({_names(plan.staff)})"
    if count == 1 and lone == "headteacher_authorised":
        if plan.lone_visit_authorised_by_headteacher:
            return
        yield ("staffing.minimum", "block",
               f"{policy.label} requires {_number(minimum)} members of staff on a home visit unless the headteacher "
               f"decides a lone visit is safe and appropriate; this visit has one{who} and no such authorisation.",
               "staffing.lone_visit")
        return
    if count == 1 and lone == "lone_working_rules":  # only reachable when minimum is 1
        return  # pragma: no cover
    yield ("staffing.minimum", "block",
           f"{policy.label} requires {_number(minimum)} members of staff on every home visit; "
           f"this visit has {_number(count)}{who}.",
           "staffing.lone_visit" if count == 1 else "staffing.minimum")


def check_dsl(policy: Policy, plan: Plan) -> Found:
    purposes = policy.staffing.dsl_attends_purposes.value
    if plan.purpose in purposes and not any("dsl" in s.roles for s in plan.staff):
        yield ("staffing.dsl", "block",
               f"{policy.label} requires the designated safeguarding lead to go on every {PURPOSE_LABELS[plan.purpose]} "
               f"visit; no one with the DSL role is among the staff ({_names(plan.staff) or 'none assigned'}).")


def check_training(policy: Policy, plan: Plan) -> Found:
    rule = policy.staffing.trained_home_visitor.value
    if rule == "none" or not plan.staff:
        return
    untrained = [s for s in plan.staff if not s.trained_home_visitor]
    if rule == "all" and untrained:
        yield ("staffing.trained_home_visitor", "block",
               f"{policy.label} requires everyone making home visits to be trained for it; "
               f"{_names(untrained)} {'is' if len(untrained) == 1 else 'are'} not recorded as a trained home visitor.")
    elif rule in ("one", "one_where_possible") and len(untrained) == len(plan.staff):
        where = " where possible" if rule == "one_where_possible" else ""
        yield ("staffing.trained_home_visitor", "warn" if where else "block",
               f"{policy.label} asks for at least one trained home visitor on each visit{where}; "
               + (f"{plan.staff[0].name} is not recorded as trained." if len(plan.staff) == 1
                else f"none of {_names(plan.staff)} is recorded as trained."))


def check_transport(policy: Policy, plan: Plan) -> Found:
    if (plan.purpose == "collect_or_drop_off" and policy.staffing.escort_when_transporting.value
            and len(plan.staff) < 2):
        yield ("staffing.transport_escort", "block",
               f"{policy.label} requires an additional adult in the car as escort when staff transport a pupil; "
               f"this collect-or-drop-off visit has {_number(len(plan.staff))} member{'s' if len(plan.staff) != 1 else ''} of staff"
               f"{' (' + _names(plan.staff) + ')' if plan.staff else ''}.")


def check_mobile(policy: Policy, plan: Plan) -> Found:
    if not policy.staffing.mobile_required.value:
        return
    missing = [s for s in plan.staff if not s.mobile]
    if missing:
        held = ROLE_LABELS[policy.staffing.mobile_held_by.value]
        yield ("staffing.mobile", "block",
               f"{policy.label} requires the mobile number of everyone on a visit to be held by the {held}; "
               f"there is no mobile number on record for {_names(missing)}.")


def check_vetting(policy: Policy, plan: Plan) -> Found:
    order = ["basic", "standard", "enhanced"]
    level, barred = policy.vetting.dbs_level.value, policy.vetting.barred_list_check.value
    day = _visit_day(plan)
    problems, barred_only = [], True
    for s in plan.staff:
        if s.dbs is None:
            problems.append(f"{s.name} has no DBS check on record")
            barred_only = False
        elif s.dbs.issued_on is not None and s.dbs.issued_on > day:
            problems.append(f"{s.name}'s DBS certificate is dated after the visit ({_day(s.dbs.issued_on)})")
            barred_only = False
        elif order.index(s.dbs.level) < order.index(level):
            problems.append(f"{s.name}'s DBS check is {s.dbs.level}")
            barred_only = False
        elif barred and not s.dbs.barred_list_checked:
            problems.append(f"{s.name} has no barred-list check")
    if problems:
        need = f"an {level} DBS certificate" if level == "enhanced" else f"a DBS check at {level} level or above"
        need += " with a barred-list check" if barred else ""
        yield ("vetting.dbs", "block",
               f"{policy.label} requires everyone on a home visit to have {need}; " + "; ".join(problems) + ".",
               "vetting.barred_list_check" if barred_only else "vetting.dbs_level")


def check_dbs_age(policy: Policy, plan: Plan) -> Found:
    months = policy.vetting.recheck_months.value
    if months is None:
        return
    day = _visit_day(plan)
    old = [(s.name, s.dbs.issued_on) for s in plan.staff
           if s.dbs and s.dbs.issued_on and _add_months(s.dbs.issued_on, months) < day]
    if old:
        yield ("vetting.dbs_recheck", "warn",
               f"DBS certificates older than {months} months should be rechecked; "
               + "; ".join(f"{name}'s was issued on {_day(issued)}" for name, issued in old) + ".")


def check_vehicles(policy: Policy, plan: Plan) -> Found:
    drivers = [(s, s.vehicle) for s in plan.staff if s.vehicle is not None]
    if policy.vehicles.details_required.value:
        gaps = []
        for s, vehicle in drivers:
            missing = [f for f in ("make", "model", "colour", "registration") if not getattr(vehicle, f)]
            if missing:
                gaps.append(f"{s.name}'s car has no {', '.join(missing)}")
        if gaps:
            yield ("vehicles.details", "block",
                   f"{policy.label} requires the make, model, colour and registration of every car used on a visit "
                   "to be on record; " + "; ".join(gaps) + ".")
    if policy.vehicles.insurance_required.value:
        day = plan.ends_at.date()
        gaps = []
        for s, vehicle in drivers:
            expires = vehicle.insurance_expires_on
            if expires is None:
                gaps.append(f"{s.name}'s car has no insurance expiry date on record")
            elif expires < day:
                gaps.append(f"{s.name}'s car insurance expired on {_day(expires)}")
        if gaps:
            yield ("vehicles.insurance", "block",
                   f"{policy.label} requires every car used on a visit to be insured; " + "; ".join(gaps) + ".")


def check_risk_assessments(policy: Policy, plan: Plan) -> Found:
    day = _visit_day(plan)
    if policy.risk_assessment.home_visit_required.value:
        done = plan.home_visit_ra_on
        if done is None or done > day:
            detail = "none is recorded" if done is None else f"the one recorded is dated {_day(done)}, after the visit"
            yield ("risk_assessment.home_visit", "block",
                   f"{policy.label} requires a home-visit risk assessment before the visit; {detail}.")
        elif plan.new_risk_since and policy.risk_assessment.update_on_new_risk.value:
            yield ("risk_assessment.new_risk", "block",
                   f"A new risk has been recorded since the home-visit risk assessment of {_day(done)}; "
                   f"{policy.label} requires the assessment to be updated before the visit.")
    lone = policy.risk_assessment.lone_working.value
    # Where lone visits are never allowed, staffing.minimum already says so.
    if len(plan.staff) == 1 and lone != "not_required" and policy.staffing.lone_visit.value != "never":
        done = plan.lone_working_ra_on
        if done is not None and done <= day:
            # The office must know the word that means danger (H summary, Before; H threatened ¶5),
            # and the lone-working assessment is where the policy keeps it.
            if policy.risk_assessment.safe_word_on_lone_working.value and not plan.lone_working_safe_word:
                yield ("risk_assessment.safe_word", "block",
                       f"{policy.label} asks for a lone visitor's safe word to be recorded on their lone-working "
                       f"risk assessment before the visit; the assessment for {plan.staff[0].name} dated "
                       f"{_day(done)} does not record one.")
        else:
            detail = "none is recorded" if done is None else f"the one recorded is dated {_day(done)}, after the visit"
            if lone == "required":
                yield ("risk_assessment.lone_working", "block",
                       f"{policy.label} requires a lone-working risk assessment before any visit made by one member "
                       f"of staff ({plan.staff[0].name}); {detail}.")
            else:
                yield ("risk_assessment.lone_working", "warn",
                       f"{plan.staff[0].name} is visiting alone: {policy.label} points lone workers to the school's "
                       f"lone-working and risk assessment policies; no lone-working risk assessment is recorded for this visit.")


def check_ra_author(policy: Policy, plan: Plan) -> Found:
    """An assessment written by someone the policy does not name is not the assessment it asks
    for (C 2.5: the business manager; P §4¶4: the headteacher). A plan that does not say who
    wrote it (an older plan file) is not judged on this."""
    role = policy.risk_assessment.author_role.value
    done, author = plan.home_visit_ra_on, plan.home_visit_ra_by
    if (role is None or author is None or done is None or done > _visit_day(plan)
            or not policy.risk_assessment.home_visit_required.value or role in author.roles):
        return
    held = _roles(author.roles) if author.roles else "no role on record"
    yield ("risk_assessment.author", "block",
           f"{policy.label} requires the home-visit risk assessment to be written by the {ROLE_LABELS[role]}; "
           f"the one dated {_day(done)} was written by {author.name} ({held}), so it does not count. "
           f"The {ROLE_LABELS[role]} needs to write a new one.")


def check_appointment(policy: Policy, plan: Plan) -> Found:
    required = policy.appointment.required.value
    if required == "not_required":
        pass
    elif not plan.appointment_agreed:
        if required == "always":
            yield ("appointment.agreed", "block",
                   f"{policy.label} does not allow staff to visit a home without an appointment agreed with the parent; "
                   "no appointment is recorded for this visit.")
        elif not plan.emergency:
            yield ("appointment.agreed", "block",
                   f"{policy.label} requires home visits to be agreed with the parents in advance unless it is an "
                   "emergency or immediate concern; no appointment is recorded and the visit is not marked as an emergency.")
    if policy.appointment.written_confirmation.value and plan.appointment_agreed and not plan.written_confirmation:
        yield ("appointment.written_confirmation", "block",
               f"{policy.label} requires written confirmation of the appointment to be held in the school office; "
               "none is recorded for this visit.")


def _parse_time(text: str) -> datetime.time:
    return datetime.time.fromisoformat(text)


def check_hours(policy: Policy, plan: Plan) -> Found:
    start, end = _parse_time(policy.hours.school_day_start.value), _parse_time(policy.hours.school_day_end.value)
    days = policy.hours.school_days.value
    day = plan.starts_at.date()
    weekday = WEEKDAYS[day.weekday()]
    outside = (weekday not in days or plan.starts_at.time() < start
               or plan.ends_at > datetime.datetime.combine(day, end))
    window = f"{start:%H:%M}–{end:%H:%M}"
    when = (f"{plan.starts_at:%A} {_day(day)}, {plan.starts_at:%H:%M}–{plan.ends_at:%H:%M}")
    if outside:
        rule = policy.hours.outside_school_hours.value
        if rule == "not_allowed":
            yield ("hours.outside_school_hours", "block",
                   f"{policy.label} does not allow visits outside school hours ({window} on school days); this visit is on {when}.")
        elif rule == "no_reasonable_alternative":
            yield ("hours.outside_school_hours", "block",
                   f"{policy.label} allows a visit outside school hours ({window} on school days) only when it is "
                   f"absolutely necessary and there is no reasonable alternative; this visit is on {when}. "
                   "The headteacher can record why with an override.")
        if policy.hours.responsible_contact_outside_hours.value and not plan.responsible_contact:
            yield ("hours.responsible_contact", "block",
                   f"{policy.label} requires a named responsible contact to check on the staff's welfare during a visit "
                   f"outside school hours; this visit on {when} has none.")
    evening = policy.hours.evening_visits.value
    if evening != "allowed":
        evening_start = datetime.datetime.combine(day, _parse_time(policy.hours.evening_starts.value))
        if plan.ends_at > evening_start:
            if evening == "discouraged":
                yield ("hours.evening", "warn",
                       f"{policy.label} strongly recommends that no one makes an evening home visit; this visit runs "
                       f"past {evening_start:%H:%M} ({when}).")
            else:
                yield ("hours.evening", "block",
                       f"{policy.label} does not allow evening home visits; this visit runs past {evening_start:%H:%M} ({when}).")


def check_animals(policy: Policy, plan: Plan) -> Found:
    if not plan.dangerous_animals:
        return
    rule = policy.doorstep.dangerous_animals.value
    ask = {
        "separate_room": "ask for them to be kept in a separate room",
        "separate_room_or_outside": "ask for them to be kept in a separate room or outside",
        "avoid_contact": "seek local advice before going in and avoid contact with them",
    }[rule]
    then = " If the family will not, cancel the visit." if policy.doorstep.animals_refusal_cancels.value else ""
    if policy.doorstep.animals_written_reason.value:
        then += " Give the headteacher the reason in writing."
    yield ("doorstep.dangerous_animals", "warn",
           f"The household has potentially dangerous animals: under {policy.label} staff {ask}.{then}")


def _review_due(policy: Policy) -> datetime.date | None:
    """The last day on which the policy is still within its review date."""
    text = policy.review.next_review.value
    if text is None:
        return None
    if len(text) == 7:
        year, month = int(text[:4]), int(text[5:])
        return datetime.date(year, month, calendar.monthrange(year, month)[1])
    return datetime.date.fromisoformat(text)


def check_review(policy: Policy, plan: Plan) -> Found:
    due = _review_due(policy)
    if due is not None and _visit_day(plan) > due:
        yield ("review.overdue", "warn",
               f"{policy.label} was due for review by {due:%B %Y} and has not been reviewed since; "
               "it may no longer reflect how visits should be run.")


def _add_months(day: datetime.date, months: int) -> datetime.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


CHECKS: list[Callable[[Policy, Plan], Found]] = [
    check_approval, check_purpose, check_visit_list, check_staffing, check_dsl, check_training, check_transport,
    check_mobile, check_vetting, check_dbs_age, check_vehicles, check_risk_assessments, check_ra_author, check_appointment,
    check_hours, check_animals, check_review,
]
