"""The demo's visits, made through visits.services exactly as staff would make them, so
that each one has passed the rule engine and left a real audit trail.

Each school gets a visit in every state the approval flow knows: proposed (with findings
for the headteacher to read), approved, declined, scheduled, withdrawn and cancelled.
"""
import datetime
from typing import NotRequired, TypedDict

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone

from visits import services

from .calendar import school_days



class Plan(TypedDict):
    pupil: int                      # index into the school's demo pupils
    purpose: str
    day: int                        # the n-th school day after today
    at: tuple[int, int]             # hour, minute
    staff: list[str]                # keys of the demo staff
    proposer: str
    reason: str
    steps: list[tuple[str, ...]]    # (action, who) or (action, who, reason), in order
    emergency: NotRequired[bool]


# Who does what, per school. Pupil numbers index the demo pupils: 0-2 have persistent
# absence, 3-6 patchy attendance; 0-7 have a home-visit risk assessment, 4's is stale.
PLANS: dict[str, list[Plan]] = {
    "coteford": [
        # Coteford: always two staff (C 2.10), attendance visits only (C 3.1), the headteacher
        # signs the compiled visit list (C 3.3), appointment with written confirmation (C 2.6).
        Plan(pupil=0, purpose="attendance", day=2, at=(10, 0), staff=["attendance", "dsl"], proposer="attendance",
             reason="Attendance has fallen below 70 % this term with no contact from home; the dog is to be "
                    "shut away before we go in.",
             steps=[("approve", "head"), ("list", "office"), ("schedule", "attendance")]),
        Plan(pupil=1, purpose="attendance", day=4, at=(13, 30), staff=["attendance", "deputy"], proposer="attendance",
             reason="Persistent absence; letters unanswered. Mother's partner has been aggressive: two staff, "
                    "do not go in if he is there.",
             steps=[("approve", "deputy")]),
        Plan(pupil=2, purpose="attendance", day=3, at=(9, 30), staff=["attendance", "teacher"], proposer="attendance",
             reason="Ten sessions missed in October without explanation.",
             steps=[("approve", "head"), ("list", "office"), ("schedule", "attendance"),
                    ("cancel", "attendance", "Mother rang the office: she is in hospital this week. "
                                            "A new date will be agreed when she is home.")]),
        Plan(pupil=3, purpose="attendance", day=5, at=(14, 0), staff=["teacher", "family"], proposer="teacher",
             reason="Attendance just under 90 %; several Monday absences.",
             steps=[("decline", "head", "Attendance has improved since the reminder letter; invite the parents "
                                        "to a meeting in school first.")]),
        Plan(pupil=5, purpose="attendance", day=6, at=(10, 30), staff=["teacher", "attendance"], proposer="teacher",
             reason="Family struggling with mornings; offer support with the routine.",
             steps=[("approve", "head"), ("withdraw", "teacher", "Mother came into school on Monday and we met "
                                                                "there instead; no visit needed.")]),
        Plan(pupil=4, purpose="attendance", day=7, at=(11, 0), staff=["family", "attendance"], proposer="family",
             reason="Attendance below 90 % for three months; the family have a new dog.",
             steps=[]),  # proposed: stale risk assessment, expired car insurance, no appointment yet
        Plan(pupil=6, purpose="attendance", day=3, at=(15, 0), staff=["attendance"], proposer="attendance",
             reason="Quick doorstep call to drop off the attendance letter.",
             steps=[]),  # proposed: one member of staff, which Coteford never allows
    ],
    "potton": [
        # Potton: two staff unless the headteacher authorises a lone visit with a lone-working
        # assessment in place (P §4¶1-2); the DSL goes on safeguarding visits (P §8¶2).
        Plan(pupil=0, purpose="attendance", day=2, at=(9, 45), staff=["attendance"], proposer="attendance",
             reason="Persistent absence; mother has agreed to see the education welfare officer at home.",
             steps=[("authorise_lone", "head", "Mother asked for one person only; Joe knows the family well and "
                                               "his lone-working assessment is current."),
                    ("approve", "head"), ("schedule", "attendance")]),
        Plan(pupil=1, purpose="safeguarding", day=3, at=(13, 0), staff=["dsl", "attendance"], proposer="dsl",
             reason="Pupil disclosed arguments at home; the DSL wants to see the home and speak to mother.",
             steps=[("approve", "head")]),
        Plan(pupil=2, purpose="child_protection", day=4, at=(10, 0), staff=["family", "teacher"], proposer="family",
             reason="Core group asked school to visit as part of the child protection plan.",
             steps=[]),  # proposed: no DSL on a child-protection visit; barred list not checked
        Plan(pupil=3, purpose="meeting_at_home", day=5, at=(15, 15), staff=["teacher", "family"], proposer="teacher",
             reason="Parent evening missed; father works shifts and cannot come to school.",
             steps=[("decline", "head", "Father can join a video call on Thursday evening instead.")]),
        Plan(pupil=5, purpose="early_help", day=6, at=(11, 0), staff=["dsl", "teacher"], proposer="dsl",
             reason="Early help assessment: family asked for support with housing.",
             steps=[("approve", "head"), ("withdraw", "dsl", "The family now work with the council's "
                                                            "early help team, who will visit.")]),
        Plan(pupil=7, purpose="attendance", day=4, at=(14, 0), staff=["attendance", "teacher"], proposer="attendance",
             reason="Unexplained absences on Fridays.",
             steps=[("approve", "head"), ("schedule", "attendance"),
                    ("cancel", "attendance", "Pupil returned to school on Monday; the visit is no longer needed.")]),
        Plan(pupil=6, purpose="welfare_check", day=1, at=(11, 30), staff=["attendance", "dsl"], proposer="dsl",
             reason="Absent three days, no contact, phones off. Welfare check today.", emergency=True,
             steps=[]),
    ],
}


