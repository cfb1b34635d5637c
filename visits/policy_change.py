"""What a change of policy means for the school's visits: the draft tried on the visits ahead,
and, once a new version is published, the visits already approved re-checked against it with
the headteacher told of any it would now block (docs/policy-format.md, "Changing the policy on
the policy page").

Visits keep the version they were approved under (policies.services.policy_version_for and
recorded_policy): that is what they are judged by until someone acts, and what they record.
Publishing does not silently move them; it tells the headteacher which ones the new version
would block, with a link to each, so that a person decides (withdraw, re-propose, override
with a reason). The message carries no pupil's name or address.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from notify.models import Channel
from notify.services import notify
from people.models import StaffMember
from policies import drafts
from policies.models import SchoolPolicy
from policy_engine import Evaluation, Policy
from schools.models import School

from .models import Visit, VisitStaff
from .services import evaluate_visit

logger = logging.getLogger(__name__)
State = Visit.State
AHEAD = (State.PROPOSED, State.APPROVED, State.SCHEDULED)
APPROVED = (State.APPROVED, State.SCHEDULED)


def _stage(visit: Visit) -> str:
    return "schedule" if visit.state == State.SCHEDULED else "approve"


def visits_ahead(school: School, states: tuple[str, ...] = AHEAD) -> list[Visit]:
    return list(Visit.objects.filter(school=school, state__in=states, ends_at__gte=timezone.now())
                .select_related("school", "policy_version", "pupil").order_by("starts_at", "pk"))


@dataclass
class Tried:
    """One visit ahead, judged by the policy it is judged by now and by the draft."""

    visit: Visit
    now: Evaluation
    draft: Evaluation

    @property
    def newly_blocked(self) -> bool:
        return self.now.allowed and not self.draft.allowed

    @property
    def draft_blocks(self) -> list[Any]:
        return [f for f in self.draft.findings if f.severity == "block"]


def try_policy(school: School, policy: Policy, visits: list[Visit] | None = None) -> list[Tried]:
    """The live check of the proposal page (visits.services.evaluate_visit), run for each visit
    ahead against its own policy and against `policy`. Nothing is written."""
    out = []
    for visit in visits_ahead(school) if visits is None else visits:
        stage = _stage(visit)
        out.append(Tried(visit=visit, now=evaluate_visit(visit, stage=stage), draft=evaluate_visit(visit, stage=stage, policy=policy)))
    return out


@dataclass
class PlanTried:
    """An example plan typed on the policy page, judged as the proposal page judges a plan
    (approval assumed), by the current version (None: the school has none yet) and by the draft."""

    now: Evaluation | None
    draft: Evaluation
    version: int | None


def _as_if_approved(evaluation: Evaluation) -> Evaluation:
    # The approval is what the approver is about to give: as on the proposal page, it is not
    # among what the plan is judged on.
    findings = [f for f in evaluation.findings if f.rule != "approval.approver"]
    return Evaluation(policy=evaluation.policy, policy_version=evaluation.policy_version,
                      allowed=not any(f.severity == "block" for f in findings), findings=findings)


def try_plan(actor: StaffMember, policy: Policy, *, pupil: Any, purpose: str, reason: str, starts_at: Any,
             ends_at: Any, staff: list[StaffMember], emergency: bool = False, responsible_contact: Any = None,
             appointment_agreed: bool = False, written_confirmation: bool = False) -> PlanTried:
    """The example plan as a visit that is never kept: written and read back inside a
    transaction that is rolled back, so that the engine sees exactly what a proposal would give
    it (the pupil's risk assessments and household, each person's DBS, training and vehicle),
    then judged against the current version and the draft. Not visits.services.propose: that
    refuses a school not yet ready to propose, which is when a first policy is being written,
    and would write an audit entry for a visit nobody proposed. Nothing is written."""
    school = actor.school
    if pupil.school_id != school.pk or any(s.school_id != school.pk for s in staff) or \
            (responsible_contact is not None and responsible_contact.school_id != school.pk):
        raise ValueError("An example plan is made of the school's own pupils and staff.")
    current = school.current_policy()
    with transaction.atomic():
        visit = Visit.objects.create(
            school=school, pupil=pupil, purpose=purpose, reason=reason or "An example plan", starts_at=starts_at,
            ends_at=ends_at, emergency=emergency, responsible_contact=responsible_contact, proposed_by=actor,
            proposed_at=timezone.now(), appointment_agreed=appointment_agreed,
            written_confirmation=written_confirmation)
        VisitStaff.objects.bulk_create([VisitStaff(visit=visit, staff=m, lead=(i == 0)) for i, m in enumerate(staff)])
        now = _as_if_approved(evaluate_visit(visit, stage="approve", policy=current.load())) if current else None
        draft = _as_if_approved(evaluate_visit(visit, stage="approve", policy=policy))
        transaction.set_rollback(True)
    return PlanTried(now=now, draft=draft, version=current.version if current else None)


def _when(visit: Visit) -> str:
    return f"{timezone.localtime(visit.starts_at):%A %-d %B %Y at %H:%M}"


def recheck_after_publishing(actor: StaffMember | None, version: SchoolPolicy, request: Any = None) -> list[Tried]:
    """Re-check the school's approved and scheduled visits ahead against the version just
    published; tell the headteacher (in Doorstep and by email) of each it would block that its
    own version allows. The publication stands whatever happens here; a message that cannot be
    written is logged and said in the audit trail, never swallowed. `actor` is None when the
    version came from `doorstep set_policy` on the server."""
    school = version.school
    policy = version.load()
    checked = [t for t in try_policy(school, policy, visits_ahead(school, APPROVED))
               if t.visit.policy_version_id != version.pk]
    blocked = [t for t in checked if t.newly_blocked]
    told: list[str] = []
    problem = ""
    if blocked:
        heads = list(StaffMember.objects.filter(school=school, active=True, roles__role="headteacher").distinct())
        lines = [f"- {_when(t.visit)}: {t.visit.get_purpose_display().lower()} visit, {reverse('visits:detail', args=[t.visit.pk])}"
                 for t in blocked]
        who = actor.full_name if actor is not None else "Someone on the server (doorstep set_policy)"
        body = (f"{who} published version {version.version} of the school's home-visit policy"
                f"{' (' + version.reason + ')' if version.reason else ''}. {len(blocked)} visit{'s' if len(blocked) != 1 else ''} already approved "
                f"under an earlier version would not be allowed under it:\n" + "\n".join(lines)
                + "\nThey keep the version they were approved under until you act: open each visit to withdraw it, "
                  "change it or record an override with a reason.")
        try:
            with transaction.atomic():
                messages = notify(heads, kind="policy.visits_blocked", school=school,
                                  subject=f"Policy version {version.version}: {len(blocked)} approved visit(s) now blocked",
                                  body=body, link=reverse("visits:detail", args=[blocked[0].visit.pk]),
                                  idempotency_key=f"policy:{version.pk}:recheck",
                                  channels=[Channel.IN_APP, Channel.EMAIL])
            told = sorted({m.recipient.full_name for m in messages})
        except (ValueError, DatabaseError) as exc:
            logger.exception("Could not tell the headteacher of visits blocked by policy version %s", version.pk)
            problem = f"the messages could not be written ({exc})"
        if not heads and not problem:
            problem = "nobody on the staff is the headteacher"
        if problem:
            logger.warning("Nobody was told of %d visit(s) blocked by policy version %s: %s", len(blocked), version.pk, problem)
    audit.record(
        actor=actor, school=school, action=Action.POLICY_VISITS_RECHECKED, obj=version,
        summary=(f"Re-checked {len(checked)} approved visit(s) against policy version {version.version}: "
                 f"{len(blocked)} now blocked" + (f"; told {', '.join(told)}" if told else "")
                 + (f"; nobody told: {problem}" if problem else "")),
        data={"version": version.version, "checked": [t.visit.pk for t in checked],
              "blocked": [t.visit.pk for t in blocked], "told": told, "problem": problem},
        request=request,
    )
    return blocked


def publish(actor: StaffMember, school: School, reason: str, request: Any = None) -> tuple[SchoolPolicy, list[Tried]]:
    """Publish the school's draft (policies.drafts.publish), then re-check the visits already
    approved against it."""
    version = drafts.publish(actor, school, reason, request=request)
    return version, recheck_after_publishing(actor, version, request=request)
