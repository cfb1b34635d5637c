"""A visit's journey, computed once: which events can come next, where each person is on it,
when it is checked out, and the next deadline (policy_engine.timing over the visit's events).

Nothing here writes. The watch (safety.watch), the recording of events (safety.recording),
the phone's pages and the board all ask these questions here, so they cannot disagree.

"Checked out" has one meaning, the rule engine's: back safe, or left the home where the
policy asks for no back-safe check-in. For the whole visit it is next_deadline() being None;
for one person on the phone it is the same rule over that person's own events, so the phone
never reads the watch's status or the visit's alerts (a duress PIN changes exactly those).
"""
from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import rows
from core.errors import NotAllowed
from policy_engine import timing
from safety.checkins.models import VisitEvent
from visits.models import Visit, VisitStaff

T = VisitEvent.Type
Via = VisitEvent.Via
State = Visit.State

# The event types policy_engine.timing knows (the simulator's input format).
TIMING_TYPES = {
    T.LEFT_SCHOOL, T.ARRIVED, T.PARENT_NOT_HOME, T.PARENT_LATE_NOTICE, T.ENTERED, T.CHECK_IN,
    T.LEFT_HOME, T.BACK_SAFE, T.CODE_WORD, T.PANIC,
}
# Events about one person on a pair visit; the others are about the whole party.
PERSONAL_TYPES = {T.LEFT_SCHOOL, T.LEFT_HOME, T.BACK_SAFE}
# How the member of staff records for themself: the phone's page (or the API) and a text to
# the school's Doorstep number (safety.texts). Anything else is the office recording a call.
FROM_THE_STAFF = frozenset({Via.PHONE, Via.SMS})
# Events that may start a scheduled visit.
STARTING_TYPES = {T.LEFT_SCHOOL, T.ARRIVED, T.CODE_WORD, T.PANIC}
# Events that say nothing about the staff being all right.
DANGER_TYPES = {T.CODE_WORD, T.PANIC}
# Events that mean the staff member was reached: they settle an overdue alert.
CONTACT_TYPES = TIMING_TYPES - DANGER_TYPES

# What a visit closed at the door becomes once everyone is back.
OUTCOME_STATES = {"not_seen": State.NOT_SEEN, "abandoned": State.ABANDONED}


# ----------------------------------------------------------------------------- the events

def events_of(visit: Visit) -> list[VisitEvent]:
    """The visit's events in the order they happened."""
    return [_EVENT.build(row) for row in _EVENTS_OF.rows([visit.pk])]


# Read with every check-in: SQL made once (core.rows), as building it through the ORM cost more
# than running it.
_EVENT = rows.Columns(VisitEvent, "e")
_EVENTS_OF = rows.Query(lambda c: (
    f"SELECT {_EVENT.select(c)} FROM {rows.table(VisitEvent, c)} e WHERE e.{rows.column(VisitEvent, 'visit', c)} = %s"
    f" ORDER BY e.{rows.column(VisitEvent, 'at', c)}, e.{rows.column(VisitEvent, 'id', c)}"
))


def last_contact(visit: Visit) -> VisitEvent | None:
    """The latest event that was word from the staff (for the police card)."""
    return (VisitEvent.objects.filter(visit=visit, type__in=CONTACT_TYPES).order_by("-at", "-id")
            .select_related("recorded_by", "staff").first())


def timing_events(events: Iterable[VisitEvent]) -> list[timing.Event]:
    """The events as the rule engine reads them."""
    out = []
    for e in events:
        kind = e.type
        if kind in (T.NOT_SEEN, T.ABANDONED):
            # Closing at the door is word from the staff after the wait: the doorstep deadline
            # is met, and the plan's next check-ins (leaving, back safe) still stand.
            kind = T.CHECK_IN
        if kind not in TIMING_TYPES:
            continue
        who = str(e.staff_id) if (e.staff_id and kind in PERSONAL_TYPES) else None
        out.append(timing.Event(at=e.at, type=kind, staff=who, expected_return=e.expected_return))
    return out


