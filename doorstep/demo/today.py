"""The demo's visits under way today, so the office board has something to show: in each
school one visit overdue with an open alert, one going fine, and one on the doorstep.

Made the way staff would make them: proposed, approved and scheduled through
visits.services (the policy engine runs), then events recorded through
safety.recording.record_event with their times earlier today, and the overdue alert raised
by one pass of the watchdog. Called from doorstep/management/commands/load_demo.py.
"""
import datetime
from typing import TypedDict

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone

from notify.models import Message
from safety import recording, watchdog
from safety.alerts.models import Alert
from visits import services


class Plan(TypedDict):
    name: str
    ago: int                                  # minutes before now that the visit started
    staff: list[str]                          # the pair, as keys of the demo staff
    pupil: int                                # index into the school's demo pupils
    events: list[tuple[str, int, str, str]]   # (type, minutes after the start, who, via)


# Pupils 0-3 have current home-visit risk assessments.
PLANS: dict[str, list[Plan]] = {
    "coteford": [
        # Inside since the start; the 20-minute check-in (C 2.4) was missed: overdue.
        Plan(name="overdue", ago=35, staff=["attendance", "dsl"], pupil=0,
             events=[("left_school", -15, "attendance", "phone"), ("arrived", 0, "attendance", "phone"),
                     ("entered", 1, "attendance", "phone")]),
        Plan(name="fine", ago=12, staff=["teacher", "deputy"], pupil=2,
             events=[("left_school", -15, "teacher", "phone"), ("arrived", 0, "teacher", "phone"),
                     ("entered", 2, "deputy", "phone"), ("check_in", 10, "teacher", "phone")]),
        # The parent did not answer: the 20-minute wait (C 3.4) is running.
        Plan(name="doorstep", ago=4, staff=["head", "dsl"], pupil=3,
             events=[("left_school", -10, "head", "phone"), ("arrived", 0, "head", "phone"),
                     ("parent_not_home", 2, "dsl", "phone")]),
    ],
    "potton": [
        # The parent rang to say they are running late. Recorded first: Potton has four
        # trained visitors for three pairs, and nobody records arriving while recorded as
        # at another home (safety.events.refuse_second_home).
        Plan(name="doorstep", ago=3, staff=["dsl", "deputy"], pupil=3,
             events=[("left_school", -12, "dsl", "phone"), ("arrived", 0, "dsl", "phone"),
                     ("parent_late_notice", 1, "dsl", "phone")]),
        # The office's call 10 minutes after the start (P §4¶7) was not made.
        Plan(name="overdue", ago=25, staff=["attendance", "deputy"], pupil=0,
             events=[("left_school", -15, "attendance", "phone"), ("arrived", 0, "attendance", "phone"),
                     ("entered", 1, "attendance", "phone")]),
        Plan(name="fine", ago=20, staff=["head", "dsl"], pupil=2,
             events=[("left_school", -10, "head", "phone"), ("arrived", 0, "head", "phone"),
                     ("entered", 1, "dsl", "phone"), ("check_in", 10, "office", "office_call")]),
    ],
}


def _approve(head, visit):
    """Approve, as the headteacher would. The visits start "now", so a demo loaded after school
    hours (an evening `make run`, a CI run in the afternoon) gets visits outside them: where the
    policy lets the headteacher set the hours rule aside with a reason (Potton, P §3¶5), the
    demo records that override, as a school would for a visit that cannot wait."""
    try:
        services.approve(head, visit)
    except services.Refused as exc:
        hours = [f.rule for f in exc.blocking if f.rule.startswith("hours.")]
        if not hours or len(hours) != len(exc.blocking):
            raise
        for rule in hours:
            services.override(head, visit, rule=rule, reason="Demo: the family can only be seen now, after school; "
                                                              "the office checks on the staff until they are back.")
        services.approve(head, visit)


def load_under_way(demo, school, spec, staff, pupils):
    """Add today's visits under way to one demo school; returns how many."""
    now = demo.now
    made = []
    for plan in PLANS[spec["key"]]:
        pupil = pupils[plan["pupil"]]
        starts = (now - datetime.timedelta(minutes=plan["ago"])).replace(second=0, microsecond=0)
        # Not before today: a visit approved today cannot have started yesterday (C 2.1), so
        # just after midnight the demo's visits start at midnight and are not overdue yet.
        starts = max(starts, timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), datetime.time())))
        what = f"start the {plan['name']} visit under way at {school}"
        try:
            visit = services.propose(
                staff[plan["staff"][0]], pupil=pupil, purpose="attendance",
                reason="Absent since Monday with no word from home; phones go to voicemail.",
                starts_at=starts, ends_at=starts + datetime.timedelta(minutes=60),
                staff=[staff[s] for s in plan["staff"]],
                # The office checks on them: Potton asks for a named contact outside school hours (P §3¶5).
                responsible_contact=staff["office"],
            )
            _approve(staff["head"], visit)
            if spec["key"] == "coteford":  # the headteacher signs the visit list first (C 3.3)
                visit_list = services.create_visit_list(staff["office"], title=f"Today's visit ({plan['name']})",
                                                        visits=[visit])
                services.sign_visit_list(staff["head"], visit_list)
            contact = pupil.contacts.order_by("priority").first()
            services.schedule(staff[plan["staff"][0]], visit, appointment_agreed=True, written_confirmation=True,
                              agreed_with=contact, notes="Agreed by phone this morning.")
        except (services.Refused, services.NotAllowed, ValidationError) as exc:
            message = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [])) or str(exc)
            raise CommandError(f"The demo could not {what}: {message}") from exc
        for kind, minutes, who, via in plan["events"]:
            recording.record_event(visit, kind, by=staff[who], via=via,
                                  staff=None if via == "office_call" else staff[who],
                                  at=min(now, starts + datetime.timedelta(minutes=minutes)),
                                  location="Outside the house" if kind == "arrived" else "")
        made.append(visit)
    watchdog.poll(now)  # the watchdog's first pass raises the overdue visit's alert
    return len(made)


def remove(school_ids):
    """What the safety core and its messages hold for the demo schools, before the demo's
    staff and visits are removed (`load_demo --reset`)."""
    Message.objects.filter(school__in=school_ids).delete()
    Alert.objects.filter(school__in=school_ids).delete()
