"""The one place where a visit changes state.

Every change (approve, decline, schedule, withdraw, cancel) goes through `transition()`,
which checks that the move is legal and that this person may make it, runs the school's
policy through the rule engine for that stage, refuses with the engine's findings when
something blocks, and writes who, when and why to the audit trail in the same
transaction as the change. Two people pressing "approve" at the same moment cannot both
succeed: the row is locked and the update is conditional on the state it was read in.

Views and the API call these functions and nothing else to change a visit."""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEntry
from core.errors import NotAllowed
from notify.services import notify
from people.models import ROLE_LABELS, DbsCheck, StaffMember, Vehicle
from core.text import and_list
from policy_engine import RULES, Policy, cite, evaluate
from policy_engine.schema import PURPOSE_LABELS
from policies.services import policy_for, policy_version_for, recorded_policy_version, school_policy
from pupils.models import HouseholdNote
from risk.models import RiskAssessment
from people.permissions import ROLE_MATRIX, can

from . import gates
from .models import PURPOSE_CHOICES, PURPOSES, Override, Visit, VisitList, VisitStaff
from .signals import visit_moved, visit_team_changed

State = Visit.State
logger = logging.getLogger(__name__)

LONE_VISIT_RULE = "staffing.lone_visit"

# from state -> the states it may move to
LEGAL_MOVES = {
    State.PROPOSED: {State.APPROVED, State.DECLINED, State.WITHDRAWN},
    State.APPROVED: {State.SCHEDULED, State.WITHDRAWN, State.CANCELLED},
    State.SCHEDULED: {State.CANCELLED, State.UNDER_WAY},
    # Under way and closed only through safety.recording (the first left school or arrival
    # starts it; everyone back safe closes it with the outcome decided at the door).
    State.UNDER_WAY: {State.COMPLETED, State.NOT_SEEN, State.ABANDONED},
}

# to state -> (permission asked of people.permissions.can, audit action, verb for messages)
MOVES = {
    State.APPROVED: ("visit.approve", Action.VISIT_APPROVED, "approve"),
    State.DECLINED: ("visit.decline", Action.VISIT_DECLINED, "decline"),
    State.SCHEDULED: ("visit.schedule", Action.VISIT_SCHEDULED, "schedule"),
    State.WITHDRAWN: ("visit.withdraw", Action.VISIT_WITHDRAWN, "withdraw"),
    State.CANCELLED: ("visit.cancel", Action.VISIT_CANCELLED, "cancel"),
    State.UNDER_WAY: ("checkin.record", Action.VISIT_UNDER_WAY, "start"),
    State.COMPLETED: ("checkin.record", Action.VISIT_COMPLETED, "complete"),
    State.NOT_SEEN: ("checkin.record", Action.VISIT_NOT_SEEN, "close as not seen"),
    State.ABANDONED: ("checkin.record", Action.VISIT_ABANDONED, "abandon"),
}
NEEDS_REASON = {State.DECLINED, State.WITHDRAWN, State.CANCELLED, State.ABANDONED}
# Moves of a visit under way: the visit was checked against the policy when it was scheduled,
# and what happens on the doorstep is recorded by safety.recording, so no engine run here.
SAFETY_MOVES = {State.UNDER_WAY, State.COMPLETED, State.NOT_SEEN, State.ABANDONED}

ACTION_WORDS = {
    "visit.view": "see visits",
    "visit.propose": "propose visits",
    "visit.edit": "change the plan of a proposed visit",
    "visit.approve": "approve visits",
    "visit.decline": "decline visits",
    "visit.override": "override a policy rule",
    "visit.schedule": "record the appointment and schedule visits",
    "visit.withdraw": "withdraw visits",
    "visit.cancel": "cancel visits",
    "visitlist.create": "compile visit lists",
    "visitlist.sign": "sign the visit list",
    "checkin.record": "record what happens on this visit",
    "staff.edit": "give a leaver's visits to someone else",
}


# ------------------------------------------------------------------------- exceptions

class Refused(Exception):
    """The policy engine reports at least one blocking finding. `.findings` holds every finding
    at that moment (blocking and warnings); `.message` lists the blocking ones with their clauses."""

    def __init__(self, findings, *, action="go ahead", evaluation=None):
        self.findings = list(findings)
        self.evaluation = evaluation
        self.action = action
        blocking = self.blocking or self.findings
        lines = [f"This visit cannot {action}, because of the school's policy:"]
        lines += [f"- {f.message} ({cite(f.clause)})" for f in blocking]
        self.message = "\n".join(lines)
        super().__init__(self.message)

    @property
    def blocking(self):
        return [f for f in self.findings if f.severity == "block"]

    def __str__(self):
        return self.message


# ------------------------------------------------------------------------- small helpers

def _name(staff):
    return staff.full_name if staff is not None else "someone"


def _roles_text(roles):
    labels = [ROLE_LABELS.get(r, r).lower() for r in sorted(roles)]
    if not labels:
        return "no role"
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + " or " + labels[-1]


def why_not(actor, action, obj=None) -> str:
    """Why people.permissions refuses this person `action` (on `obj`), in words a member of staff
    understands; "" when it allows it. The pages say it where a refused button was pressed."""
    if can(actor, action, obj):
        return ""
    words = ACTION_WORDS.get(action, action)
    if actor is None or not actor.active:
        return f"You are not on the active staff of this school, so you cannot {words}."
    if obj is not None and getattr(obj, "school_id", actor.school_id) != actor.school_id:
        return f"This belongs to another school, so you cannot {words}."
    roles = set(actor.role_names)
    allowed = ROLE_MATRIX[action]
    if roles & allowed and action == "visit.edit":
        return "You can only change the plan of a visit you proposed; the headteacher or deputy can change this one."
    if roles & allowed and action == "visit.withdraw":
        return ("You can only withdraw visits that you proposed or are going on; whoever proposed this one, "
                "or the headteacher or deputy, can withdraw it.")
    if roles & allowed:
        # The role would do, but only on their own visits.
        return f"You can only {words} that you proposed or are going on."
    return f"As {_roles_text(roles)} you cannot {words}. Only the {_roles_text(allowed)} can."


def _require(actor, action, obj=None):
    """Ask people.permissions; say why not in words a member of staff understands."""
    refusal = why_not(actor, action, obj)
    if refusal:
        raise NotAllowed(refusal)


def _local_naive(dt):
    return timezone.localtime(dt).replace(tzinfo=None).isoformat(timespec="minutes")


def _local_date(dt):
    return timezone.localtime(dt).date() if dt else None


def _iso(day):
    return day.isoformat() if day else None


# ------------------------------------------------------------------------- the plan