def staff_keys(visit: Visit, team: Sequence[int] | None = None) -> tuple[str, ...]:
    """The people on the visit as the rule engine names them, the lead first. `team`: their ids
    in that order, when the caller has read them already (events.check_recorder)."""
    if team is None:
        team = list(VisitStaff.objects.filter(visit=visit).order_by("-lead", "id").values_list("staff_id", flat=True))
    return tuple(str(pk) for pk in team)


# ----------------------------------------------------------------------------- deadlines

def next_deadline(visit: Visit, policy: Any, events: Sequence[VisitEvent],
                  team: Sequence[int] | None = None) -> timing.Deadline | None:
    """The next thing the office must hear by; None once everyone has checked out."""
    return timing.next_deadline(policy, visit.starts_at, visit.ends_at, timing_events(events),
                                staff=staff_keys(visit, team))


def timeline(visit: Visit, policy: Any, events: Sequence[VisitEvent],
             until: datetime.datetime) -> list[timing.Entry]:
    return timing.timeline(policy, visit.starts_at, visit.ends_at, timing_events(events), until,
                           staff=staff_keys(visit))


def everyone_checked_out(visit: Visit, policy: Any, events: Sequence[VisitEvent]) -> bool:
    """Every member of staff on the visit has checked out: nothing more is owed, so the watch
    ends and the visit takes its outcome. next_deadline() is None exactly then."""
    return next_deadline(visit, policy, events) is None


def checked_out(policy: Any, events: Sequence[VisitEvent], staff_id: int) -> bool:
    """This person has checked out, from their own events (and those about everyone) alone:
    the rule engine's rule, so the phone says "checked out" exactly when the watch ends."""
    mine = [e for e in events if e.staff_id in (None, staff_id)]
    return timing.checked_out(policy, timing_events(mine), staff=(str(staff_id),))


# ----------------------------------------------------------------------------- the order of events

def refuse_out_of_order(visit: Visit, events: Sequence[VisitEvent], event_type: str, staff_id: int | None,
                        outcome: str = "", via: str = Via.PHONE) -> None:
    """Raise NotAllowed for an event that cannot come next. A scheduled visit starts with
    leaving school, arriving or an alarm; or with the office's "checked in by phone" when it
    rang staff who had not started (the board's row for a visit nobody started): that call is
    word from them."""
    label = T(event_type).label.lower()
    if outcome and event_type in (T.ARRIVED, T.PARENT_NOT_HOME, T.PARENT_LATE_NOTICE, T.ENTERED):
        raise NotAllowed(f"This visit was closed as {outcome.replace('_', ' ')} at the door: record leaving or "
                         "back safe instead.")
    if visit.state == State.SCHEDULED:
        if event_type not in STARTING_TYPES and not (event_type == T.CHECK_IN and via == Via.OFFICE_CALL):
            raise NotAllowed(f"This visit has not started: record leaving school or arriving before {label}.")
        return
    if visit.state != State.UNDER_WAY:
        raise NotAllowed(f"This visit is {State(visit.state).label.lower()}, so nothing more can be recorded on it.")
    if staff_id is not None and any(e.type == T.BACK_SAFE and e.staff_id in (None, staff_id) for e in events) \
            and event_type not in DANGER_TYPES:
        raise NotAllowed("You are already recorded as back safe on this visit.")
    arrived = any(e.type == T.ARRIVED for e in events)
    entered = any(e.type == T.ENTERED for e in events)
    if event_type == T.LEFT_SCHOOL and (any(e.type == T.LEFT_SCHOOL and e.staff_id in (None, staff_id) for e in events)
                                        or arrived):
        raise NotAllowed("Leaving school is already recorded for this visit.")
    if event_type == T.ARRIVED and any(e.type == T.ARRIVED and e.staff_id in (None, staff_id) for e in events):
        raise NotAllowed("Arriving is already recorded for this visit.")
    if event_type in (T.PARENT_NOT_HOME, T.ENTERED, T.LEFT_HOME) and not arrived:
        raise NotAllowed(f"Record arriving before {label}.")
    if event_type in (T.PARENT_NOT_HOME, T.PARENT_LATE_NOTICE) and entered:
        raise NotAllowed(f"You have already gone in, so {label} cannot be recorded now.")
    if event_type == T.ENTERED and entered:
        raise NotAllowed("Going in is already recorded for this visit.")
    if event_type == T.LEFT_HOME and any(e.type == T.LEFT_HOME and e.staff_id in (None, staff_id) for e in events):
        raise NotAllowed("Leaving the home is already recorded.")


