"""The demo's finished visit at Coteford: one that went ahead earlier today, with its report,
the agreement made with the family and, the agreement not kept, the reminder letter Doorstep
prepares for the headteacher (C 4.2). Without it the demo has no report, agreement or letter to
open, print or time (docs/benchmarks.md times every page and PDF with the demo).

Made as staff make them: the visit proposed, approved, put on a signed list and scheduled
through visits.services, its events recorded through safety.recording, the report, agreement
and review through reports.services. Called from doorstep/management/commands/load_demo.py,
before today's visits under way, as its pair were back at school before those began."""
import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone

from reports import services as reports
from reports.models import Agreement, ChronologyNote, Concern, Filing, Letter, VisitReport
from safety import recording
from visits import services

PUPIL = 1  # persistent absence, letters unanswered (doorstep.demo.visits)
PAIR = ["attendance", "teacher"]
HOURS_AGO = 4
# (type, minutes after the start, who): both go in, check in and leave the home, which ends the
# visit where the policy asks for no back-safe call (Coteford).
EVENTS = [("left_school", -15, "attendance"), ("arrived", 0, "attendance"), ("entered", 1, "teacher"),
          ("check_in", 15, "attendance"), ("left_home", 40, "attendance"), ("left_home", 40, "teacher")]


def load_finished(demo, school, spec, staff, pupils) -> int:
    """Coteford's finished visit with its records; returns how many visits it made (0 elsewhere)."""
    if spec["key"] != "coteford":
        return 0
    pupil = pupils[PUPIL]
    # The clock now, not the demo's start: approvals are stamped with it, and a demo loaded across
    # midnight would otherwise approve today a visit it dated yesterday (C 2.1 refuses that).
    now = timezone.now()
    today = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), datetime.time()))
    # Not before today (a visit approved today cannot have started yesterday, C 2.1): just after
    # midnight it starts at midnight and its events are all recorded "now".
    starts = max((now - datetime.timedelta(hours=HOURS_AGO)).replace(second=0, microsecond=0), today)
    try:
        visit = services.propose(
            staff[PAIR[0]], pupil=pupil, purpose="attendance",
            reason="Persistent absence; two letters home unanswered. See mother at home to agree a plan.",
            starts_at=starts, ends_at=starts + datetime.timedelta(minutes=60), staff=[staff[s] for s in PAIR],
            responsible_contact=staff["office"],
        )
        services.approve(staff["head"], visit)
        visit_list = services.create_visit_list(staff["office"], title="Today's visit (finished)", visits=[visit])
        services.sign_visit_list(staff["head"], visit_list)
        contact = pupil.contacts.order_by("priority").first()
        services.schedule(staff[PAIR[0]], visit, appointment_agreed=True, written_confirmation=True,
                          agreed_with=contact, notes="Agreed by phone; confirmation letter sent.")
        for kind, minutes, who in EVENTS:
            recording.record_event(visit, kind, by=staff[who], staff=staff[who],
                                   at=min(now, starts + datetime.timedelta(minutes=minutes)),
                                   location="Outside the house" if kind == "arrived" else "")
        visit.refresh_from_db()
        reports.submit_report(staff[PAIR[0]], visit, {
            "people_present": f"{contact.name if contact else 'Mother'} and the pupil",
            "child_seen": "yes", "child_spoken_to": "yes",
            "summary": "Mornings are hard: mother starts work at 7:30 and the older brother is meant to bring "
                       "the pupil in. The pupil says school is fine and misses friends.",
            "actions_agreed": "Breakfast club every day from Monday; mother rings the office by 9:00 on any day "
                              "of absence.",
            "follow_up_actions": "Attendance officer checks the register daily for two weeks.",
        })
        agreement = reports.record_agreement(
            staff[PAIR[0]], visit, text="The pupil comes to breakfast club every day; mother rings the office by "
                                        "9:00 on any day of absence.",
            review_on=timezone.localdate(now).isoformat(),
        )
        reports.review_agreement(agreement, kept=False, actor=staff["head"],
                                 outcome="Two days missed this week and no call to the office.")
    except (services.Refused, services.NotAllowed, ValidationError) as exc:
        message = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [])) or str(exc)
        raise CommandError(f"The demo could not make the finished visit at {school}: {message}") from exc
    return 1


def remove(school_ids) -> None:
    """The finished visit's records, before the demo's visits are removed (`load_demo --reset`):
    they protect the visit and the pupil."""
    Letter.objects.filter(school__in=school_ids).delete()
    ChronologyNote.objects.filter(school__in=school_ids).delete()
    Agreement.objects.filter(school__in=school_ids).delete()
    Concern.objects.filter(school__in=school_ids).delete()
    Filing.objects.filter(school__in=school_ids).delete()
    VisitReport.objects.filter(school__in=school_ids).delete()