def _staff_plan(staff, dbs, vehicle):
    entry = {
        "name": staff.full_name,
        "roles": staff.role_names,
        "dbs": None if dbs is None else {
            "level": dbs.level,
            "barred_list_checked": dbs.barred_list_checked,
            "issued_on": _iso(dbs.issued_on),
        },
        "trained_home_visitor": staff.trained_home_visitor,
        "mobile": staff.mobile or None,
    }
    if vehicle is not None:
        entry["vehicle"] = {
            "make": vehicle.make,
            "model": vehicle.model,
            "colour": vehicle.colour,
            "registration": vehicle.registration,
            "insurance_expires_on": _iso(vehicle.insurance_expires_on),
        }
    return entry


def visit_staff(visit):
    """The people on a visit, the lead first."""
    assignments = VisitStaff.objects.filter(visit=visit).select_related("staff").order_by("-lead", "id")
    return [a.staff for a in assignments]


@dataclass
class PlanFacts:
    """What the rule engine is told about some visits beyond their own rows (who goes, with
    their checks and cars; risk assessments; overrides; the household), read for all of them
    at once: a page listing every proposal asks the same few questions however many there are.
    The rows are read in the order the single-visit questions used to read them, and the
    first of each kept, so a visit's plan is the same whichever way it was gathered."""

    people: dict[int, list[StaffMember]] = field(default_factory=dict)
    dbs: dict[int, DbsCheck] = field(default_factory=dict)  # staff id -> newest check
    vehicle: dict[int, Vehicle] = field(default_factory=dict)  # staff id -> newest active car
    visit_lists: dict[int, VisitList] = field(default_factory=dict)
    home_ra: dict[int, RiskAssessment] = field(default_factory=dict)  # pupil id -> newest
    lone_ra: dict[int, RiskAssessment] = field(default_factory=dict)  # staff id -> newest
    overrides: dict[int, list[Override]] = field(default_factory=dict)
    notes: dict[int, list[HouseholdNote]] = field(default_factory=dict)  # pupil id -> household notes

    @classmethod
    def gather(cls, visits) -> PlanFacts:
        facts = cls()
        visit_ids = [v.pk for v in visits if v.pk]
        pupil_ids = {v.pupil_id for v in visits}
        assignments = (
            VisitStaff.objects.filter(visit__in=visit_ids).select_related("staff").order_by("-lead", "id")
            .prefetch_related("staff__roles")
        )
        for a in assignments:
            facts.people.setdefault(a.visit_id, []).append(a.staff)
        staff_ids = {s.pk for team in facts.people.values() for s in team}
        for check in DbsCheck.objects.filter(staff__in=staff_ids).order_by("-issued_on"):
            facts.dbs.setdefault(check.staff_id, check)
        for car in Vehicle.objects.filter(staff__in=staff_ids, active=True).order_by("-id"):
            facts.vehicle.setdefault(car.staff_id, car)
        list_ids = {v.visit_list_id for v in visits if v.visit_list_id}
        if list_ids:
            facts.visit_lists = {
                vl.pk: vl for vl in VisitList.objects.filter(pk__in=list_ids)
                .select_related("signed_by").prefetch_related("signed_by__roles")
            }
        for ra in (RiskAssessment.objects.filter(pupil__in=pupil_ids, kind=RiskAssessment.Kind.HOME_VISIT)
                   .select_related("author").prefetch_related("author__roles").order_by("-reviewed_at")):
            if ra.pupil_id is not None:  # always set on a home-visit assessment (the filter)
                facts.home_ra.setdefault(ra.pupil_id, ra)
        alone = {team[0].pk for team in facts.people.values() if len(team) == 1}
        if alone:
            for ra in (RiskAssessment.objects.filter(staff__in=alone, kind=RiskAssessment.Kind.LONE_WORKING)
                       .order_by("-reviewed_at")):
                if ra.staff_id is not None:  # always set on a lone-working one (the filter)
                    facts.lone_ra.setdefault(ra.staff_id, ra)
        for override in Override.objects.filter(visit__in=visit_ids).order_by("at", "id"):
            facts.overrides.setdefault(override.visit_id, []).append(override)
        for note in HouseholdNote.objects.filter(pupil__in=pupil_ids):
            facts.notes.setdefault(note.pupil_id, []).append(note)
        return facts

    def new_risk_since(self, ra: RiskAssessment) -> bool:
        """RiskAssessment.is_stale, from the notes already read."""
        return any(n.recorded_at > ra.reviewed_at and n.is_risk for n in self.notes.get(ra.pupil_id or 0, []))

    def dangerous_animals(self, pupil_id: int) -> bool:
        return any(n.kind == HouseholdNote.Kind.ANIMALS and n.dangerous for n in self.notes.get(pupil_id, []))


def visit_plan(visit, facts: PlanFacts | None = None) -> dict:
    """The visit as the rule engine sees it (the plan format of docs/policy-format.md), read
    from the database. Times are local (Europe/London) and naive, as a headteacher writes them.
    Unsaved changes on `visit` itself (approver, appointment) are included, so a transition can
    ask the engine about the visit as it would be after the change. `facts`: what was gathered
    for a list of visits this one is in (PlanFacts.gather), else it is read for this visit alone."""
    if facts is None:
        facts = PlanFacts.gather([visit])
    people = facts.people.get(visit.pk, [])

    approvals = []
    if visit.approved_by_id:
        on = _iso(_local_date(visit.approved_at) or timezone.localdate())
        approvals = [{"role": role, "on": on} for role in visit.approved_by.role_names]

    signed_list = False
    if visit.visit_list_id:
        visit_list = facts.visit_lists[visit.visit_list_id]
        signed_list = bool(visit_list.is_signed and visit_list.signed_by and visit_list.signed_by.has_role("headteacher"))

    home_ra = facts.home_ra.get(visit.pupil_id)
    lone_ra = facts.lone_ra.get(people[0].pk) if len(people) == 1 else None
    overrides = facts.overrides.get(visit.pk, []) if visit.pk else []

    return {
        "purpose": visit.purpose,
        "starts_at": _local_naive(visit.starts_at),
        "ends_at": _local_naive(visit.ends_at),
        "staff": [_staff_plan(s, facts.dbs.get(s.pk), facts.vehicle.get(s.pk)) for s in people],
        "approvals": approvals,
        "visit_list_signed_by_headteacher": signed_list,
        "risk_assessment": {
            "home_visit_done_on": _iso(_ra_date(home_ra)),
            "lone_working_done_on": _iso(_ra_date(lone_ra)),
            "new_risk_since": bool(home_ra and facts.new_risk_since(home_ra)),
            "home_visit_written_by": None if home_ra is None else {
                "name": home_ra.author.full_name, "roles": home_ra.author.role_names},
            "lone_working_safe_word_recorded": bool(lone_ra and lone_ra.has_safe_word),
        },
        "appointment": {
            "agreed_with_parent": visit.appointment_agreed,
            "written_confirmation": visit.written_confirmation,
        },
        "emergency": visit.emergency,
        "lone_visit_authorised_by_headteacher": any(o.rule == LONE_VISIT_RULE for o in overrides),
        "responsible_contact": visit.responsible_contact.full_name if visit.responsible_contact_id else None,
        "household": {"dangerous_animals": facts.dangerous_animals(visit.pupil_id)},
        # A lone-visit authorisation travels as its own field above; the rest name engine rules.
        "overrides": [{"rule": o.rule, "reason": o.reason} for o in overrides if o.rule in RULES],
    }


