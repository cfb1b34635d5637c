"""Every block has a way out. For each finding that stops a visit, where it is put right:
change the plan, record what is missing where it is recorded, or the headteacher's override
where the policy allows one. The engine says what is wrong (it knows no pages); this module
says where to go, and only offers the pages this person may open."""
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse

from core.text import and_list
from people.models import ROLES, StaffMember
from people.permissions import ROLE_MATRIX, can
from policies.services import recorded_policy
from policy_engine import cite
from policy_engine.rules import SCHEDULE_ONLY
from policy_engine.schema import ROLE_LABELS

from .models import Visit

# Rules put right by changing who goes, when, or what the plan says.
PLAN_FIXES = {
    "staffing.minimum": "Add a second member of staff",
    "staffing.dsl": "Add the designated safeguarding lead to who is going",
    "staffing.trained_home_visitor": "Choose a trained home visitor to go",
    "staffing.transport_escort": "Add a second adult to escort the pupil",
    "hours.outside_school_hours": "Move the visit into school hours",
    "hours.evening": "Move the visit to earlier in the day",
    "hours.responsible_contact": "Name a responsible contact",
    "appointment.agreed": "Mark it as an emergency, if no appointment is possible",
    "approval.purpose": "Choose another purpose",
}
# Rules put right on the staff register (the person's DBS, mobile, car, training).
REGISTER_RULES = {"staffing.mobile", "vetting.dbs", "vetting.dbs_recheck", "vehicles.details", "vehicles.insurance",
                  "staffing.trained_home_visitor"}
# Rules put right by recording a risk assessment, with the kind the form should start on.
RISK_RULES = {"risk_assessment.home_visit": "home_visit", "risk_assessment.new_risk": "home_visit",
              "risk_assessment.author": "home_visit", "risk_assessment.lone_working": "lone_working",
              "risk_assessment.safe_word": "lone_working"}
RISK_WORDS = {"home_visit": "Record the home-visit risk assessment", "lone_working": "Record the lone-working risk assessment"}
# The lone-visit authorisation is its own decision (services.LONE_VISIT_RULE), offered on the
# staffing finding where the policy lets the headteacher decide a lone visit is safe.
LONE_VISIT_FINDING = "staffing.minimum"


@dataclass
class Fix:
    text: str
    url: str = ""  # empty: a step for someone else, said in words


@dataclass
class Finding:
    """An engine finding with the ways out this person is shown."""
    rule: str
    severity: str
    clause: str
    message: str
    fixes: list[Fix] = field(default_factory=list)


@dataclass
class Verdict:
    """An evaluation as the pages show it: the same findings, each with its ways out."""
    policy: str
    policy_version: str
    allowed: bool
    findings: list[Finding]

    @property
    def blocks(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "block"]


def ways_out(evaluation, visit: Visit, me, *, overridable=frozenset(), lone_possible=False) -> Verdict | None:
    """`evaluation` (an engine Evaluation, or what visits.views makes of one) with a way out on
    every blocking finding, and on the notes that must be in place before the visit is scheduled."""
    if evaluation is None:
        return None
    detail = reverse("visits:detail", args=[visit.pk])
    may_edit = visit.state == Visit.State.PROPOSED and can(me, "visit.edit", visit)
    may_override = can(me, "visit.override", visit) and visit.state in (Visit.State.PROPOSED, Visit.State.APPROVED)
    people = [a.staff for a in visit.assignments.all()]
    findings = []
    for f in evaluation.findings:
        fixes: list[Fix] = []
        if f.severity == "block" or f.rule in SCHEDULE_ONLY:
            fixes = _fixes(f, visit, me, people, detail, may_edit, may_override, overridable, lone_possible)
        findings.append(Finding(f.rule, f.severity, f.clause, f.message, fixes))
    return Verdict(evaluation.policy, evaluation.policy_version, evaluation.allowed, findings)


