"""The police card: everything the police will ask, on one screen, for an alert (the page is
safety/alerts/views.py, the API api/safety.py). Reading it is a sensitive read, written to
the audit trail."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audit import services as audit
from audit.actions import Action
from core.errors import NotAllowed
from people.models import StaffMember
from people.permissions import can
from policies.services import policy_for
from policy_engine import cite
from pupils.models import HouseholdNote
from safety.alerts.models import Alert
from safety.checkins.models import Watch
from visits import services as visit_services
from visits.models import Visit

from .journey import last_contact, raised_by

if TYPE_CHECKING:
    from django.http import HttpRequest

# The police: 999 when life is at risk, 101 (a welfare check) for an overdue worker. Why there
# is no other route (a school has no police URN) is on the policy page, not on the card: in an
# emergency it is only more to read.
POLICE_GUIDANCE = {
    "emergency": "Call 999 if anyone is in immediate danger or there is a threat to life (a panic, a duress "
                 "PIN, the code word, or what you hear in a call).",
    "welfare": "Otherwise, for staff who are overdue and cannot be reached, call 101 and ask for a welfare check.",
}


def _raised_by(alert: Alert) -> str:
    event = alert.event
    if event is None:
        return ""
    return raised_by(alert.kind, event.staff.full_name if event.staff is not None else None, event.recorded_by.full_name)


def police_card(alert: Alert, *, by: StaffMember, request: HttpRequest | None = None) -> dict[str, Any]:
    """Everything the police will ask, on one screen: the staff (names, appearance, mobiles,
    vehicles), the address and how to get in, household risks, the last word from the staff
    and where, the school's phone, and the police guidance."""
    if not can(by, "alert.police_card", alert):
        raise NotAllowed("Only the office, the headteacher, the deputy or the DSL of this school can do this.")
    visit = Visit.objects.select_related("pupil", "school", "policy_version").get(pk=alert.visit_id)
    policy = policy_for(visit)
    staff = []
    for person in visit_services.visit_staff(visit):
        vehicle = person.current_vehicle()
        staff.append({
            "id": person.pk, "name": person.full_name, "appearance": person.appearance, "mobile": person.mobile,
            "vehicle": None if vehicle is None else {
                "make": vehicle.make, "model": vehicle.model, "colour": vehicle.colour,
                "registration": vehicle.registration,
            },
        })
    risks = [
        {"kind": n.kind, "text": n.text, "dangerous": n.dangerous, "recorded_at": n.recorded_at}
        for n in HouseholdNote.objects.filter(pupil=visit.pupil_id).order_by("-dangerous", "-recorded_at")
        if n.is_risk
    ]
    contact = last_contact(visit)
    watch = Watch.objects.filter(visit=visit).first()
    card = {
        "alert": {"id": alert.pk, "kind": alert.kind, "state": alert.state, "raised_at": alert.raised_at,
                  "step": alert.step, "steps": len(alert.ladder), "red": alert.is_red,
                  "raised_by": _raised_by(alert)},
        "visit": {"id": visit.pk, "starts_at": visit.starts_at, "ends_at": visit.ends_at, "state": visit.state},
        "staff": staff,
        "address": visit.pupil.address,
        "access_notes": visit.pupil.access_notes,
        "household_risks": risks,
        "last_check_in": None if contact is None else {
            "at": contact.at, "type": contact.type, "location": contact.location or (watch.last_location if watch else ""),
            "via": contact.via, "by": contact.recorded_by.full_name,
        },
        "school": {"name": visit.school.name, "phone": visit.school.phone, "address": visit.school.address},
        "police": {
            **POLICE_GUIDANCE,
            "immediate_danger": policy.escalation.immediate_danger.value,
            "immediate_danger_clause": cite(policy.escalation.immediate_danger.clause),
            "ladder_says_call_police": any(s.get("call_police") for s in alert.ladder[: alert.step + 1]),
        },
    }
    audit.record(actor=by, school=visit.school, action=Action.ALERT_POLICE_CARD_READ, obj=alert, request=request,
                 summary=f"{by.full_name} opened the police card (staff, address, vehicles, household risks)",
                 data={"visit": visit.pk})
    return card