def _ra_date(ra):
    """When the assessment was written or last reviewed, whichever is later."""
    if ra is None:
        return None
    reviewed = _local_date(ra.reviewed_at)
    return max(d for d in (ra.assessed_on, reviewed) if d is not None)


def evaluate_visit(visit, stage="schedule", policy=None, facts: PlanFacts | None = None):
    """What the school's policy says about this visit now (an engine Evaluation).

    At the "approve" stage a visit nobody has approved yet is judged as if one of the policy's
    approvers approved it today: the question a headteacher asks there is what, besides their
    own approval, stands in the way."""
    if policy is None:
        policy = policy_for(visit)
    plan = visit_plan(visit, facts)
    if stage == "approve" and not plan["approvals"]:
        approvers = policy.approval.approver_roles.value
        if approvers:
            plan["approvals"] = [{"role": approvers[0], "on": timezone.localdate().isoformat()}]
    return evaluate(policy, plan, stage=stage)


def _findings_data(evaluation):
    if evaluation is None:
        return []
    return [
        {"rule": f.rule, "severity": f.severity, "clause": f.clause, "message": f.message}
        for f in evaluation.findings
    ]


# ------------------------------------------------------------------------- the transition

def _last_entry(visit, action):
    return (
        AuditEntry.objects.filter(object_type="visits.visit", object_id=str(visit.pk), action=action)
        .order_by("-at", "-id").first()
    )


def _already(visit, wanted_verb):
    """Why a move is not possible from the state the visit is in now, naming who put it there."""
    state = visit.state
    if state in (State.APPROVED, State.SCHEDULED) and visit.approved_by_id:
        who, when = _name(visit.approved_by), visit.approved_at
        done = "approved"
        if state == State.SCHEDULED:
            entry = _last_entry(visit, "visit.scheduled")
            done = "approved by " + who + " and scheduled"
            who, when = (entry.actor_name, entry.at) if entry else (who, when)
        text = f"This visit was already {done} by {who}"
    else:
        entry = _last_entry(visit, MOVES[state][1]) if state in MOVES else None
        label = State(state).label.lower()
        text = f"This visit was already {label}" + (f" by {entry.actor_name}" if entry else "")
        when = entry.at if entry else None
    if when:
        text += f" on {timezone.localtime(when):%-d %B %Y at %H:%M}"
    return text + f", so it cannot be {_past(wanted_verb)} now."


def _past(verb):
    return {"approve": "approved", "decline": "declined", "schedule": "scheduled", "withdraw": "withdrawn",
            "cancel": "cancelled", "start": "started", "complete": "completed", "close as not seen": "closed as not seen",
            "abandon": "abandoned"}.get(verb, verb)


def approvers_sentence(policy: Policy) -> str:
    """Who approves visits under this policy, citing its clause."""
    approvers = policy.approval.approver_roles
    return f"Under this school's policy ({cite(approvers.clause)}) visits are approved by the {_roles_text(approvers.value)}."


def not_an_approver(actor, policy: Policy) -> str:
    """Why this person may not approve visits under this policy, citing its clause; "" when they
    hold one of the roles it names (approval.approver_roles, never empty). The pages say it in
    place of an Approve button: a deputy may approve at one school and not at the next."""
    approvers = policy.approval.approver_roles
    if set(actor.role_names) & set(approvers.value):
        return ""
    return f"{approvers_sentence(policy)} As {_roles_text(actor.role_names)} you cannot approve this visit."


def _check_approver(actor, policy: Policy) -> None:
    refusal = not_an_approver(actor, policy)
    if refusal:
        raise NotAllowed(refusal)


def transition(visit, to_state, actor, *, stage=None, reason="", changes=None, permission=None, action=None,
               note="", request=None):
    """Move `visit` to `to_state` on behalf of `actor` (a StaffMember), or raise.

    stage      the engine stage to check ("approve", "schedule"), or None for no engine block
    reason     the person's reason (required to decline, withdraw or cancel)
    changes    other Visit fields to set with the state (they are part of what the engine checks)

    Raises NotAllowed (illegal move, role, approvers, already done by someone else),
    ValidationError (no reason) or Refused (blocking findings). On success the visit passed
    in is refreshed, and one audit entry is written in the same transaction."""
    to_state = State(to_state)
    changes = dict(changes or {})
    default_permission, audit_action, verb = MOVES[to_state]
    permission = permission or default_permission
    action = action or audit_action
    reason = (reason or "").strip()

    with transaction.atomic():
        # The lock makes a second approver wait for the first (PostgreSQL); on SQLite the
        # IMMEDIATE transaction already serialises writers. Either way the state is re-read here.
        # No select_related here: on PostgreSQL a row re-read after waiting for the lock keeps
        # the joined rows of the old snapshot (approved_by would still be empty). Related rows
        # are loaded afresh inside the transaction instead.
        # NO KEY UPDATE, as checkins does: a watchdog raising an alert on this visit's watch holds
        # the watch row and takes KEY SHARE on the visit; FOR UPDATE here, then closing the watch
        # on cancelling, would deadlock with it on PostgreSQL. Approvers still queue on this lock.
        locked = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
        from_state = State(locked.state)
        _require(actor, permission, locked)
        if to_state not in LEGAL_MOVES.get(from_state, set()):
            if from_state == State.PROPOSED:
                raise NotAllowed(f"A proposed visit cannot be {_past(verb)}: {_instead(to_state)}.")
            raise NotAllowed(_already(locked, verb))
        if to_state in NEEDS_REASON and not reason:
            raise ValidationError({"reason": f"Give a reason to {verb} this visit: it is recorded in its history."})

        if to_state == State.APPROVED:
            version = school_policy(locked.school)
            _check_approver(actor, version.load())
            now = timezone.now()
            changes.update(approved_by=actor, approved_at=now, policy_version=version)
        elif stage:
            version = policy_version_for(locked)
        elif to_state in SAFETY_MOVES:
            version = None
        else:
            # Declining, withdrawing and cancelling are never blocked by the policy.
            version = recorded_policy_version(locked)
        if to_state in (State.DECLINED, State.WITHDRAWN, State.CANCELLED):
            changes["closed_reason"] = reason

        for field, value in changes.items():
            setattr(locked, field, value)

        evaluation = None
        if stage:
            assert version is not None  # a move with a stage took a version above, or NoPolicy was raised
            evaluation = evaluate_visit(locked, stage=stage, policy=version.load())
            if not evaluation.allowed:
                raise Refused(evaluation.findings, action=f"be {_past(verb)} yet", evaluation=evaluation)
        elif version is not None:
            # Not a check, a record: what the policy said about the visit when it was closed.
            evaluation = evaluate_visit(locked, stage="approve" if from_state == State.PROPOSED else "schedule",
                                        policy=version.load())

        updated = Visit.objects.filter(pk=locked.pk, state=from_state).update(
            state=to_state, updated_at=timezone.now(), **changes,
        )
        if updated != 1:
            # Someone else moved it between our read and our write.
            current = Visit.objects.select_related("approved_by").get(pk=locked.pk)
            raise NotAllowed(_already(current, verb))

        locked.state = to_state
        # The safety core watches a scheduled visit and stops when it is cancelled (checkins).
        visit_moved.send(sender=Visit, visit=locked, from_state=from_state, to_state=to_state, actor=actor,
                         now=timezone.now())
        summary = f"{actor.full_name} {_past(verb)} the visit for {locked.pupil.full_name} on " \
                  f"{timezone.localtime(locked.starts_at):%A %-d %B %Y, %H:%M}"
        audit.record(
            actor=actor, school=locked.school, action=action, obj=locked, summary=summary,
            reason=reason or note, request=request,
            data={
                "from": from_state.value,
                "to": to_state.value,
                "stage": stage,
                "note": note,
                "policy": version.source_name if version else None,
                "policy_version": version.version if version else None,
                "allowed": None if evaluation is None else evaluation.allowed,
                "checked_before_move": bool(stage),  # False: findings recorded, not enforced
                "findings": _findings_data(evaluation),
                "changes": {k: _plain(v) for k, v in changes.items()},
            },
        )

    visit.refresh_from_db()
    return visit


