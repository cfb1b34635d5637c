"""The policy file format: every section and key, its type, Doorstep's default and what it
means, and the loader that validates a TOML file against it. docs/policy-format.md is the
reader's version of this module; keep the two in step.

A rule in a policy file is an inline table carrying the school's own clause reference:

    interval_minutes = { value = 20, clause = "C 2.4" }

A key the file leaves out takes Doorstep's default and cites "default". A nullable key may
be written without `value` to say the policy deliberately sets nothing there (Priory's wait
for an absent parent: `{ clause = "Pr 4.3", note = "..." }`).
"""
from __future__ import annotations

import copy
import datetime
import difflib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable
from typing import Any

from .sections import (
    SECTION_VIEWS, After, LadderStep, Appointment, Approval, Attendance, CheckIn, Doorstep, Escalation, Hours, Overrides,
    Review, RiskAssessment, Staffing, Vehicles, Vetting,
)

PRESET_DIR = Path(__file__).resolve().parent / "presets"
PRESETS = ["coteford", "potton", "priory", "willows", "st-hughs"]

# Kept in step with people.models.ROLES (a test checks); repeated here so the engine can run
# without Django settings.
ROLES = [
    "headteacher", "deputy_headteacher", "dsl", "business_manager", "office",
    "attendance_officer", "teacher", "family_support",
]
# The reasons for a visit, with the label staff choose from (visits.models.Visit.purpose takes
# its choices from here, so the engine and the visit form cannot drift apart). PURPOSE_LABELS
# below is how the engine's own messages name them, mid-sentence.
PURPOSE_CHOICES: list[tuple[str, str]] = [
    ("attendance", "Attendance"),
    ("welfare_check", "Welfare check"),
    ("safeguarding", "Safeguarding concern"),
    ("child_protection", "Child protection process"),
    ("early_help", "Early help"),
    ("tuition", "Tuition at home"),
    ("meeting_at_home", "Meeting at home (parent cannot come to school)"),
    ("school_refusal", "School refusal"),
    ("home_education", "Home education"),
    ("deliver_work", "Deliver or collect work"),
    ("collect_or_drop_off", "Collect or drop off the child"),
    ("long_absence", "Long absence (keeping in touch)"),
    ("suspected_holiday", "Suspected holiday"),
    ("other", "Other"),
]
PURPOSES = [p for p, _ in PURPOSE_CHOICES]
ROLE_LABELS = {
    "headteacher": "headteacher", "deputy_headteacher": "deputy headteacher",
    "dsl": "designated safeguarding lead", "business_manager": "school business manager",
    "office": "school office", "attendance_officer": "attendance officer", "teacher": "teacher",
    "family_support": "family support worker", "everyone": "everyone",
}
PURPOSE_LABELS = {
    "attendance": "attendance", "welfare_check": "welfare check", "safeguarding": "safeguarding concern",
    "child_protection": "child protection process", "early_help": "early help", "tuition": "tuition at home",
    "meeting_at_home": "meeting at home", "school_refusal": "school refusal", "home_education": "home education",
    "deliver_work": "delivering or collecting work", "collect_or_drop_off": "collecting or dropping off the child",
    "long_absence": "long absence", "suspected_holiday": "suspected holiday", "other": "other",
}
TRAINING_COURSES = [
    "home_visiting", "violence_prevention", "conflict_management", "cultural_awareness", "diversity",
    "first_aid", "safeguarding", "attendance", "lone_working",
]
BRIEFING_ITEMS = [
    "risk_assessment_findings", "area", "pupil_information", "family_background", "cultural_sensitivities",
    "pets", "itinerary", "identification_and_phone", "adult_present", "leave_if_unsafe", "report_incidents",
    "subject_of_visit",
]
RECORD_ITEMS = ["time", "location", "pupil_name", "people_attending", "parent_signature", "staff_signature"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# Every rule the engine applies, with the policy key whose clause its findings cite.
RULES: dict[str, tuple[str, str]] = {
    "approval.approver": ("approval.approver_roles", "the visit is approved by someone the policy names"),
    "approval.purpose": ("approval.recognised_purposes", "the purpose is one the policy recognises"),
    "approval.visit_list_signed": ("approval.visit_list_signed_by_headteacher", "the headteacher has signed the visit list"),
    "staffing.minimum": ("staffing.minimum", "enough staff go, or a lone visit is allowed"),
    "staffing.dsl": ("staffing.dsl_attends_purposes", "the DSL goes on the visits the policy lists"),
    "staffing.trained_home_visitor": ("staffing.trained_home_visitor", "trained home visitors go"),
    "staffing.transport_escort": ("staffing.escort_when_transporting", "a second adult escorts a pupil being transported"),
    "staffing.mobile": ("staffing.mobile_required", "every visitor's mobile number is on record"),
    "vetting.dbs": ("vetting.dbs_level", "every visitor has the required DBS check"),
    "vetting.dbs_recheck": ("vetting.recheck_months", "DBS checks are recent"),
    "vehicles.details": ("vehicles.details_required", "make, model, colour and registration are on record"),
    "vehicles.insurance": ("vehicles.insurance_required", "vehicle insurance is valid on the visit date"),
    "risk_assessment.home_visit": ("risk_assessment.home_visit_required", "a home-visit risk assessment is done before the visit"),
    "risk_assessment.new_risk": ("risk_assessment.update_on_new_risk", "the assessment covers risks recorded since"),
    "risk_assessment.author": ("risk_assessment.author_role", "the home-visit risk assessment is written by the person the policy names"),
    "risk_assessment.lone_working": ("risk_assessment.lone_working", "a lone-working risk assessment is done before a lone visit"),
    "risk_assessment.safe_word": ("risk_assessment.safe_word_on_lone_working", "the safe word is recorded on the lone-working risk assessment"),
    "appointment.agreed": ("appointment.required", "an appointment is agreed with the parent"),
    "appointment.written_confirmation": ("appointment.written_confirmation", "written confirmation is held"),
    "hours.outside_school_hours": ("hours.outside_school_hours", "visits outside school hours only as the policy allows"),
    "hours.responsible_contact": ("hours.responsible_contact_outside_hours", "a responsible contact for out-of-hours visits"),
    "hours.evening": ("hours.evening_visits", "evening visits"),
    "doorstep.dangerous_animals": ("doorstep.dangerous_animals", "reminder about dangerous animals"),
    "review.overdue": ("review.next_review", "the policy is within its review date"),
}
RULE_IDS = list(RULES)

DEFAULT_LADDER = [
    {"notify": ["office"], "acknowledge_within_minutes": 5, "call_police": False, "ring": False, "clause": "default"},
    {"notify": ["headteacher", "dsl"], "acknowledge_within_minutes": 10, "call_police": False, "ring": False, "clause": "default"},
    {"notify": ["headteacher", "dsl"], "acknowledge_within_minutes": 10, "call_police": True, "ring": False, "clause": "default"},
    {"notify": ["everyone"], "acknowledge_within_minutes": None, "call_police": True, "ring": False, "clause": "default"},
]


class PolicyError(ValueError):
    """A policy file that cannot be used. str() names the file, each dotted key and what was
    expected; .errors holds the (key, message) pairs, .source the file."""

    def __init__(self, source: str, errors: list[tuple[str, str]]):
        self.source = source
        self.errors = list(errors)
        lines = [f"{source}: {key}: {msg}" if key else f"{source}: {msg}" for key, msg in self.errors]
        super().__init__("\n".join(lines))


def _show(value: Any) -> str:
    """A value as the author wrote it, for error messages."""
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):  # pragma: no cover - TOML values are always JSON-able
        return repr(value)