# ----------------------------------------------------------------------------- one person's progress

@dataclass
class Progress:
    """Where this member of staff is on the visit, from the events alone."""

    events: list[VisitEvent]
    mine: list[VisitEvent]
    phase: str                   # not_started, travelling, at_door, inside, left_home, back_safe
    label: str
    done: set[str] = field(default_factory=set)  # event types recorded for this person (or everyone)
    outcome: str = ""            # not_seen | abandoned, once decided at the door
    # event type -> when it was recorded (for this person)
    at: dict[str, datetime.datetime] = field(default_factory=dict)


PHASE_LABELS = {
    "not_started": "Not started",
    "travelling": "On the way",
    "at_door": "At the door",
    "inside": "In the home",
    "left_home": "Left the home",
    "back_safe": "Back safe",
}


def progress(visit: Visit, staff: Any, events: list[VisitEvent] | None = None) -> Progress:
    """`events`: the visit's events in order, where the caller read them already (a page listing
    several visits reads them in one query)."""
    events = events_of(visit) if events is None else events
    # Events about this person, or about everyone on the visit (staff empty).
    mine = [e for e in events if e.staff_id in (None, staff.pk)]
    done = {e.type for e in mine}
    # Going in and the door outcomes are about the whole party, whoever recorded them.
    party = {e.type for e in events}
    for t in (T.ENTERED, T.NOT_SEEN, T.ABANDONED, T.PARENT_NOT_HOME, T.PARENT_LATE_NOTICE):
        if t in party:
            done.add(t)
    at: dict[str, datetime.datetime] = {}
    for e in events:
        if e.type in done and (e.staff_id in (None, staff.pk) or e.type not in PERSONAL_TYPES):
            at.setdefault(e.type, e.at)
    outcome = "abandoned" if T.ABANDONED in done else ("not_seen" if T.NOT_SEEN in done else "")
    if T.BACK_SAFE in done:
        phase = "back_safe"
    elif T.LEFT_HOME in done:
        phase = "left_home"
    elif T.ENTERED in done:
        phase = "inside"
    elif T.ARRIVED in done:
        phase = "at_door"
    elif T.LEFT_SCHOOL in done:
        phase = "travelling"
    else:
        phase = "not_started"
    label = PHASE_LABELS[phase]
    if outcome and phase not in ("left_home", "back_safe"):
        label = ("Closed as not seen" if outcome == "not_seen" else "Abandoned") + ": leave, and record it"
    return Progress(events=events, mine=mine, phase=phase, label=label, done=done, outcome=outcome, at=at)


def raised_by(kind: str, staff: str | None, recorded_by: str | None) -> str:
    """Who raised an alarm, in words to follow its name ("Duress PIN entered by Ali Khan"): the
    office must know at once whom it is about. Empty for what Doorstep raised itself (a missed
    check-in, an office call not made)."""
    if kind in ("panic", "duress") and staff:
        return f"{'pressed' if kind == 'panic' else 'entered'} by {staff}"
    if kind == "code_word" and recorded_by:
        # Read after the alarm's name: "Code word heard by Olu Office, on the phone to Ali Khan".
        return f"by {recorded_by}, on the phone to {staff}" if staff and staff != recorded_by else f"by {recorded_by}"
    return ""