def _instead(to_state):
    if to_state == State.CANCELLED:
        return "it has not been approved yet, so withdraw it instead"
    return "it must be approved first"


def _plain(value):
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


# ------------------------------------------------------------------------- proposing

def _checked_plan(actor, *, pupil, purpose, reason, starts_at, ends_at, staff, responsible_contact):
    """The plan's times made aware and its staff without repeats, or ValidationError naming every
    field at fault. Shared by proposing and changing a proposal, so both refuse the same plans."""
    errors = {}
    school_id = actor.school_id

    if pupil is None:
        errors["pupil"] = "Choose the pupil the visit is about."
    elif pupil.school_id != school_id:
        errors["pupil"] = "This pupil is not on your school's roll."
    elif not pupil.on_roll:
        errors["pupil"] = f"{pupil.full_name} is no longer on the roll."

    if purpose not in PURPOSES:
        errors["purpose"] = "Choose one of: " + ", ".join(label.lower() for _, label in PURPOSE_CHOICES) + "."
    if not (reason or "").strip():
        errors["reason"] = "Say why this visit is necessary and in the pupil's best interests."

    if starts_at is None:
        errors["starts_at"] = "Give the date and time the visit starts."
    if ends_at is None:
        errors["ends_at"] = "Give the time the visit ends."
    if starts_at is not None and ends_at is not None:
        if timezone.is_naive(starts_at):
            starts_at = timezone.make_aware(starts_at)
        if timezone.is_naive(ends_at):
            ends_at = timezone.make_aware(ends_at)
        if ends_at <= starts_at:
            errors["ends_at"] = "The visit must end after it starts."

    people = []
    for member in staff or []:
        if member not in people:
            people.append(member)
    if not people:
        errors["staff"] = "Choose who is going on the visit (at least one member of staff)."
    else:
        strangers = [m for m in people if m.school_id != school_id]
        inactive = [m for m in people if m.school_id == school_id and not m.active]
        if strangers:
            errors["staff"] = "Only staff of your school can go on its visits."
        elif inactive:
            errors["staff"] = f"{', '.join(m.full_name for m in inactive)} is no longer on the active staff."

    if responsible_contact is not None and responsible_contact.school_id != school_id:
        errors["responsible_contact"] = "The responsible contact must be on your school's staff."
    if errors:
        raise ValidationError(errors)
    return starts_at, ends_at, people


def propose(actor, *, pupil, purpose, reason, starts_at, ends_at, staff, emergency=False,
            responsible_contact=None, request=None) -> Visit:
    """Create a proposed visit. The first of `staff` leads it. Nothing in the policy blocks a
    proposal (the engine's "propose" stage only warns); the warnings are kept in the audit entry."""
    _require(actor, "visit.propose")
    # The school's set-up must be safe first (visits/gates.py: the policy, people to alert,
    # the watchdog); refused before anything is written, for the pages and the API alike.
    gates.refuse_unless_ready(actor.school)
    school_id = actor.school_id
    starts_at, ends_at, people = _checked_plan(
        actor, pupil=pupil, purpose=purpose, reason=reason, starts_at=starts_at, ends_at=ends_at, staff=staff,
        responsible_contact=responsible_contact)

    with transaction.atomic():
        visit = Visit.objects.create(
            school_id=school_id, pupil=pupil, purpose=purpose, reason=reason.strip(),
            starts_at=starts_at, ends_at=ends_at, emergency=bool(emergency),
            responsible_contact=responsible_contact, proposed_by=actor, proposed_at=timezone.now(),
        )
        VisitStaff.objects.bulk_create(
            [VisitStaff(visit=visit, staff=member, lead=(i == 0)) for i, member in enumerate(people)]
        )
        evaluation, version = None, actor.school.current_policy()
        if version is not None:
            evaluation = evaluate_visit(visit, stage="propose", policy=version.load())
        audit.record(
            actor=actor, school=visit.school, action=Action.VISIT_PROPOSED, obj=visit, request=request,
            summary=f"{actor.full_name} proposed a visit ({visit.get_purpose_display().lower()}) for {pupil.full_name} "
                    f"on {timezone.localtime(starts_at):%A %-d %B %Y, %H:%M}",
            reason=visit.reason,
            data={
                "to": State.PROPOSED.value,
                "stage": "propose",
                "staff": [m.pk for m in people],
                "policy": version.source_name if version else None,
                "policy_version": version.version if version else None,
                "findings": _findings_data(evaluation),
            },
        )
    return visit


# A headteacher's decision is about the plan it was made on. When the part of the plan it
# judged changes, the decision no longer speaks for the new plan and lapses (rule-id prefixes).
LAPSE_WHEN_CHANGED = {
    "staff": (LONE_VISIT_RULE, "staffing.", "vetting.", "vehicles.", "risk_assessment.lone_working",
              "risk_assessment.safe_word"),
    "when": ("hours.",),
    "purpose": ("approval.purpose", "staffing.dsl", "staffing.transport_escort"),
    "emergency": ("appointment.",),
}


def _plan_snapshot(visit, people) -> dict:
    """One version of a plan as the history keeps it: plain values, names rather than ids."""
    return {
        "purpose": visit.purpose, "reason": visit.reason,
        # In the school's local time whatever zone the value came in: a time read back from the
        # database (UTC) and the same time typed on the form (British Summer Time) must compare equal.
        "starts_at": timezone.localtime(visit.starts_at).isoformat(),
        "ends_at": timezone.localtime(visit.ends_at).isoformat(),
        "staff": [m.full_name for m in people], "emergency": visit.emergency,
        "responsible_contact": visit.responsible_contact.full_name if visit.responsible_contact_id else None,
    }


