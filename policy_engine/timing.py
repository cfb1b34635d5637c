"""The timing rules of a visit under way: from a school's policy, the visit's scheduled times
and the events recorded so far, when the next check-in is due, and what Doorstep does and when.

Pure: no database, no clock. The watchdog (checkins/alerts apps) stores `next_deadline()` on the
visit's Watch row after every event; `doorstep policy simulate` prints `timeline()`, which is
built by replaying `next_deadline()` event by event, so the simulator cannot drift from what
runs. docs/simulate-format.md describes the rules with worked examples; docs/safety-core.md is
the contract with the watchdog. Times may be naive or aware, but all of one kind; messages
print them as given (pass local times for local wording).

INTERFACE (the watchdog relies on exactly these names):

    EVENT_TYPES                                   # left_school ... panic, in journey order
    @dataclass Event(at, type, staff=None, expected_return=None)
    @dataclass Entry(at, kind, level, clause, message)
    @dataclass Deadline(kind, due_at, alert_at, reminder_at, clause, staff, what="")
    def next_deadline(policy, starts_at, ends_at, events, staff=()) -> Deadline | None
        None exactly when every member of staff has checked out (the visit is safe).
    def timeline(policy, starts_at, ends_at, events, until, staff=()) -> list[Entry]
    def simulate(policy, data: dict) -> dict      # JSON in/out; raises SimulationError
    def escalation_steps(ladder, started_at, from_step=0) -> list[(step_index, at, step_dict)]
        When each ladder step fires if nobody acknowledges: step `from_step` at `started_at`,
        step i+1 at step i's time + its acknowledge_within_minutes; a step without that
        deadline is the last. A code word or panic uses from_step=len(ladder) - 1.
    def reminder_lead(policy, kind) -> int | None
        Minutes before a deadline of this kind that the member of staff is reminded; None for
        deadlines the office owes (office_call_due).
    def checked_out(policy, events, staff=()) -> bool   # the visit is safe
"""
from __future__ import annotations

import datetime
import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.text import and_list

from .schema import ROLE_LABELS, Policy
from .sections import LadderStep

# A member of staff on the visit by name, or None for the whole party (visits without names).
Member = str | None
# An obligation still open: (order, kind, due_at, clause, staff, what).
Duty = tuple[int, str, datetime.datetime, str, str | None, str]

EVENT_TYPES = (
    "left_school", "arrived", "parent_not_home", "parent_late_notice", "entered", "check_in",
    "left_home", "back_safe", "code_word", "panic",
)
ALARMS = ("code_word", "panic")
# Events that put staff at the home (and are word from them, so they restart the interval).
AT_HOME = ("arrived", "parent_not_home", "parent_late_notice", "entered")

# Doorstep's own timings where a policy is silent; every rule that uses one cites "default".
REMINDER_LEAD_MINUTES = 5       # reminders come this long before a check-in (at most half the interval)
DOOR_WATCH_MINUTES = 10         # a policy with no set wait for an absent parent (Priory): word from the door after this
LATE_WATCH_MINUTES = 30         # a late parent where the policy sets no limit: word from the door after this
RETURN_TRAVEL_MINUTES = 30      # back safe no sooner than this after leaving the home


@dataclass(frozen=True)
class Event:
    at: datetime.datetime
    type: str
    staff: str | None = None                           # who it is about (pair visits); None = the whole party
    expected_return: datetime.datetime | None = None   # on left_school


@dataclass(frozen=True)
class Entry:
    at: datetime.datetime
    kind: str
    level: str      # "info" | "amber" | "red"
    clause: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "kind": self.kind, "level": self.level, "clause": self.clause,
                "message": self.message}


@dataclass(frozen=True)
class Deadline:
    kind: str                       # check_in_due | office_call_due | back_safe_due
    due_at: datetime.datetime
    alert_at: datetime.datetime     # due_at + grace: the watchdog raises the alert here
    reminder_at: datetime.datetime | None
    clause: str
    staff: str | None               # the one member it is about, or None for the party
    what: str = ""                  # e.g. "arrival check-in", for messages

    @property
    def key(self) -> tuple[str, datetime.datetime, str]:
        """What makes two deadlines the same obligation (so its alert keeps escalating)."""
        return (self.kind, self.due_at, self.what)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "due_at": _iso(self.due_at), "alert_at": _iso(self.alert_at),
                "reminder_at": _iso(self.reminder_at) if self.reminder_at else None, "clause": self.clause,
                "staff": self.staff}