class Invalid(Exception):
    pass


@dataclass(frozen=True)
class Key:
    """One key of the policy format."""

    section: str
    name: str
    kind: str  # bool int enum list role time month text ladder
    default: Any
    description: str
    nullable: bool = False
    minimum: int | None = None
    maximum: int | None = None
    unit: str = ""  # "minutes", "percent", "months", "people"
    choices: tuple[str, ...] = ()
    min_items: int = 0
    what: str = ""  # how the expected value is described in errors, e.g. "a list of roles"

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    def expected(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "int":
            noun = {
                "minutes": "a whole number of minutes",
                "percent": "a whole-number percentage",
                "months": "a whole number of months",
                "people": "a whole number of people",
            }.get(self.unit, "a whole number")
            return f"{noun} ({self.minimum} to {self.maximum})"
        if self.kind in ("enum", "role"):
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.kind == "list":
            return f"a list of {self.what or 'values'} drawn from " + ", ".join(f'"{c}"' for c in self.choices)
        if self.kind == "time":
            return 'a time of day as "HH:MM" (24-hour clock)'
        if self.kind == "month":
            return 'a month as "YYYY-MM" or a date as "YYYY-MM-DD"'
        if self.kind == "text":
            return "some text"
        if self.kind == "ladder":
            return "a list of steps like { notify = [\"office\"], acknowledge_within_minutes = 5, clause = \"...\" }"
        return "a value"

    def check(self, value: Any) -> Any:
        """The value, normalised; raises Invalid(message) when it is not what this key takes."""
        got = f", got {_show(value)}"
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise Invalid(f"expected {self.expected()}{got}")
            return value
        if self.kind == "int":
            # Every int key sets both bounds; a missing one would bound nothing.
            low, high = self.minimum, self.maximum
            if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) \
                    or (high is not None and value > high):
                raise Invalid(f"expected {self.expected()}{got}")
            return value
        if self.kind in ("enum", "role"):
            if not isinstance(value, str) or value not in self.choices:
                raise Invalid(f"expected {self.expected()}{got}{_suggest(value, self.choices)}")
            return value
        if self.kind == "list":
            if not isinstance(value, list):
                raise Invalid(f"expected {self.expected()}{got}")
            for item in value:
                if not isinstance(item, str) or item not in self.choices:
                    raise Invalid(f"{_show(item)} is not one of " + ", ".join(f'"{c}"' for c in self.choices)
                                  + _suggest(item, self.choices))
            if len(set(value)) != len(value):
                raise Invalid(f"lists {_show(value)}, which repeats an entry")
            if len(value) < self.min_items:
                raise Invalid(f"expected at least {self.min_items} of " + ", ".join(f'"{c}"' for c in self.choices) + got)
            return list(value)
        if self.kind == "time":
            if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
                raise Invalid(f"expected {self.expected()}{got}")
            return value
        if self.kind == "month":
            if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
                return value.isoformat()
            if isinstance(value, str):
                if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
                    return value
                try:
                    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                        datetime.date.fromisoformat(value)
                        return value
                except ValueError:
                    pass
            raise Invalid(f"expected {self.expected()}{got}")
        if self.kind == "text":
            if not isinstance(value, str) or not value.strip():
                raise Invalid(f"expected {self.expected()}{got}")
            return value
        if self.kind == "ladder":
            return _check_ladder(value)
        raise AssertionError(self.kind)  # pragma: no cover