def _span(starts_at, ends_at) -> str:
    start, end = timezone.localtime(starts_at), timezone.localtime(ends_at)
    return f"{start:%A %-d %B %Y, %H:%M}–{end:%H:%M}"


def _what_changed(before, after, before_visit, after_visit) -> tuple[set[str], list[str]]:
    """The parts of the plan that changed, and a sentence for each in a headteacher's words."""
    parts, words = set(), []
    if (before["starts_at"], before["ends_at"]) != (after["starts_at"], after["ends_at"]):
        parts.add("when")
        words.append(f"the time from {_span(before_visit['starts_at'], before_visit['ends_at'])} to "
                     f"{_span(after_visit['starts_at'], after_visit['ends_at'])}")
    if before["staff"] != after["staff"]:
        parts.add("staff")
        words.append(f"who is going from {and_list(before['staff'])} to {and_list(after['staff'])}")
    if before["purpose"] != after["purpose"]:
        parts.add("purpose")
        words.append(f"the purpose from {PURPOSE_LABELS[before['purpose']].lower()} to {PURPOSE_LABELS[after['purpose']].lower()}")
    if before["reason"] != after["reason"]:
        parts.add("reason")
        words.append("why the visit is needed")
    if before["emergency"] != after["emergency"]:
        parts.add("emergency")
        words.append("marked as an emergency (no appointment possible)" if after["emergency"]
                     else "no longer marked as an emergency")
    if before["responsible_contact"] != after["responsible_contact"]:
        parts.add("contact")
        words.append(f"the responsible contact from {before['responsible_contact'] or 'nobody'} to "
                     f"{after['responsible_contact'] or 'nobody'}")
    return parts, words


def change_plan(actor, visit, *, purpose, reason, starts_at, ends_at, staff, emergency=False,
                responsible_contact=None, request=None) -> Visit:
    """Change the plan of a proposed visit: who goes (the first leads), when, why, whether it is an
    emergency, and the responsible contact. Its proposer and the headteacher or deputy may; the
    pupil stays (a visit to another pupil is another proposal). Every version is kept in the audit
    entry (before and after), a headteacher's decision about a part that changed lapses, a signed
    list no longer covers the visit, and what the policy says about the new plan is recorded."""
    emergency = bool(emergency)
    reason = (reason or "").strip()
    with transaction.atomic():
        locked = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
        _require(actor, "visit.edit", locked)
        if locked.state != State.PROPOSED:
            raise NotAllowed(f"This visit is {State(locked.state).label.lower()}, so its plan cannot be changed; "
                             "only a proposal waiting for approval can be.")
        starts_at, ends_at, people = _checked_plan(
            actor, pupil=locked.pupil, purpose=purpose, reason=reason, starts_at=starts_at, ends_at=ends_at,
            staff=staff, responsible_contact=responsible_contact)
        old_people = visit_staff(locked)
        before = _plan_snapshot(locked, old_people)
        old_times = {"starts_at": locked.starts_at, "ends_at": locked.ends_at}
        locked.purpose, locked.reason, locked.emergency = purpose, reason, emergency
        locked.starts_at, locked.ends_at = starts_at, ends_at
        locked.responsible_contact = responsible_contact
        after = _plan_snapshot(locked, people)
        parts, words = _what_changed(before, after, old_times, {"starts_at": starts_at, "ends_at": ends_at})
        if not parts:
            raise ValidationError("Nothing in the plan has changed.", code="unchanged")

        prefixes = tuple(p for part in parts for p in LAPSE_WHEN_CHANGED.get(part, ()))
        lapsed = [o for o in Override.objects.filter(visit=locked).select_related("by") if prefixes and o.rule.startswith(prefixes)]
        Override.objects.filter(pk__in=[o.pk for o in lapsed]).delete()
        off_list = None
        if locked.visit_list_id:
            visit_list = VisitList.objects.get(pk=locked.visit_list_id)
            if visit_list.is_signed:
                off_list = visit_list.title
        updated = Visit.objects.filter(pk=locked.pk, state=State.PROPOSED).update(
            purpose=purpose, reason=reason, emergency=emergency, starts_at=starts_at, ends_at=ends_at,
            responsible_contact=responsible_contact, updated_at=timezone.now(),
            **({"visit_list": None} if off_list else {}))
        if updated != 1:
            raise NotAllowed("Someone else changed this visit a moment ago: reload the page and try again.")
        if "staff" in parts:
            VisitStaff.objects.filter(visit=locked).delete()
            VisitStaff.objects.bulk_create(
                [VisitStaff(visit=locked, staff=member, lead=(i == 0)) for i, member in enumerate(people)])
        version = locked.school.current_policy()
        evaluation = evaluate_visit(locked, stage="approve", policy=version.load()) if version else None
        summary = f"{actor.full_name} changed the plan for the visit to {locked.pupil.full_name}: " + "; ".join(words)
        if lapsed:
            summary += ". No longer applies, as the plan changed: " + "; ".join(
                f"{o.by.full_name}'s {rule_name(o.rule)}" for o in lapsed)
        if off_list:
            summary += f". Taken off the signed list {off_list!r}: the headteacher signed the plan as it was"
        audit.record(
            actor=actor, school=locked.school, action=Action.VISIT_PLAN_CHANGED, obj=locked, request=request,
            summary=summary,
            data={"before": before, "after": after, "changed": sorted(parts),
                  "lapsed": [{"rule": o.rule, "reason": o.reason, "by": o.by.full_name} for o in lapsed],
                  "off_list": off_list,
                  "policy": version.source_name if version else None,
                  "policy_version": version.version if version else None,
                  "findings": _findings_data(evaluation)},
        )
    visit.refresh_from_db()
    return visit


def _rule_words(rule: str) -> str:
    """What a rule checks, in words (a rule id from an API caller may be unknown: say so plainly)."""
    return RULES[rule][1] if rule in RULES else f"is called {rule!r}, which Doorstep does not know"


def rule_name(rule: str) -> str:
    """A headteacher's decision on a rule, in words: what the school sees instead of the rule's id."""
    if rule == LONE_VISIT_RULE:
        return "authorisation of a lone visit"
    described = RULES.get(rule)
    return f"override of a rule of the policy ({described[1]})" if described else "override of a rule of the policy"


# ------------------------------------------------------------------------- the moves

def approve(actor, visit, *, note="", request=None):
    """Approve a proposed visit. The actor must hold one of the policy's approvers' roles;
    rules that only have to be met before scheduling are warnings at this stage."""
    return transition(visit, State.APPROVED, actor, stage="approve", note=(note or "").strip(), request=request)


def decline(actor, visit, *, reason, request=None):
    return transition(visit, State.DECLINED, actor, reason=reason, request=request)