class SimulationError(ValueError):
    """Input to `simulate` that cannot be used. .field names the first offending field
    (e.g. "events[2].type"); .errors holds every (field, message) found."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = list(errors)
        self.field = self.errors[0][0]
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in self.errors))


# Small helpers -------------------------------------------------------------------------------

def _minutes(n: int) -> datetime.timedelta:
    return datetime.timedelta(minutes=n)


def _iso(at: datetime.datetime) -> str:
    return at.isoformat(timespec="seconds" if at.second else "minutes")


def _hm(at: datetime.datetime) -> str:
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


def _who(names: Iterable[str]) -> str:
    return and_list(names, empty="the visiting staff")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _roles(roles: Iterable[str]) -> str:
    labels = [ROLE_LABELS.get(r, r) for r in roles]
    if labels == ["everyone"]:
        return "everyone who can help"
    return and_list(f"the {label}" for label in labels)


def reminder_lead(policy: Policy, kind: str) -> int | None:
    """Minutes before a deadline of `kind` that the member of staff is reminded (Doorstep's
    default, 5 minutes, never more than half the policy's check-in interval); None for the
    office's own call-out, which staff do not owe."""
    if kind == "office_call_due":
        return None
    lead = REMINDER_LEAD_MINUTES
    interval = policy.check_in.interval_minutes.value
    if interval:
        lead = min(lead, interval // 2)
    return lead if lead >= 1 else None


def escalation_steps(ladder: Sequence[LadderStep], started_at: datetime.datetime,
                     from_step: int = 0) -> list[tuple[int, datetime.datetime, LadderStep]]:
    """When each step of the ladder fires if nobody acknowledges: step `from_step` at
    `started_at`, each next step after the previous step's acknowledge_within_minutes. A step
    without an acknowledge deadline is the last."""
    out: list[tuple[int, datetime.datetime, LadderStep]] = []
    at = started_at
    for index in range(max(0, from_step), len(ladder)):
        step = ladder[index]
        out.append((index, at, step))
        ack = step.get("acknowledge_within_minutes")
        if ack is None:
            break
        at = at + _minutes(ack)
    return out


def late_limit_at(starts_at: datetime.datetime | None, notice_at: datetime.datetime, limit: int) -> datetime.datetime:
    """When a parent who warned they would be late has passed the policy's limit. The policies
    count "over 30 minutes late" from the arranged time (C 3.5, W 3.3), not from when the call
    came: a call at 09:45 about a 10:00 visit still waits until 10:30, and a call that comes
    after the limit has passed reaches it at once. Without a start time (checked_out()'s
    replay) only the notice is known."""
    if starts_at is None:
        return notice_at + _minutes(limit)
    return max(starts_at + _minutes(limit), notice_at)


# The state of a visit after its events ---------------------------------------------------------

class _Visit:
    """What the events so far say about the party: who is at the home, who has checked out,
    the last word from them, the doorstep wait. Pair visits: an event naming a member is
    about them alone; an event without staff is about the whole party."""

    def __init__(self, policy: Policy, starts_at: datetime.datetime | None, ends_at: datetime.datetime | None,
                 staff: Sequence[str]) -> None:
        self.policy = policy
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.members: tuple[Member, ...] = tuple(staff) or (None,)
        self.named = bool(staff)
        self.any_event = False
        self.arrival_done = False
        self.office_call_done = False
        self.expected_return: datetime.datetime | None = None
        self.last_contact: datetime.datetime | None = None
        self.last_left_home: datetime.datetime | None = None
        self.latest: datetime.datetime | None = None
        self.at_home = {m: False for m in self.members}
        self.left_home = {m: False for m in self.members}
        self.back_safe = {m: False for m in self.members}
        self.door: tuple[str, datetime.datetime, datetime.datetime, str, int] | None = None   # (kind, started_at, ends_at, clause, minutes)
        self.return_to_school = bool(policy.check_in.on_return_to_school.value)

    def targets(self, event: Event) -> tuple[Member, ...]:
        return (event.staff,) if event.staff in self.at_home and event.staff is not None else self.members

    def apply(self, event: Event) -> None:
        t, kind = event.at, event.type
        self.latest = t
        self.any_event = True
        if kind in ALARMS:
            return
        targets = self.targets(event)
        if kind != "left_school":
            self.arrival_done = True
        if kind in ("left_school",) + AT_HOME:
            for m in targets:   # out again: whatever they had checked out is undone
                self.left_home[m] = self.back_safe[m] = False
                self.at_home[m] = kind != "left_school"
            if kind == "left_school" and event.expected_return:
                self.expected_return = event.expected_return
        if kind in AT_HOME or kind == "check_in":
            self.last_contact = t
        if kind == "check_in" and (self.starts_at is None or t >= self.starts_at):
            self.office_call_done = True
        if kind == "parent_not_home":
            wait = self.policy.doorstep.absent_parent_wait_minutes.value
            if wait is None:
                self.door = ("not_home", t, t + _minutes(DOOR_WATCH_MINUTES), "default", DOOR_WATCH_MINUTES)
            else:
                self.door = ("not_home", t, t + _minutes(wait), self.policy.doorstep.absent_parent_wait_minutes.clause, wait)
        elif kind == "parent_late_notice":
            limit = self.policy.doorstep.late_notice_limit_minutes.value
            if limit is None:
                self.door = ("late", t, t + _minutes(LATE_WATCH_MINUTES), "default", LATE_WATCH_MINUTES)
            else:
                self.door = ("late", t, late_limit_at(self.starts_at, t, limit),
                             self.policy.doorstep.late_notice_limit_minutes.clause, limit)
        elif kind == "entered":
            self.door = None
        elif kind == "check_in" and self.door and t >= self.door[2]:
            self.door = None   # word from the door after the wait: what comes next is the ordinary plan
        if kind == "left_home":
            for m in targets:
                self.left_home[m] = True
                self.at_home[m] = False
            self.last_left_home = t
        if kind == "back_safe":
            for m in targets:
                self.back_safe[m] = True
                self.at_home[m] = False
        if kind in ("left_home", "back_safe") and not any(self.at_home.values()):
            self.door = None

    def out(self, m: Member) -> bool:
        """Left the home or back safe."""
        return self.left_home[m] or self.back_safe[m]

    def checked_out(self, m: Member) -> bool:
        """Back safe, or left the home where the policy asks for no back-safe check-in."""
        return self.back_safe[m] or (self.left_home[m] and not self.return_to_school)

    def safe(self) -> bool:
        return all(self.checked_out(m) for m in self.members)

    def one(self, members: Iterable[Member]) -> str | None:
        named = [m for m in members if m is not None]
        return named[0] if len(named) == 1 else None

    def duties(self) -> list[Duty]:
        """Every obligation still open: (order, kind, due_at, clause, staff, what)."""
        p = self.policy
        # Only checked_out() replays without the scheduled times, and it asks for no duties.
        assert self.starts_at is not None and self.ends_at is not None, "duties need the scheduled times"
        out: list[Duty] = []
        everyone_out = all(self.out(m) for m in self.members)
        if p.check_in.on_leaving_school.value and not self.any_event:
            out.append((0, "check_in_due", self.starts_at, p.check_in.on_leaving_school.clause, None,
                        "leaving-school check-in"))
        if p.check_in.on_arrival.value and not self.arrival_done:
            out.append((1, "check_in_due", self.starts_at, p.check_in.on_arrival.clause, None, "arrival check-in"))
        if self.door:
            kind, _started, door_end, clause, minutes = self.door
            if kind == "not_home":
                what = (f"word from the door (end of the {minutes}-minute wait for the parent)" if clause != "default"
                        else f"word from the door ({minutes} minutes after finding nobody at home)")
            else:
                what = (f"word from the door (the {minutes}-minute limit for the late parent)" if clause != "default"
                        else f"word from the door ({minutes} minutes after the parent's late notice)")
            out.append((2, "check_in_due", door_end, clause, None, what))
        interval = p.check_in.interval_minutes.value
        home = [m for m in self.members if self.at_home[m]]
        if interval and home and self.last_contact:
            out.append((3, "check_in_due", self.last_contact + _minutes(interval), p.check_in.interval_minutes.clause,
                        self.one(home), f"check-in (every {interval} minutes)"))
        after = p.check_in.office_call_after_start_minutes.value
        if after and not self.office_call_done and not everyone_out:
            out.append((4, "office_call_due", self.starts_at + _minutes(after),
                        p.check_in.office_call_after_start_minutes.clause, None,
                        f"office call {after} minutes after the start"))
        base = self.expected_return or self.ends_at
        if p.check_in.on_leaving_home.value and not everyone_out:
            waiting = [m for m in self.members if not self.out(m)]
            out.append((5, "check_in_due", self.ends_at, p.check_in.on_leaving_home.clause, self.one(waiting),
                        "leaving-home check-in"))
        if self.return_to_school:
            waiting = [m for m in self.members if not self.back_safe[m]]
            if waiting:
                due = base
                if self.last_left_home:
                    due = max(due, self.last_left_home + _minutes(RETURN_TRAVEL_MINUTES))
                out.append((6, "back_safe_due", due, p.check_in.on_return_to_school.clause, self.one(waiting),
                            "back-safe check-in"))
        elif not p.check_in.on_leaving_home.value:
            # The policy asks for no check-out at all: Doorstep's default keeps the visit watched
            # until staff say they are back safe or have left, by their expected return.
            waiting = [m for m in self.members if not self.checked_out(m)]
            if waiting:
                out.append((6, "back_safe_due", base, "default", self.one(waiting), "back-safe check-in"))
        return out


def _replay(policy: Policy, starts_at: datetime.datetime | None, ends_at: datetime.datetime | None,
            events: Iterable[Event], staff: Sequence[str]) -> _Visit:
    visit = _Visit(policy, starts_at, ends_at, staff)
    for event in sorted(events, key=lambda e: e.at):
        visit.apply(event)
    return visit


def checked_out(policy: Policy, events: Iterable[Event], staff: Sequence[str] = ()) -> bool:
    """Every member of staff is back safe, or has left the home where the policy asks for no
    back-safe check-in: the visit needs no more watching."""
    # Checking out does not depend on the scheduled times, so naive or aware event times both do.
    return _replay(policy, None, None, events, staff).safe()


def next_deadline(policy: Policy, starts_at: datetime.datetime, ends_at: datetime.datetime, events: Iterable[Event],
                  staff: Sequence[str] = ()) -> Deadline | None:
    """The next thing the office must hear by, after these events; None once the visit is safe.
    While a visit is under way there is always one (Doorstep's default back-safe deadline where
    the policy asks for nothing else). Ties go to the earlier step of the journey."""
    visit = _replay(policy, starts_at, ends_at, events, staff)
    if visit.safe():
        return None
    duties = visit.duties()
    assert duties, "a visit under way always has a deadline"
    order, kind, due, clause, who, what = min(duties, key=lambda d: (d[2], d[0]))
    grace = policy.check_in.grace_minutes.value
    lead = reminder_lead(policy, kind)
    reminder = due - _minutes(lead) if lead else None
    if reminder is not None and visit.latest is not None and reminder <= visit.latest:
        reminder = None   # word came after the reminder would have gone: nothing to remind
    return Deadline(kind=kind, due_at=due, alert_at=due + _minutes(grace), reminder_at=reminder, clause=clause,
                    staff=who, what=what)


# The timeline ----------------------------------------------------------------------------------

_RANK = {"alarm": 0, "contact_restored": 1, "not_seen_allowed": 2, "late_limit_reached": 3, "reminder": 4,
         "check_in_due": 5, "office_call_due": 5, "back_safe_due": 5, "overdue": 6, "escalation": 7}


def _step_entry(ladder: Sequence[LadderStep], index: int, at: datetime.datetime, step: LadderStep, why: str) -> Entry:
    last = index == len(ladder) - 1
    level = "red" if step.get("call_police") or last else "amber"
    parts = [f"{why}: escalation step {index + 1} of {len(ladder)}: {_roles(step['notify'])} told"
             + (" and rung by phone" if step.get("ring") else "")]
    if step.get("call_police"):
        parts.append("the police are called")
    if step.get("acknowledge_within_minutes"):
        parts.append(f"acknowledge within {step['acknowledge_within_minutes']} minutes")
    return Entry(at, "escalation", level, step.get("clause") or "default", _cap("; ".join(parts) + "."))


def _deadline_entries(policy: Policy, d: Deadline, party: str, raised_at: datetime.datetime,
                      not_started_at: datetime.datetime | None = None) -> list[Entry]:
    """The entries of one deadline: reminder, due, overdue (at `raised_at`, when the watchdog
    raises it: alert_at, or at once for a deadline already past when it came into force) and
    the ladder from there. `not_started_at`: the scheduled start of a visit nobody has started
    (no event yet), which its overdue entry says plainly."""
    who = d.staff or party
    due_message = {
        "office_call_due": f"Office: call {who} now ({d.what}).",
        "back_safe_due": f"{_cap(who)} should be back safe now ({d.what} due).",
    }.get(d.kind, f"{_cap(d.what)} due now from {who}.")
    out: list[Entry] = []
    if d.reminder_at:
        out.append(Entry(d.reminder_at, "reminder", "info", "default",
                         f"Reminder to {who}: {d.what} due at {_hm(d.due_at)}."))
    out.append(Entry(d.due_at, d.kind, "info", d.clause, due_message))
    grace = policy.check_in.grace_minutes.value
    missed = "no answer to the " + d.what if d.kind == "office_call_due" else f"no {d.what} from {who}"
    if not_started_at is not None:
        # Watched from the schedule, not from the first tap: nobody starting is itself the alarm.
        missed = f"the visit was due to start at {_hm(not_started_at)} and nobody has checked in ({d.what}"
        overdue = f"Overdue: {missed} due {_hm(d.due_at)}, {grace} minutes' grace); the office is alerted."
    else:
        overdue = f"Overdue: {missed} (due {_hm(d.due_at)}, {grace} minutes' grace); the office is alerted."
    out.append(Entry(raised_at, "overdue", "amber", d.clause, overdue))
    ladder = policy.escalation.ladder.value
    for index, at, step in escalation_steps(ladder, raised_at):
        out.append(_step_entry(ladder, index, at, step, f"Nobody has acknowledged the missed {d.what}"))
    return out


def _door_entries(policy: Policy, starts_at: datetime.datetime, events: list[Event], until: datetime.datetime) -> list[Entry]:
    """The doorstep timers: the end of the wait for an absent parent, and the limit for a late
    one (counted from the arranged start, late_limit_at()). Each fires unless the party went
    in, left, or a newer doorstep event replaced it first."""
    out: list[Entry] = []
    card = policy.doorstep.not_seen_card.value or policy.doorstep.absent_parent_action.value == "leave_card"
    for i, event in enumerate(events):
        if event.type == "parent_not_home":
            wait = policy.doorstep.absent_parent_wait_minutes.value
            at = event.at + _minutes(wait or 0)
            clause = (policy.doorstep.absent_parent_wait_minutes if wait is not None else policy.doorstep.absent_parent_action).clause
            if wait:
                message = f"The {wait}-minute wait for the parent is over: the visit may be closed as not seen"
            else:
                message = "The parent is not at home: make enquiries; the visit may be closed as not seen"
            message += ", leaving the card." if card else "."
            kind = "not_seen_allowed"
        elif event.type == "parent_late_notice":
            limit = policy.doorstep.late_notice_limit_minutes.value
            if limit is None:
                continue
            at = late_limit_at(starts_at, event.at, limit)
            clause = policy.doorstep.late_notice_limit_minutes.clause
            message = (f"The parent is now {limit} minutes late for the {_hm(starts_at)} appointment: the visit "
                       "should be cancelled; staff must not go in before the parent arrives.")
            kind = "late_limit_reached"
        else:
            continue
        if at > until:
            continue
        ended = any(later.type in ("entered", "left_home", "back_safe", "parent_not_home", "parent_late_notice")
                    and later.at < at for later in events[i + 1:])
        if at == event.at:
            ended = False   # at once (Priory's card): nothing can come first
        if not ended:
            out.append(Entry(at, kind, "info", clause, message))
    return out


def timeline(policy: Policy, starts_at: datetime.datetime, ends_at: datetime.datetime, events: Iterable[Event],
             until: datetime.datetime, staff: Sequence[str] = ()) -> list[Entry]:
    """Everything Doorstep would do from these events up to `until`, assuming nobody
    acknowledges an alert. Built by replaying next_deadline() after each event: between one
    event and the next, the deadline then in force produces its reminder, due, overdue and
    escalation entries; an entry at the very time of the next event is pre-empted by it. A
    deadline met after its alert ends that alert's escalation (contact_restored)."""
    events = list(events)
    if any(b.at < a.at for a, b in zip(events, events[1:], strict=False)):
        raise ValueError("events must be in time order")
    if events and events[-1].at > until:
        raise ValueError("events after `until`")
    party = _who(staff)
    ladder = policy.escalation.ladder.value
    entries: list[Entry] = []
    previous: Deadline | None = None
    raised_at: datetime.datetime | None = None   # when the alert for `previous` was raised, if it was
    for k in range(len(events) + 1):
        start = events[k - 1].at if k else None
        end = events[k].at if k < len(events) else None

        def inside(at: datetime.datetime) -> bool:  # called only within this iteration, so start and end are this span's
            return ((start is None or at >= start) and (end is None or at < end) and at <= until)  # noqa: B023

        if k:
            event = events[k - 1]
            if event.type in ALARMS:
                who = event.staff or party
                clause = (policy.check_in.code_word.clause if event.type == "code_word" else policy.escalation.immediate_danger.clause)
                word = "Code word" if event.type == "code_word" else "Panic alarm"
                entries.append(Entry(event.at, "alarm", "red", clause, f"{word} from {who}: alarm raised at the top of the ladder."))
                for index, at, step in escalation_steps(ladder, event.at, len(ladder) - 1):
                    entries.append(_step_entry(ladder, index, at, step, word))
        d = next_deadline(policy, starts_at, ends_at, events[:k], staff)
        if previous is not None and (d is None or d.key != previous.key):
            if raised_at is not None and start is not None:  # an alert is raised only after an event
                entries.append(Entry(start, "contact_restored", "info", previous.clause,
                                     f"Word from {events[k - 1].staff or party} at {_hm(start)} after the alert for the "
                                     f"{previous.what}: its escalation stops (the office still resolves the alert)."))
            raised_at = None
        previous = d
        if d is None:
            continue
        if raised_at is None:
            # The watchdog raises once alert_at has passed: for a deadline already past when it
            # came into force, that is at once.
            candidate = d.alert_at if start is None else max(d.alert_at, start)
            if inside(candidate):
                raised_at = candidate
        for entry in _deadline_entries(policy, d, party, raised_at or d.alert_at, starts_at if k == 0 else None):
            if entry.kind in ("overdue", "escalation") and raised_at is None:
                continue
            if entry.kind == "reminder" and start is not None and entry.at <= start:
                continue
            if inside(entry.at):
                entries.append(entry)
    entries.extend(_door_entries(policy, starts_at, events, until))
    order = {id(e): i for i, e in enumerate(entries)}
    entries.sort(key=lambda e: (e.at, _RANK.get(e.kind, 9), order[id(e)]))
    return entries


# simulate: the JSON in and out of `doorstep policy simulate` ----------------------------------

_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")
_TOP_FIELDS = ("starts_at", "ends_at", "events", "until", "staff")
_EVENT_FIELDS = ("at", "type", "staff", "expected_return")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # pragma: no cover - parsed JSON is always dumpable
        return repr(value)


def _moment(value: Any, field: str, errors: list[tuple[str, str]]) -> datetime.datetime | None:
    if isinstance(value, str) and _MOMENT.fullmatch(value):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    errors.append((field, f'expected a local date and time as "YYYY-MM-DDTHH:MM", got {_show(value)}'))
    return None


def parse(data: Any) -> dict[str, Any]:
    """Validate simulate's input: unknown fields, bad times, unknown event types, events out of
    order or after `until` are refused, every problem naming its field. Returns the parsed
    starts_at, ends_at, until, staff and events."""
    errors: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        raise SimulationError([("", f"expected a JSON object with {', '.join(_TOP_FIELDS)}, got {_show(data)}")])
    for name in data:
        if name not in _TOP_FIELDS:
            errors.append((name, f"unknown field; expected one of {', '.join(_TOP_FIELDS)}"))
    found: dict[str, datetime.datetime | None] = {}
    for name in ("starts_at", "ends_at", "until"):
        if name not in data:
            errors.append((name, 'missing; expected a local date and time as "YYYY-MM-DDTHH:MM"'))
            found[name] = None
        else:
            found[name] = _moment(data[name], name, errors)
    starts_at, ends_at, until = found["starts_at"], found["ends_at"], found["until"]
    if starts_at and ends_at and ends_at <= starts_at:
        errors.append(("ends_at", f"expected a time after starts_at ({data['starts_at']}), got {_show(data['ends_at'])}"))
    staff: list[str] = []
    raw_staff = data.get("staff")
    if raw_staff is not None:
        if not isinstance(raw_staff, list):
            errors.append(("staff", f"expected a list of names, got {_show(raw_staff)}"))
        else:
            for i, name in enumerate(raw_staff):
                if not isinstance(name, str) or not name.strip():
                    errors.append((f"staff[{i}]", f"expected a name, got {_show(name)}"))
                elif name.strip() in staff:
                    errors.append((f"staff[{i}]", f"{_show(name)} is listed twice"))
                else:
                    staff.append(name.strip())
    events: list[Event] = []
    raw_events = data.get("events")
    if raw_events is None:
        raw_events = []
    if not isinstance(raw_events, list):
        errors.append(("events", f"expected a list of events, got {_show(raw_events)}"))
        raw_events = []
    previous = None
    for i, raw in enumerate(raw_events):
        where = f"events[{i}]"
        if not isinstance(raw, dict):
            errors.append((where, f'expected an event like {{"at": "2026-11-23T10:00", "type": "arrived"}}, got {_show(raw)}'))
            continue
        bad = False
        for name in raw:
            if name not in _EVENT_FIELDS:
                errors.append((f"{where}.{name}", f"unknown field; an event has {', '.join(_EVENT_FIELDS)}"))
                bad = True
        at = _moment(raw.get("at"), f"{where}.at", errors) if "at" in raw else None
        if "at" not in raw:
            errors.append((f"{where}.at", 'missing; expected a local date and time as "YYYY-MM-DDTHH:MM"'))
        kind = raw.get("type")
        if kind not in EVENT_TYPES:
            close = difflib.get_close_matches(kind, EVENT_TYPES, n=1) if isinstance(kind, str) else []
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            errors.append((f"{where}.type", f"expected one of {', '.join(EVENT_TYPES)}, got {_show(kind)}{hint}"))
            bad = True
        who = raw.get("staff")
        if who is not None:
            if not isinstance(who, str) or who.strip() not in staff:
                listed = ", ".join(staff) if staff else "nobody: give the visit's \"staff\" list to name people"
                errors.append((f"{where}.staff", f"expected one of the visit's staff ({listed}), got {_show(who)}"))
                bad = True
            else:
                who = who.strip()
        back = None
        if raw.get("expected_return") is not None:
            if kind != "left_school":
                errors.append((f"{where}.expected_return", "only a left_school event carries an expected return"))
                bad = True
            else:
                back = _moment(raw["expected_return"], f"{where}.expected_return", errors)
                if back is None:
                    bad = True
                elif at and back <= at:
                    errors.append((f"{where}.expected_return", f"expected a time after the event ({raw['at']}), got {_show(raw['expected_return'])}"))
                    bad = True
        if at is None:
            continue
        if previous is not None and at < previous:
            errors.append((f"{where}.at", f"events must be in time order: {raw['at']} is before the event before it ({_iso(previous)})"))
        elif until is not None and at > until:
            errors.append((f"{where}.at", f"after until ({data['until']}): the simulation stops there"))
        previous = at if previous is None or at > previous else previous
        if not bad:
            assert isinstance(kind, str)  # an unknown type made the event bad
            events.append(Event(at=at, type=kind, staff=who, expected_return=back))
    if errors:
        raise SimulationError(errors)
    return {"starts_at": starts_at, "ends_at": ends_at, "until": until, "staff": tuple(staff), "events": events}


def simulate(policy: Policy, data: dict[str, Any]) -> dict[str, Any]:
    """The JSON of `doorstep policy simulate`: the timeline, and the deadline the watchdog would
    hold after the last event (null once the visit is safe)."""
    p = parse(data)
    entries = timeline(policy, p["starts_at"], p["ends_at"], p["events"], p["until"], p["staff"])
    d = next_deadline(policy, p["starts_at"], p["ends_at"], p["events"], p["staff"])
    return {
        "policy": policy.name,
        "policy_version": policy.version,
        "timeline": [e.to_dict() for e in entries],
        "next_deadline": d.to_dict() if d else None,
    }