def _fixes(f, visit, me, people, detail, may_edit, may_override, overridable, lone_possible) -> list[Fix]:
    fixes: list[Fix] = []
    edit = reverse("visits:edit", args=[visit.pk])
    if f.rule in PLAN_FIXES and visit.state == Visit.State.PROPOSED:
        if may_edit:
            fixes.append(Fix(PLAN_FIXES[f.rule], f"{edit}#field-{_field_for(f.rule)}"))
        else:
            fixes.append(Fix(f"{PLAN_FIXES[f.rule]}: whoever proposed the visit, or the headteacher, can change the plan"))
    if f.rule == LONE_VISIT_FINDING and lone_possible and len(people) == 1:
        fixes.append(Fix("Authorise a lone visit, with your reason",
                         f"{detail}?do=authorise_lone#action-authorise_lone") if may_override
                     else Fix("Or the headteacher authorises a lone visit"))
    if f.rule in REGISTER_RULES:
        named = [p for p in people if p.full_name in f.message] or people
        for person in named:
            if can(me, "staff.edit", person):
                # The visit rides along, so that once the record is put right there is a way back to it.
                fixes.append(Fix(f"Update {person.full_name}'s record on the staff register",
                                 reverse("people:staff_detail", args=[person.pk]) + "?" + urlencode({"next": detail})))
            else:
                fixes.append(Fix(f"The business manager updates {person.full_name}'s record on the staff register"))
        if may_edit and f.rule not in PLAN_FIXES:
            fixes.append(Fix("Or change who is going", f"{edit}#field-staff"))
    if f.rule in RISK_RULES:
        kind = RISK_RULES[f.rule]
        if can(me, "risk.edit"):
            query = f"?kind={kind}" + (f"&pupil={visit.pupil_id}" if kind == "home_visit" else "")
            fixes.append(Fix(RISK_WORDS[kind], reverse("risk:new") + query))
        else:
            fixes.append(Fix(f"{RISK_WORDS[kind]}: {risk_writers(visit, kind)}"))
    if f.rule.startswith("appointment.") and visit.state == Visit.State.APPROVED and can(me, "visit.schedule", visit):
        fixes.append(Fix("Record the appointment", f"{detail}#action-schedule"))
    elif f.rule.startswith("appointment.") and visit.state == Visit.State.PROPOSED and f.severity != "block":
        fixes.append(Fix("Record the appointment once the visit is approved"))
    if f.rule == "approval.visit_list_signed":
        if visit.visit_list_id:
            fixes.append(Fix("The headteacher signs the visit list", reverse("visits:list_detail", args=[visit.visit_list_id])))
        elif can(me, "visitlist.create"):
            fixes.append(Fix("Put the visit on a list for the headteacher to sign", reverse("visits:list_create")))
        else:
            fixes.append(Fix("The office puts the visit on a list for the headteacher to sign"))
    if f.severity == "block" and f.rule in overridable:
        fixes.append(Fix("Override this rule, with your reason", f"{detail}?do=override#action-override") if may_override
                     else Fix("Or the headteacher overrides this rule, with a reason, as the policy allows"))
    return fixes


def risk_writers(visit: Visit, kind: str) -> str:
    """Who records this kind of assessment, for someone who cannot: the writer the school's policy
    names for a home-visit assessment (C 2.5: the business manager; P §4¶4: the headteacher),
    by role and name, else everyone whose role writes assessments."""
    policy = recorded_policy(visit) if kind == "home_visit" else None
    author = policy.risk_assessment.author_role if policy is not None else None
    if author is not None and author.value is not None:
        label = ROLE_LABELS.get(author.value, author.value)
        names = [s.full_name for s in StaffMember.objects.filter(school=visit.school_id, active=True,
                                                                 roles__role=author.value).distinct()]
        who = f"the {label}" + (f" ({and_list(names)})" if names else "")
        return f"under this school's policy ({cite(author.clause)}) {who} writes it"
    roles = [ROLE_LABELS[r] for r in ROLES if r in ROLE_MATRIX["risk.edit"]]
    return f"the {', '.join(roles[:-1])} or {roles[-1]} does this"


def _field_for(rule: str) -> str:
    """The proposal form's field that puts the rule right, to land on it."""
    if rule.startswith("staffing."):
        return "staff"
    if rule == "hours.responsible_contact":
        return "responsible_contact"
    if rule.startswith("hours."):
        return "date"
    if rule == "appointment.agreed":
        return "emergency"
    return "purpose"