def schedule(actor, visit, *, appointment_agreed, written_confirmation, agreed_with=None, notes="", request=None):
    """Record the appointment and schedule an approved visit: everything the policy requires
    before the visit goes ahead must be met now (stage "schedule")."""
    if agreed_with is not None and agreed_with.pupil_id != visit.pupil_id:
        raise ValidationError({"agreed_with": "Choose one of this pupil's parents, carers or contacts."})
    if agreed_with is not None and not appointment_agreed:
        raise ValidationError({"appointment_agreed": "Tick this if the appointment was agreed with someone."})
    changes = {
        "appointment_agreed": bool(appointment_agreed),
        "written_confirmation": bool(written_confirmation),
        "appointment_agreed_with": agreed_with,
        "appointment_notes": (notes or "").strip(),
    }
    return transition(visit, State.SCHEDULED, actor, stage="schedule", changes=changes, request=request)


def withdraw(actor, visit, *, reason, request=None):
    """Withdraw a proposed or approved visit. Withdrawing a scheduled visit cancels it
    (an appointment was made, so the family and the people the policy names must be told)."""
    with transaction.atomic():
        if _locked_state(visit) == State.SCHEDULED:
            transition(visit, State.CANCELLED, actor, reason=reason, permission="visit.withdraw",
                       action=Action.VISIT_CANCELLED, request=request)
            _tell_appointment_cancelled(visit, actor)
            return visit
        return transition(visit, State.WITHDRAWN, actor, reason=reason, request=request)


def cancel(actor, visit, *, reason, request=None):
    """Cancel an approved or scheduled visit. Where an appointment was in place (scheduled), the
    people the policy names are told in the same transaction (appointment.changes_notify_roles)."""
    with transaction.atomic():
        had_appointment = _locked_state(visit) == State.SCHEDULED
        transition(visit, State.CANCELLED, actor, reason=reason, request=request)
        if had_appointment:
            _tell_appointment_cancelled(visit, actor)
    return visit


def change_appointment(actor, visit, *, starts_at, ends_at, reason, request=None) -> Visit:
    """Move the agreed appointment of a scheduled visit to another time. The new time is checked
    against the policy as scheduling is (hours, assessments dated before it...), the watch moves
    with it, the change and its reason go into the audit trail, and the people the policy names
    are told (C 3.6: the headteacher; P §4¶8, H annex: the office)."""
    reason = (reason or "").strip()
    errors = {}
    if starts_at is None:
        errors["starts_at"] = "Give the new date and time of the appointment."
    if ends_at is None:
        errors["ends_at"] = "Give the time the visit now ends."
    if starts_at is not None and timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at)
    if ends_at is not None and timezone.is_naive(ends_at):
        ends_at = timezone.make_aware(ends_at)
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = "The visit must end after it starts."
    if starts_at is not None and starts_at < timezone.now():
        errors["starts_at"] = "The new time has already passed."
    if not reason:
        errors["reason"] = "Say why the appointment is changing: it is recorded, and the people your policy names are told."

    with transaction.atomic():
        locked = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
        _require(actor, "visit.schedule", locked)
        if locked.state != State.SCHEDULED:
            raise NotAllowed(f"This visit is {State(locked.state).label.lower()}, so its appointment cannot be changed; "
                             "only a scheduled visit that has not started can be moved.")
        if errors:
            raise ValidationError(errors)
        if (starts_at, ends_at) == (locked.starts_at, locked.ends_at):
            raise ValidationError({"starts_at": "That is the time already agreed."})
        before = (locked.starts_at, locked.ends_at)
        version = policy_version_for(locked)
        locked.starts_at, locked.ends_at = starts_at, ends_at
        evaluation = evaluate_visit(locked, stage="schedule", policy=version.load())
        if not evaluation.allowed:
            raise Refused(evaluation.findings, action="be moved to that time", evaluation=evaluation)
        now = timezone.now()
        updated = Visit.objects.filter(pk=locked.pk, state=State.SCHEDULED).update(
            starts_at=starts_at, ends_at=ends_at, updated_at=now)
        if updated != 1:
            raise NotAllowed("Someone else changed this visit a moment ago: reload the page and try again.")
        # Still scheduled, at a new time: the safety core moves its watch to the new start.
        visit_moved.send(sender=Visit, visit=locked, from_state=State.SCHEDULED, to_state=State.SCHEDULED,
                         actor=actor, now=now)
        entry = audit.record(
            actor=actor, school=locked.school, action=Action.VISIT_APPOINTMENT_CHANGED, obj=locked, reason=reason,
            request=request,
            summary=f"{actor.full_name} moved the appointment for {locked.pupil.full_name} from "
                    f"{_when(before[0])} to {_when(starts_at)}",
            data={"from": [before[0].isoformat(), before[1].isoformat()],
                  "to": [starts_at.isoformat(), ends_at.isoformat()],
                  "policy": version.source_name, "policy_version": version.version,
                  "findings": _findings_data(evaluation)},
        )
        _tell_about_appointment(
            locked, actor, kind="visit.appointment_changed", key=f"visit:{locked.pk}:changed:{entry.pk}",
            subject="A home visit appointment has changed",
            what=f"{actor.full_name} moved a home visit appointment from {_when(before[0])} to {_when(starts_at)}")
    visit.refresh_from_db()
    return visit


def _locked_state(visit) -> str:
    """The visit's state, with its row locked for the rest of the caller's transaction."""
    return Visit.objects.select_for_update(no_key=True).only("state").get(pk=visit.pk).state


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%A %-d %B at %H:%M}"


def _tell_appointment_cancelled(visit, actor):
    _tell_about_appointment(
        visit, actor, kind="visit.appointment_cancelled", key=f"visit:{visit.pk}:cancelled",
        subject="A home visit appointment was cancelled",
        what=f"{actor.full_name} cancelled the home visit appointment on {_when(visit.starts_at)}")


def _tell_about_appointment(visit, actor, *, kind, key, subject, what):
    """Tell the people the policy names that an agreed appointment changed or was cancelled
    (appointment.changes_notify_roles), except the person who did it. The message carries no
    pupil name or address (it may leave the school by text or email): the reason stays on the
    visit. Who was told goes into the audit trail; if nobody holds the role, or the messages
    cannot be written, the change still stands and the audit trail says so."""
    version = policy_version_for(visit)
    policy = version.load()
    roles = policy.appointment.changes_notify_roles.value
    clause = policy.appointment.changes_notify_roles.clause
    people = [s for s in StaffMember.objects.filter(school=visit.school, active=True, roles__role__in=roles)
              .distinct().order_by("full_name") if s.pk != actor.pk]
    told, problem = [], ""
    try:
        with transaction.atomic():
            messages = notify(people, kind=kind, subject=subject,
                              body=f"{what} ({cite(clause)}). The reason is recorded on the visit in Doorstep.",
                              link=reverse("visits:detail", args=[visit.pk]), school=visit.school, idempotency_key=key)
        told = sorted({m.recipient.full_name for m in messages})
    except (ValueError, DatabaseError) as exc:
        logger.exception("Could not tell %s about visit %s's appointment", roles, visit.pk)
        problem = f"the messages could not be written ({exc})"
    if not people and not problem:
        problem = "nobody else on the staff holds the role"
    if problem:
        logger.warning("Nobody was told of the change to visit %s's appointment: %s", visit.pk, problem)
    # On the visit's own trail, so its page shows who heard of the change (or that nobody did).
    audit.record(
        actor=actor, school=visit.school, action=Action.VISIT_APPOINTMENT_TOLD, obj=visit,
        summary=(f"Told {', '.join(told)} of the change to the appointment ({cite(clause)})"
                 if told else f"Nobody was told of the change to the appointment ({cite(clause)}: "
                              f"the {_roles_text(roles)} should hear of it): {problem}"),
        data={"visit": visit.pk, "roles": roles, "clause": clause, "told": told, "problem": problem},
    )