def _suggest(value: Any, choices: Iterable[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


LADDER_ROLES = tuple(ROLES) + ("everyone",)


def _check_ladder(value: Any) -> list[LadderStep]:
    if not isinstance(value, list) or not value:
        raise Invalid(f"expected a non-empty list of steps, got {_show(value)}")
    steps: list[LadderStep] = []
    for i, step in enumerate(value):
        where = f"step {i + 1}"
        if not isinstance(step, dict):
            raise Invalid(f"{where}: expected a table like {{ notify = [\"office\"], acknowledge_within_minutes = 5, clause = \"...\" }}, got {_show(step)}")
        unknown = set(step) - {"notify", "acknowledge_within_minutes", "call_police", "ring", "clause"}
        if unknown:
            raise Invalid(f"{where}: unknown field {_show(sorted(unknown)[0])} (a step has notify, acknowledge_within_minutes, call_police, ring and clause)")
        notify = step.get("notify")
        if not isinstance(notify, list) or not notify or any(r not in LADDER_ROLES for r in notify) or len(set(notify)) != len(notify):
            raise Invalid(f"{where}: notify: expected a list of roles drawn from " + ", ".join(f'"{r}"' for r in LADDER_ROLES) + f", got {_show(notify)}")
        ack = step.get("acknowledge_within_minutes")
        last = i == len(value) - 1
        if ack is None and not last:
            raise Invalid(f"{where}: acknowledge_within_minutes: every step but the last needs one (1 to 240 minutes)")
        if ack is not None and (isinstance(ack, bool) or not isinstance(ack, int) or not 1 <= ack <= 240):
            raise Invalid(f"{where}: acknowledge_within_minutes: expected a whole number of minutes (1 to 240), got {_show(ack)}")
        police = step.get("call_police", False)
        if not isinstance(police, bool):
            raise Invalid(f"{where}: call_police: expected true or false, got {_show(police)}")
        ring = step.get("ring", False)
        if not isinstance(ring, bool):
            raise Invalid(f"{where}: ring: expected true or false (true: phone the people told at this step, "
                          f"who press 1 to take the alert on), got {_show(ring)}")
        clause = step.get("clause")
        if not isinstance(clause, str) or not clause.strip():
            raise Invalid(f"{where}: clause: expected the policy's clause for this step, or \"default\" where the step is Doorstep's own")
        steps.append({"notify": list(notify), "acknowledge_within_minutes": ack, "call_police": police, "ring": ring,
                      "clause": clause.strip()})
    return steps


def _keys() -> list[Key]:
    roles: dict[str, Any] = dict(kind="list", choices=tuple(ROLES), what="roles")
    purposes: dict[str, Any] = dict(kind="list", choices=tuple(PURPOSES), what="visit purposes")
    return [
        # Deciding and approving (matrix section 1)
        Key("approval", "approver_roles", default=["headteacher"], min_items=1, **roles,
            description="Who may approve a visit; a visit needs an approval from one of these roles."),
        Key("approval", "reason_required", "bool", False,
            "A visit must record why it is necessary and in the pupil's best interests."),
        Key("approval", "recognised_purposes", default=list(PURPOSES), min_items=1, **purposes,
            description="The reasons for a visit the policy names; any other purpose is flagged for a second look."),
        Key("approval", "visit_list", "enum", "none",
            "How visits are listed before they happen: none, a compiled list, a decision list, or a log kept by the office.",
            choices=("none", "compiled_list", "decision_list", "pre_visit_log")),
        Key("approval", "visit_list_signed_by_headteacher", "bool", False,
            "The headteacher signs the visit list before any visit on it takes place."),
        # Risk assessment and briefing (matrix section 2)
        Key("risk_assessment", "home_visit_required", "bool", True,
            "A home-visit risk assessment is done on or before the day of the visit."),
        Key("risk_assessment", "author_role", "role", None, "Who writes home-visit risk assessments (null: anyone).",
            nullable=True, choices=tuple(ROLES)),
        Key("risk_assessment", "update_on_new_risk", "bool", True,
            "A risk recorded after the assessment must be assessed before the visit goes ahead."),
        Key("risk_assessment", "lone_working", "enum", "required",
            "Whether a lone visit needs a lone-working risk assessment: required (blocks), advised (warns) or not_required.",
            choices=("required", "advised", "not_required")),
        Key("risk_assessment", "safe_word_on_lone_working", "bool", False,
            "A lone visitor's safe word is recorded on their lone-working risk assessment before the visit."),
        Key("risk_assessment", "briefing", "list", [], "What staff are told before a visit.",
            choices=tuple(BRIEFING_ITEMS), what="briefing topics"),
        # Who goes (matrix section 3)
        Key("staffing", "minimum", "int", 2, "How many members of staff go on a visit.", minimum=1, maximum=10, unit="people"),
        Key("staffing", "lone_visit", "enum", "headteacher_authorised",
            "When one member of staff may visit alone: never, when the headteacher authorises it, or under the lone-working rules.",
            choices=("never", "headteacher_authorised", "lone_working_rules")),
        Key("staffing", "dsl_attends_purposes", default=[], **purposes,
            description="Visit purposes the designated safeguarding lead must go on."),
        Key("staffing", "trained_home_visitor", "enum", "none",
            "Training in home visiting: none required, one_where_possible (warns), one (blocks) or all (blocks).",
            choices=("none", "one_where_possible", "one", "all")),
        Key("staffing", "training_courses", "list", [], "Training the policy names for visiting staff.",
            choices=tuple(TRAINING_COURSES), what="courses"),
        Key("staffing", "mobile_required", "bool", True, "Every visitor's mobile number is on record before the visit."),
        Key("staffing", "mobile_held_by", "role", "office", "Who holds the mobile numbers.", choices=tuple(ROLES)),
        Key("staffing", "escort_when_transporting", "bool", False,
            "Collecting or dropping off a pupil needs a second adult as escort."),
        # Vetting
        Key("vetting", "dbs_level", "enum", "enhanced", "The DBS level every visitor needs.",
            choices=("basic", "standard", "enhanced")),
        Key("vetting", "barred_list_check", "bool", True, "Every visitor has had a barred-list check."),
        Key("vetting", "recheck_months", "int", 36, "A DBS certificate older than this is flagged for a recheck (null: never).",
            nullable=True, minimum=1, maximum=120, unit="months"),
        # Vehicles
        Key("vehicles", "details_required", "bool", True, "Make, model, colour and registration of every car used are on record."),
        Key("vehicles", "insurance_required", "bool", True, "Every car used is insured on the day of the visit."),
        Key("vehicles", "details_held_by", "role", "office", "Who holds the vehicle details.", choices=tuple(ROLES)),
        Key("vehicles", "safe_parking", "bool", False, "Staff park somewhere safe and lit, facing away from the property."),
        # Appointment and timing (matrix section 4)
        Key("appointment", "required", "enum", "not_required",
            "An appointment agreed with the parent: always, except_emergency, or not_required.",
            choices=("always", "except_emergency", "not_required")),
        Key("appointment", "written_confirmation", "bool", False, "Written confirmation of the appointment is held by the school."),
        Key("appointment", "record_includes", "list", ["time", "location", "pupil_name"],
            "What the appointment record holds.", choices=tuple(RECORD_ITEMS), what="record items"),
        Key("appointment", "changes_notify_roles", default=["office"], **roles,
            description="Who is told when an agreed appointment changes."),
        Key("hours", "school_day_start", "time", "08:30", "When the school day starts, for deciding what is out of hours."),
        Key("hours", "school_day_end", "time", "16:00", "When the school day ends."),
        Key("hours", "school_days", "list", ["mon", "tue", "wed", "thu", "fri"], "The days that are school days.",
            choices=tuple(WEEKDAYS), what="weekdays", min_items=1),
        Key("hours", "outside_school_hours", "enum", "allowed",
            "Visits outside school hours: allowed, no_reasonable_alternative (blocks unless the headteacher overrides with a reason) or not_allowed.",
            choices=("allowed", "no_reasonable_alternative", "not_allowed")),
        Key("hours", "responsible_contact_outside_hours", "bool", False,
            "A visit outside school hours names a responsible contact who checks on the staff."),
        Key("hours", "evening_visits", "enum", "allowed", "Evening visits: allowed, discouraged (warns) or not_allowed (blocks).",
            choices=("allowed", "discouraged", "not_allowed")),
        Key("hours", "evening_starts", "time", "18:00", "When the evening starts."),
        # Staying safe during the visit (matrix section 6)
        Key("check_in", "on_leaving_school", "bool", False, "Staff tell the office where they are going before they leave school."),
        Key("check_in", "on_arrival", "bool", False, "Staff call the office when they arrive."),
        Key("check_in", "interval_minutes", "int", None, "Staff check in this often while on the visit (null: no regular check-ins).",
            nullable=True, minimum=1, maximum=1440, unit="minutes"),
        Key("check_in", "office_call_after_start_minutes", "int", None,
            "The office calls the staff this many minutes after the scheduled start (null: no call).",
            nullable=True, minimum=1, maximum=1440, unit="minutes"),
        Key("check_in", "on_leaving_home", "bool", False, "Staff check in when they leave the home."),
        Key("check_in", "concerns_on_leaving", "bool", False, "The check-in on leaving says whether there are concerns."),
        Key("check_in", "on_return_to_school", "bool", False, "Staff report back when they are back at school."),
        Key("check_in", "grace_minutes", "int", 5, "How late a check-in may be before the office is alerted.",
            minimum=0, maximum=60, unit="minutes"),
        Key("check_in", "code_word", "bool", False, "An agreed code word lets staff raise a discreet alert."),
        # On the doorstep (matrix section 5)
        Key("doorstep", "absent_parent_wait_minutes", "int", 10,
            "How long staff wait for a parent who is not there at the arranged time (null: no set wait).",
            nullable=True, minimum=0, maximum=240, unit="minutes"),
        Key("doorstep", "absent_parent_action", "enum", "cancel", "What happens when the parent is not there: cancel or leave_card.",
            choices=("cancel", "leave_card")),
        Key("doorstep", "not_seen_card", "bool", False, "A 'sorry we missed you' card or letter is left when the family is not seen."),
        Key("doorstep", "late_notice_limit_minutes", "int", None,
            "When a parent warns they are late, staff wait outside until the parent is this late, counted from "
            "the arranged time (null: no limit).",
            nullable=True, minimum=1, maximum=240, unit="minutes"),
        Key("doorstep", "adult_present_to_enter", "bool", True, "Staff never enter or stay without a parent or appropriate adult present."),
        Key("doorstep", "id_card", "enum", "worn_on_front", "Identification: worn_on_front or shown_on_first_visit.",
            choices=("worn_on_front", "shown_on_first_visit")),
        Key("doorstep", "id_card_not_round_neck", "bool", False, "The identity card is not worn round the neck or on a lanyard."),
        Key("doorstep", "unsafe_report", "enum", "written_to_headteacher",
            "When staff do not go in because they feel unsafe: written_to_headteacher, told_to_headteacher or none.",
            choices=("written_to_headteacher", "told_to_headteacher", "none")),
        Key("doorstep", "dangerous_animals", "enum", "separate_room",
            "What staff ask for when there are dangerous animals: separate_room, separate_room_or_outside, or avoid_contact.",
            choices=("separate_room", "separate_room_or_outside", "avoid_contact")),
        Key("doorstep", "animals_refusal_cancels", "bool", True, "If the family will not shut the animals away, the visit is cancelled."),
        Key("doorstep", "animals_written_reason", "bool", False, "A visit cancelled because of animals is explained to the headteacher in writing."),
        Key("doorstep", "exit_routes", "bool", False, "Staff identify exit routes before going in and once inside."),
        Key("doorstep", "pairs_wait_outside", "bool", False, "When staff go as a pair, they wait outside until all have arrived."),
        # Escalation
        Key("escalation", "ladder", "ladder", copy.deepcopy(DEFAULT_LADDER),
            "Who is told, step by step, when staff cannot be reached, and how long each step has to acknowledge."),
        Key("escalation", "immediate_danger", "enum", "office_calls_police",
            "Who calls the police in immediate danger: staff_call_police, office_calls_police, leave_and_report or end_visit_police_if_violence.",
            choices=("staff_call_police", "office_calls_police", "leave_and_report", "end_visit_police_if_violence")),
        # After the visit (matrix section 7)
        Key("after", "report", "enum", "every_visit", "A visit report: every_visit or after_danger only.",
            choices=("every_visit", "after_danger")),
        Key("after", "report_includes_attendance_data", "bool", False,
            "The report records sessions missed, authorised and unauthorised absences and the attendance percentage."),
        Key("after", "agreements_recorded_in", "enum", "pupil_record", "Where agreements with parents are recorded.",
            choices=("safeguarding_record", "attendance_record", "pupil_record", "parent_contract")),
        Key("after", "reminder_letters", "bool", False, "Reminder letters go when an agreement is not kept."),
        Key("after", "note_in_attendance_record", "bool", False, "A broken agreement is noted in the attendance record."),
        Key("after", "follow_up_visit", "bool", False, "Continued failure to keep an agreement leads to a follow-up visit."),
        Key("after", "incident_report_to", default=["headteacher"], min_items=1, **roles,
            description="Who receives incident reports."),
        Key("after", "safeguarding_concern_to", default=["dsl"], min_items=1, **roles,
            description="Who is told of a safeguarding concern found on a visit."),
        Key("after", "allegations_policy", "text", None, "The policy that handles allegations against staff.", nullable=True),
        # Attendance
        Key("attendance", "referral_below_percent", "int", None,
            "Attendance below this percentage over the window is referred to the authorities (null: no threshold).",
            nullable=True, minimum=1, maximum=100, unit="percent"),
        Key("attendance", "referral_window_months", "int", None, "The window the threshold is measured over.",
            nullable=True, minimum=1, maximum=24, unit="months"),
        Key("attendance", "referral_action", "enum", None,
            "What a referral is for: legal_proceedings or penalty_notice_or_education_welfare.",
            nullable=True, choices=("legal_proceedings", "penalty_notice_or_education_welfare")),
        # Keeping the policy alive (matrix section 9)
        Key("review", "next_review", "month", None, "When the policy is next due for review.", nullable=True),
        Key("review", "cycle_months", "int", None, "How often the policy is reviewed.", nullable=True, minimum=1, maximum=60, unit="months"),
        Key("review", "owner", "text", None, "Who owns and reviews the policy.", nullable=True),
        Key("review", "learns_from_incidents", "bool", False, "The policy is amended after incidents and concerns."),
        # Overrides
        Key("overrides", "rules", "list", [], "Rules a headteacher may override with a recorded reason.",
            choices=tuple(RULE_IDS), what="rule ids"),
    ]


KEYS: list[Key] = _keys()
KEY_INDEX: dict[str, Key] = {k.dotted: k for k in KEYS}
SECTIONS: list[str] = list(dict.fromkeys(k.section for k in KEYS))


def _check_section_views() -> None:
    """Every key of the format has one typed setting in .sections, and nothing else does."""
    declared = {f"{view.SECTION}.{name}" for view in SECTION_VIEWS for name in view.setting_names()}
    if declared != set(KEY_INDEX):
        raise RuntimeError("policy_engine.sections is out of step with the format: missing "
                           f"{sorted(set(KEY_INDEX) - declared)}, unknown {sorted(declared - set(KEY_INDEX))}")


_check_section_views()
META_KEYS = {
    "name": "a short name of lowercase letters, digits and hyphens, e.g. \"coteford\"",
    "school": "the school's name",
    "short_name": "the short name used in messages, e.g. \"Coteford\"",
    "version": "the policy's version, e.g. \"2025-12\"",
    "document": "the written policy's title",
    "published": "when the written policy was published or last reviewed",
    "clause_prefix": "the prefix every clause starts with, e.g. \"C\"",
}
REQUIRED_META = ("name", "school", "version")
RULE_FIELDS = {"value", "clause", "note"}


def possessive(name: str) -> str:
    """"Coteford's policy", "St Hugh's policy", "The Willows' policy"."""
    if name.endswith("'s") or name.endswith("’s"):
        return name
    if name.endswith("s"):
        return name + "'"
    return name + "'s"


class Policy:
    """A loaded, validated policy: every key resolved to the file's value or Doorstep's default."""

    def __init__(self, *, meta: dict[str, str], values: dict[str, Any], clauses: dict[str, str], notes: dict[str, str],
                 source: str) -> None:
        self.name: str = meta["name"]
        self.version: str = meta["version"]
        self.school: str = meta["school"]
        self.short_name: str = meta.get("short_name") or meta["school"]
        self.document: str | None = meta.get("document")
        self.published: str | None = meta.get("published")
        self.clause_prefix: str | None = meta.get("clause_prefix")
        self.source: str = source
        self._values = values
        self._clauses = clauses
        self._notes = notes

    def __repr__(self) -> str:
        return f"<Policy {self.name} {self.version} from {self.source}>"

    # Loading -------------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, text: str, source: str = "<policy>") -> "Policy":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(source, [("", f"not valid TOML: {exc}")]) from None
        return cls.from_data(data, source)

    @classmethod
    def from_file(cls, path: str | Path) -> "Policy":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyError(str(path), [("", "no such policy file")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(str(path), [("", f"cannot read the policy file ({exc})")]) from None
        return cls.from_toml(text, source=str(path))

    @classmethod
    def preset(cls, name: str) -> "Policy":
        if name not in PRESETS:
            raise PolicyError(name, [("", "not a preset; the presets are " + ", ".join(PRESETS))])
        path = PRESET_DIR / f"{name}.toml"
        return cls.from_toml(path.read_text(encoding="utf-8"), source=f"presets/{name}.toml")

    @classmethod
    def from_data(cls, data: dict[str, Any], source: str) -> "Policy":
        errors: list[tuple[str, str]] = []
        meta = _load_meta(data.get("policy"), errors)
        values: dict[str, Any] = {}
        clauses: dict[str, str] = {}
        notes: dict[str, str] = {}
        for section, body in data.items():
            if section == "policy":
                continue
            if section not in SECTIONS:
                errors.append((section, f"unknown section [{section}]{_suggest(section, SECTIONS + ['policy'])}; "
                               "the sections are [policy], " + ", ".join(f"[{s}]" for s in SECTIONS)))
                continue
            if not isinstance(body, dict):
                errors.append((section, f"expected a [{section}] table, got {_show(body)}"))
                continue
            known = [k.name for k in KEYS if k.section == section]
            for name in body:
                if name not in known:
                    errors.append((f"{section}.{name}", f"unknown key{_suggest(name, known)}; [{section}] takes "
                                   + ", ".join(known)))
        prefix = meta.get("clause_prefix")
        for key in KEYS:
            body = data.get(key.section)
            raw = body.get(key.name, _MISSING) if isinstance(body, dict) else _MISSING
            if raw is _MISSING:
                values[key.dotted] = copy.deepcopy(key.default)
                clauses[key.dotted] = "default"
                continue
            _load_rule(key, raw, prefix, values, clauses, notes, errors)
        if not errors:
            _cross_checks(values, clauses, prefix, errors)
        if errors:
            raise PolicyError(source, errors)
        return cls(meta=meta, values=values, clauses=clauses, notes=notes, source=source)

    # Reading -------------------------------------------------------------------------------
    def _meta_value(self, name: str) -> str | None:
        return {"name": self.name, "school": self.school, "short_name": self.short_name, "version": self.version,
                "document": self.document, "published": self.published, "clause_prefix": self.clause_prefix}[name]

    def value(self, key: str) -> Any:
        if key.startswith("policy.") and key[7:] in META_KEYS:
            return self._meta_value(key[7:])
        if key not in self._values:
            raise KeyError(f"unknown policy key {key!r}")
        return copy.deepcopy(self._values[key])

    def clause(self, key: str) -> str:
        if key not in self._clauses:
            raise KeyError(f"unknown policy key {key!r}")
        return self._clauses[key]

    def note(self, key: str) -> str:
        if key not in self._clauses:
            raise KeyError(f"unknown policy key {key!r}")
        return self._notes.get(key, "")

    def is_default(self, key: str) -> bool:
        return self.clause(key) == "default"

    # Typed reads, one view per section: policy.check_in.interval_minutes.value / .clause
    @property
    def approval(self) -> Approval:
        return Approval(self)

    @property
    def risk_assessment(self) -> RiskAssessment:
        return RiskAssessment(self)

    @property
    def staffing(self) -> Staffing:
        return Staffing(self)

    @property
    def vetting(self) -> Vetting:
        return Vetting(self)

    @property
    def vehicles(self) -> Vehicles:
        return Vehicles(self)

    @property
    def appointment(self) -> Appointment:
        return Appointment(self)

    @property
    def hours(self) -> Hours:
        return Hours(self)

    @property
    def check_in(self) -> CheckIn:
        return CheckIn(self)

    @property
    def doorstep(self) -> Doorstep:
        return Doorstep(self)

    @property
    def escalation(self) -> Escalation:
        return Escalation(self)

    @property
    def after(self) -> After:
        return After(self)

    @property
    def attendance(self) -> Attendance:
        return Attendance(self)

    @property
    def review(self) -> Review:
        return Review(self)

    @property
    def overrides(self) -> Overrides:
        return Overrides(self)

    @property
    def label(self) -> str:
        """"Coteford's policy", for messages."""
        return f"{possessive(self.short_name)} policy"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.name, "version": self.version, "school": self.school, "short_name": self.short_name,
            "document": self.document, "published": self.published, "clause_prefix": self.clause_prefix,
            "source": self.source,
        }
        for key in KEYS:
            out.setdefault(key.section, {})[key.name] = copy.deepcopy(self._values[key.dotted])
        out["clauses"] = dict(self._clauses)
        out["notes"] = dict(self._notes)
        return out

    def rules(self) -> list[dict[str, Any]]:
        return [
            {"key": key.dotted, "value": copy.deepcopy(self._values[key.dotted]), "clause": self._clauses[key.dotted],
             "description": key.description, "note": self._notes.get(key.dotted, "")}
            for key in KEYS
        ]


_MISSING = object()


def _load_meta(raw: Any, errors: list[tuple[str, str]]) -> dict[str, str]:
    if raw is None:
        errors.append(("policy", "missing [policy] section; it needs at least name, school and version"))
        return {"name": "", "school": "", "version": ""}
    if not isinstance(raw, dict):
        errors.append(("policy", f"expected a [policy] table, got {_show(raw)}"))
        return {"name": "", "school": "", "version": ""}
    meta = {}
    for name, value in raw.items():
        if name not in META_KEYS:
            errors.append((f"policy.{name}", f"unknown key{_suggest(name, META_KEYS)}; [policy] takes " + ", ".join(META_KEYS)))
            continue
        if isinstance(value, datetime.date) and name == "published":
            value = value.isoformat()
        if not isinstance(value, str) or not value.strip():
            errors.append((f"policy.{name}", f"expected {META_KEYS[name]} as a quoted string, got {_show(value)}"))
            continue
        meta[name] = value.strip()
    for name in REQUIRED_META:
        if name not in raw:
            errors.append((f"policy.{name}", f"missing; expected {META_KEYS[name]}"))
    if "name" in meta and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", meta["name"]):
        errors.append(("policy.name", f"expected {META_KEYS['name']}, got {_show(meta['name'])}"))
    for name in REQUIRED_META:
        meta.setdefault(name, "")
    return meta


def _load_rule(key: Key, raw: Any, prefix: str | None, values: dict[str, Any], clauses: dict[str, str],
               notes: dict[str, str], errors: list[tuple[str, str]]) -> None:
    where = key.dotted
    example = f'{{ value = {_example(key)}, clause = "{prefix + " 2.4" if prefix else "2.4"}" }}'
    if not isinstance(raw, dict):
        errors.append((where, f"expected a rule like {example} (every rule cites its clause), got {_show(raw)}"))
        return
    unknown = sorted(set(raw) - RULE_FIELDS)
    if unknown:
        errors.append((where, f"unknown field {_show(unknown[0])}{_suggest(unknown[0], RULE_FIELDS)}; a rule has value, clause and note"))
        return
    clause = raw.get("clause")
    if clause is None:
        errors.append((where, f"missing clause: cite the policy's clause, e.g. {example}"))
    elif not isinstance(clause, str) or not clause.strip():
        errors.append((where, f"clause: expected the policy's clause reference as a quoted string, got {_show(clause)}"))
        clause = None
    elif clause.strip() == "default":
        errors.append((where, 'clause: "default" is for keys the policy is silent on; leave the key out to take Doorstep\'s default'))
        clause = None
    elif prefix and not clause.strip().startswith(prefix + " "):
        # A school adapting a preset meets this when it types its own numbering under the
        # preset's prefix: say how out of it, not only what is wrong.
        errors.append((where, f"clause: expected a clause of this policy, starting with \"{prefix} \", got {_show(clause)} "
                              f"(every clause starts with the policy's clause prefix, \"{prefix}\"; change the prefix, or "
                              "clear it, to number clauses your own way)"))
        clause = None
    note = raw.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        errors.append((where, f"note: expected some text, got {_show(note)}"))
    if "value" not in raw:
        if not key.nullable:
            errors.append((where, f"missing value: expected {key.expected()}"))
            return
        value = None
    else:
        try:
            value = key.check(raw["value"])
        except Invalid as exc:
            errors.append((where, str(exc)))
            return
    if clause is None:
        return
    values[where] = value
    clauses[where] = clause.strip()
    if note:
        notes[where] = note.strip()


def _example(key: Key) -> str:
    if key.kind == "bool":
        return "true"
    if key.kind == "int":
        return str(key.minimum if key.minimum else 1)
    if key.kind in ("enum", "role"):
        return f'"{key.choices[0]}"'
    if key.kind == "list":
        return f'["{key.choices[0]}"]'
    if key.kind == "time":
        return '"08:30"'
    if key.kind == "month":
        return '"2026-10"'
    return '"..."'


def _cross_checks(values: dict[str, Any], clauses: dict[str, str], prefix: str | None,
                  errors: list[tuple[str, str]]) -> None:
    """Combinations that cannot both be what a policy means."""
    minimum, lone = values["staffing.minimum"], values["staffing.lone_visit"]
    if minimum == 1 and lone != "lone_working_rules":
        errors.append(("staffing.lone_visit", f'a minimum of one member of staff means lone visits are normal: expected "lone_working_rules", got "{lone}"'))
    if minimum > 1 and lone == "lone_working_rules":
        errors.append(("staffing.minimum", f'lone_visit is "lone_working_rules", so expected 1, got {minimum}'))
    percent, window = values["attendance.referral_below_percent"], values["attendance.referral_window_months"]
    if (percent is None) != (window is None):
        missing = "attendance.referral_window_months" if window is None else "attendance.referral_below_percent"
        errors.append((missing, "a referral threshold needs both a percentage and a window in months"))
    if values["doorstep.absent_parent_action"] == "cancel" and values["doorstep.absent_parent_wait_minutes"] is None:
        errors.append(("doorstep.absent_parent_wait_minutes", 'absent_parent_action is "cancel", so expected how many minutes to wait first (0 to 240)'))
    if values["hours.school_day_start"] >= values["hours.school_day_end"]:
        errors.append(("hours.school_day_end", f'expected a time after school_day_start ({values["hours.school_day_start"]}), got "{values["hours.school_day_end"]}"'))
    for i, step in enumerate(values["escalation.ladder"]):
        c = step["clause"]
        if prefix and c != "default" and not c.startswith(prefix + " "):
            errors.append(("escalation.ladder", f'step {i + 1}: clause: expected "default" or a clause starting with "{prefix} ", got {_show(c)}'))


def load_policy(name_or_path: str) -> Policy:
    """A preset by name ("coteford") or a policy file by path."""
    text = str(name_or_path)
    if text in PRESETS and not Path(text).is_file():
        return Policy.preset(text)
    path = Path(text)
    if path.is_file() or text.endswith(".toml") or "/" in text or "\\" in text:
        return Policy.from_file(path)
    raise PolicyError(text, [("", "no such policy file, and not a preset (the presets are " + ", ".join(PRESETS) + ")")])