def upcoming_school_day(today, n):
    """The n-th school day after today."""
    days = school_days(today + datetime.timedelta(days=1), today + datetime.timedelta(days=60))
    for i, day in enumerate(days, start=1):
        if i == n:
            return day
    raise CommandError("No school days in the next two months to put demo visits on")


def make_visits(demo, school, spec, staff, pupils):
    def run(what, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (services.Refused, services.NotAllowed, ValidationError) as exc:
            message = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [])) or str(exc)
            raise CommandError(f"The demo could not {what} at {school}: {message}") from exc

    made = 0
    signed_list_visits = []
    pending_schedules = []
    for plan in PLANS[spec["key"]]:
        pupil = pupils[plan["pupil"]]
        day = upcoming_school_day(demo.today, plan["day"])
        hour, minute = plan["at"]
        starts = timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))
        visit = run(
            f"propose a visit for {pupil}", services.propose, staff[plan["proposer"]],
            pupil=pupil, purpose=plan["purpose"], reason=plan["reason"], starts_at=starts,
            ends_at=starts + datetime.timedelta(minutes=45), staff=[staff[s] for s in plan["staff"]],
            emergency=plan.get("emergency", False),
        )
        made += 1
        steps = list(plan["steps"])
        # Steps up to a visit list run now; the rest wait until the list is signed.
        while steps:
            step = steps.pop(0)
            if step[0] == "list":
                signed_list_visits.append(visit)
                pending_schedules.append((visit, pupil, steps))
                break
            do_step(run, services, staff, visit, pupil, step)
    if signed_list_visits:
        # Compiled by the office, signed by the headteacher before any visit on it (C 3.2, C 3.3).
        week = upcoming_school_day(demo.today, 1)
        visit_list = run("compile the visit list", services.create_visit_list, staff["office"],
                         title=f"Attendance visits from {week:%-d %B %Y}", visits=signed_list_visits)
        run("sign the visit list", services.sign_visit_list, staff["head"], visit_list)
        for visit, pupil, steps in pending_schedules:
            for step in steps:
                do_step(run, services, staff, visit, pupil, step)
    return made


def do_step(run, services, staff, visit, pupil, step):
    action, who, *reason = step
    actor = staff[who]
    what = f"{action.replace('_', ' ')} the visit for {pupil}"
    if action == "approve":
        run(what, services.approve, actor, visit)
    elif action == "authorise_lone":
        run(what, services.authorise_lone_visit, actor, visit, reason=reason[0])
    elif action == "schedule":
        contact = pupil.contacts.order_by("priority").first()
        run(what, services.schedule, actor, visit, appointment_agreed=True, written_confirmation=True,
            agreed_with=contact, notes=f"Agreed by phone with {contact.name}; confirmation letter sent.")
    elif action in ("decline", "withdraw", "cancel"):
        run(what, getattr(services, action), actor, visit, reason=reason[0])
    else:
        raise CommandError(f"Unknown demo step {action!r}")
    visit.refresh_from_db()