def override(actor, visit, *, rule, reason, request=None) -> Override:
    """A headteacher's decision to set a rule aside for this visit, where the policy allows it,
    with the reason. The engine reads overrides from the plan."""
    reason = (reason or "").strip()
    rule = (rule or "").strip()
    with transaction.atomic():
        locked = Visit.objects.select_for_update().get(pk=visit.pk)
        _require(actor, "visit.override", locked)
        if locked.state not in (State.PROPOSED, State.APPROVED):
            raise NotAllowed(f"A {State(locked.state).label.lower()} visit cannot have a rule overridden.")
        errors = {}
        if not rule:
            errors["rule"] = "Say which rule you are overriding."
        if not reason:
            errors["reason"] = "Give your reason for overriding this rule: it is recorded in the visit's history."
        if errors:
            raise ValidationError(errors)

        version = policy_version_for(locked)
        policy = version.load()
        if rule == LONE_VISIT_RULE:
            _check_lone_visit_allowed(locked, policy)
        else:
            _check_rule_overridable(locked, policy, rule)

        existing = Override.objects.filter(visit=locked, rule=rule).select_related("by").first()
        if existing is not None:
            raise NotAllowed(
                f"{existing.by.full_name} already overrode this rule on "
                f"{timezone.localtime(existing.at):%-d %B %Y at %H:%M}."
            )
        decision = Override.objects.create(visit=locked, rule=rule, reason=reason, by=actor, at=timezone.now())
        what = "authorised a lone visit" if rule == LONE_VISIT_RULE else f"overrode a rule of the policy ({_rule_words(rule)})"
        # The clause the overridden finding cites: a rule's findings cite its key (RULES).
        clause = policy.staffing.lone_visit.clause if rule == LONE_VISIT_RULE else policy.clause(RULES[rule][0])
        audit.record(
            actor=actor, school=locked.school, action=Action.VISIT_OVERRIDE, obj=locked, reason=reason, request=request,
            summary=f"{actor.full_name} {what} for the visit to {locked.pupil.full_name}",
            data={"rule": rule, "clause": clause, "policy": version.source_name,
                  "policy_version": version.version, "override_id": decision.pk},
        )
    return decision


def _check_lone_visit_allowed(visit, policy):
    lone_visit = policy.staffing.lone_visit
    clause = cite(lone_visit.clause)
    if lone_visit.value == "never":
        raise NotAllowed(
            f"This school's policy ({clause}) never allows a lone visit, so a headteacher cannot authorise one. "
            "Add a second member of staff instead."
        )
    if VisitStaff.objects.filter(visit=visit).count() != 1:
        raise ValidationError({"rule": "Only a visit with one member of staff needs a lone visit authorised."})


def _check_rule_overridable(visit, policy, rule):
    """A rule can be overridden only if the policy lists it as overridable (`overrides.rules`)
    and it is among what the engine reports about this visit now."""
    allowed = policy.overrides.rules.value
    if rule not in allowed:
        raise NotAllowed(
            f"This school's policy does not let a headteacher override the rule that {_rule_words(rule)}"
            + (f"; it allows overriding the rule that {' and the rule that '.join(_rule_words(r) for r in allowed)}."
               if allowed else ".")
        )
    reported = {f.rule for f in evaluate_visit(visit, stage="schedule", policy=policy).findings}
    if rule not in reported:
        raise ValidationError({"rule": f"The policy raises nothing about this visit under the rule that {_rule_words(rule)}, "
                                       "so there is nothing to override."})


def authorise_lone_visit(actor, visit, *, reason, request=None) -> Override:
    """A headteacher decides that one member of staff may go alone (e.g. P §4¶1), with a reason."""
    return override(actor, visit, rule=LONE_VISIT_RULE, reason=reason, request=request)


# ------------------------------------------------------------------------- visit lists

LISTABLE_STATES = (State.PROPOSED, State.APPROVED, State.SCHEDULED)


def _check_listable(visit_list, visit):
    if visit.school_id != visit_list.school_id:
        raise ValidationError({"visits": "Only your school's visits can go on its visit list."})
    if visit.state not in LISTABLE_STATES:
        raise ValidationError({"visits": f"The {visit} is {State(visit.state).label.lower()}, so it cannot go on a list."})
    if visit.visit_list_id and visit.visit_list_id != visit_list.pk:
        raise ValidationError({"visits": f"The {visit} is already on the list {visit.visit_list.title!r}."})


def create_visit_list(actor, *, title, visits, request=None) -> VisitList:
    """Compile a list of visits for the headteacher to sign (C 3.2)."""
    _require(actor, "visitlist.create")
    title = (title or "").strip()
    visits = list(visits or [])
    if not title:
        raise ValidationError({"title": "Give the list a title, e.g. Attendance visits, week of 23 November."})
    if not visits:
        raise ValidationError({"visits": "Choose at least one visit for the list."})
    with transaction.atomic():
        visit_list = VisitList.objects.create(school_id=actor.school_id, title=title, created_by=actor,
                                              created_at=timezone.now())
        locked = list(Visit.objects.select_for_update().filter(pk__in=[v.pk for v in visits]))
        for visit in locked:
            _check_listable(visit_list, visit)
        Visit.objects.filter(pk__in=[v.pk for v in locked]).update(visit_list=visit_list, updated_at=timezone.now())
        audit.record(
            actor=actor, school=visit_list.school, action=Action.VISITLIST_CREATED, obj=visit_list, request=request,
            summary=f"{actor.full_name} compiled the visit list {title!r} with {len(locked)} visit(s)",
            data={"visits": [v.pk for v in locked]},
        )
    for visit in visits:
        visit.visit_list = visit_list
    return visit_list


def _lock_list(visit_list):
    return VisitList.objects.select_for_update().get(pk=visit_list.pk)


def _signed_message(visit_list):
    return (f"The list {visit_list.title!r} was signed by {_name(visit_list.signed_by)} on "
            f"{timezone.localtime(visit_list.signed_at):%-d %B %Y}; a signed list is closed. "
            "Put the visit on a new list for the headteacher to sign.")


def add_to_visit_list(actor, visit_list, visit, request=None) -> VisitList:
    _require(actor, "visitlist.create", visit_list)
    with transaction.atomic():
        locked_list = _lock_list(visit_list)
        if locked_list.is_signed:
            raise ValidationError({"visit_list": _signed_message(locked_list)}, code="signed")
        locked = Visit.objects.select_for_update().get(pk=visit.pk)
        _check_listable(locked_list, locked)
        Visit.objects.filter(pk=locked.pk).update(visit_list=locked_list, updated_at=timezone.now())
        audit.record(
            actor=actor, school=locked_list.school, action=Action.VISITLIST_VISIT_ADDED, obj=locked_list, request=request,
            summary=f"{actor.full_name} added the visit for {locked.pupil.full_name} to {locked_list.title!r}",
            data={"visit": locked.pk},
        )
    visit.visit_list = locked_list
    return locked_list


def sign_visit_list(actor, visit_list, request=None) -> VisitList:
    """The headteacher signs the compiled list before any visit on it happens (C 3.3)."""
    _require(actor, "visitlist.sign", visit_list)
    with transaction.atomic():
        locked = _lock_list(visit_list)
        if locked.is_signed:
            raise NotAllowed(_signed_message(locked).split(";")[0] + " already.")
        count = locked.visits.count()
        if count == 0:
            raise ValidationError({"visits": "This list has no visits on it to sign."})
        now = timezone.now()
        updated = VisitList.objects.filter(pk=locked.pk, signed_at__isnull=True).update(signed_by=actor, signed_at=now)
        if updated != 1:
            raise NotAllowed(_signed_message(VisitList.objects.select_related("signed_by").get(pk=locked.pk)))
        locked.signed_by, locked.signed_at = actor, now
        audit.record(
            actor=actor, school=locked.school, action=Action.VISITLIST_SIGNED, obj=locked, request=request,
            summary=f"{actor.full_name} signed the visit list {locked.title!r} ({count} visit(s))",
            data={"visits": list(locked.visits.values_list("pk", flat=True))},
        )
    visit_list.signed_by, visit_list.signed_at = locked.signed_by, locked.signed_at
    return visit_list


# ------------------------------------------------------------------------- leavers' visits

# A visit in these states can still change hands; one under way cannot (its people are out).
REASSIGNABLE = (State.PROPOSED, State.APPROVED, State.SCHEDULED)


def _finding_keys(evaluation):
    return {(f.rule, f.message) for f in evaluation.findings if f.severity == "block"}


def reassign(actor, visit, *, leaving, replacement, request=None) -> Visit:
    """Put `replacement` on the visit in the place of `leaving` (someone who is leaving the
    school), keeping who leads. Those who keep the staff register do it (staff.edit), from the
    leaver's page, so that the leaver can then be marked as left (accounts.leavers).

    The visit is judged with the new team at the scheduling stage (everything it needs before
    it goes ahead), under the policy version it is held to. Refused (Refused, naming each rule
    and clause) if the replacement brings a block the old team did not have: no in-date DBS or
    barred-list check, no training, no lone-working assessment, a pairing the policy forbids.
    Blocks that were there already (an approval or appointment still to come) are left for the
    usual steps. NotAllowed: who may, the visit's state, a change by someone else meanwhile;
    ValidationError: a replacement who cannot go (another school's, left, already on it)."""
    with transaction.atomic():
        locked = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
        _require(actor, "staff.edit", locked)
        if locked.state not in REASSIGNABLE:
            raise NotAllowed(f"This visit is {State(locked.state).label.lower()}, so its staff can no longer change"
                             + (": wait until it has ended." if locked.state == State.UNDER_WAY else "."))
        if replacement is None:
            raise ValidationError({"replacement": "Choose who goes instead."})
        # Locked so that nobody marks the replacement as left while they are being given the visit.
        person = StaffMember.objects.select_for_update(of=("self",)).filter(pk=replacement.pk).first()
        if person is None or person.school_id != locked.school_id:
            raise ValidationError({"replacement": "Choose someone on your school's staff."})
        if not person.active:
            raise ValidationError({"replacement": f"{person.full_name} has left the school."})
        if person.pk == leaving.pk:
            raise ValidationError({"replacement": f"Choose someone other than {leaving.full_name}."})
        assignment = VisitStaff.objects.filter(visit=locked, staff=leaving).first()
        if assignment is None:
            raise NotAllowed(f"{leaving.full_name} is no longer on this visit: someone changed it a moment ago. "
                             "Reload the page.")
        if VisitStaff.objects.filter(visit=locked, staff=person).exists():
            raise ValidationError({"replacement": f"{person.full_name} is already on this visit. Choose someone else, "
                                                  "or withdraw the visit."})
        version = policy_version_for(locked)
        policy = version.load()
        before = evaluate_visit(locked, stage="schedule", policy=policy)
        VisitStaff.objects.filter(pk=assignment.pk).update(staff=person)
        after = evaluate_visit(locked, stage="schedule", policy=policy)
        known = _finding_keys(before)
        new = [f for f in after.findings if f.severity == "block" and (f.rule, f.message) not in known]
        if new:
            # The exception leaves the atomic block, which undoes the swap above.
            raise Refused(new, action=f"go to {person.full_name} instead", evaluation=after)
        now = timezone.now()
        Visit.objects.filter(pk=locked.pk).update(updated_at=now)
        visit_team_changed.send(sender=Visit, visit=locked, leaving=leaving, replacement=person, actor=actor, now=now)
        audit.record(
            actor=actor, school=locked.school, action=Action.VISIT_REASSIGNED, obj=locked, request=request,
            summary=f"{actor.full_name} put {person.full_name} on the visit for {locked.pupil.full_name} on "
                    f"{_when(locked.starts_at)} in place of {leaving.full_name}, who is leaving",
            data={"from": leaving.pk, "to": person.pk, "lead": assignment.lead, "state": locked.state,
                  "policy": version.source_name, "policy_version": version.version,
                  "findings": _findings_data(after)},
        )
    visit.refresh_from_db()
    return visit


def withdraw_for_leaver(actor, visit, *, leaving, reason, request=None) -> Visit:
    """Withdraw (or, once booked, cancel) a visit so that `leaving` can be marked as left: as
    withdraw() and cancel() do, but asked of those who keep the staff register, who may not
    otherwise withdraw visits. A booked appointment's cancellation is told as cancel() tells it."""
    reason = (reason or "").strip()
    with transaction.atomic():
        state = _locked_state(visit)
        if not VisitStaff.objects.filter(visit=visit, staff=leaving).exists():
            raise NotAllowed(f"{leaving.full_name} is no longer on this visit: someone changed it a moment ago. "
                             "Reload the page.")
        if state == State.SCHEDULED:
            transition(visit, State.CANCELLED, actor, reason=reason, permission="staff.edit",
                       action=Action.VISIT_CANCELLED, request=request)
            _tell_appointment_cancelled(visit, actor)
            return visit
        return transition(visit, State.WITHDRAWN, actor, reason=reason, permission="staff.edit", request=request)
