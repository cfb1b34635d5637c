"""Typed reads of a policy, one small view per section of the format:

    policy.check_in.interval_minutes.value     # int | None
    policy.check_in.interval_minutes.clause    # "C 2.4", or "default" where the policy is silent

A key the format does not have is an AttributeError, and a type error under mypy, rather
than a silent None. The views are kept in step with schema.KEYS: schema checks on import
that every key has exactly one setting here.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypedDict, TypeVar, overload

if TYPE_CHECKING:
    from .schema import Policy

T = TypeVar("T")


class LadderStep(TypedDict):
    """One rung of the escalation ladder (escalation.ladder)."""

    notify: list[str]
    acknowledge_within_minutes: int | None
    call_police: bool
    ring: bool  # a phone call to the people told at this step, who press 1 to take the alert on
    clause: str


@dataclass(frozen=True)
class Rule(Generic[T]):
    """A key's resolved value, the clause it cites and the policy's note on it."""

    value: T
    clause: str
    note: str

    @property
    def is_default(self) -> bool:
        """The policy is silent here and Doorstep's default applies."""
        return self.clause == "default"


def cite(clause: str | None) -> str:
    """A clause as it is quoted in a message: the policy's own reference, or, where the policy
    is silent, Doorstep's default rule."""
    if not clause or clause == "default":
        return "Doorstep's default rule"
    return clause


class Setting(Generic[T]):
    """One key of a section; read on a section view it gives that key's Rule."""

    name: str

    def __set_name__(self, owner: type[Section], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, section: None, owner: type[Section]) -> Setting[T]: ...

    @overload
    def __get__(self, section: Section, owner: type[Section]) -> Rule[T]: ...

    def __get__(self, section: Section | None, owner: type[Section]) -> Setting[T] | Rule[T]:
        if section is None:
            return self
        return section.read(self.name)


class Section:
    """The keys of one section of a policy."""

    SECTION: ClassVar[str]

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    def read(self, name: str) -> Rule[Any]:
        key = f"{self.SECTION}.{name}"
        # A copy, as Policy.value gives: a caller that changes a list must not change the policy.
        return Rule(copy.deepcopy(self._policy.value(key)), self._policy.clause(key), self._policy.note(key))

    @classmethod
    def setting_names(cls) -> list[str]:
        return [name for name, attr in vars(cls).items() if isinstance(attr, Setting)]
class Approval(Section):
    """[approval] in the policy file."""

    SECTION = "approval"
    approver_roles: Setting[list[str]] = Setting()
    reason_required: Setting[bool] = Setting()
    recognised_purposes: Setting[list[str]] = Setting()
    visit_list: Setting[Literal["none", "compiled_list", "decision_list", "pre_visit_log"]] = Setting()
    visit_list_signed_by_headteacher: Setting[bool] = Setting()


class RiskAssessment(Section):
    """[risk_assessment] in the policy file."""

    SECTION = "risk_assessment"
    home_visit_required: Setting[bool] = Setting()
    author_role: Setting[str | None] = Setting()
    update_on_new_risk: Setting[bool] = Setting()
    lone_working: Setting[Literal["required", "advised", "not_required"]] = Setting()
    safe_word_on_lone_working: Setting[bool] = Setting()
    briefing: Setting[list[str]] = Setting()


class Staffing(Section):
    """[staffing] in the policy file."""

    SECTION = "staffing"
    minimum: Setting[int] = Setting()
    lone_visit: Setting[Literal["never", "headteacher_authorised", "lone_working_rules"]] = Setting()
    dsl_attends_purposes: Setting[list[str]] = Setting()
    trained_home_visitor: Setting[Literal["none", "one_where_possible", "one", "all"]] = Setting()
    training_courses: Setting[list[str]] = Setting()
    mobile_required: Setting[bool] = Setting()
    mobile_held_by: Setting[str] = Setting()
    escort_when_transporting: Setting[bool] = Setting()


class Vetting(Section):
    """[vetting] in the policy file."""

    SECTION = "vetting"
    dbs_level: Setting[Literal["basic", "standard", "enhanced"]] = Setting()
    barred_list_check: Setting[bool] = Setting()
    recheck_months: Setting[int | None] = Setting()


class Vehicles(Section):
    """[vehicles] in the policy file."""

    SECTION = "vehicles"
    details_required: Setting[bool] = Setting()
    insurance_required: Setting[bool] = Setting()
    details_held_by: Setting[str] = Setting()
    safe_parking: Setting[bool] = Setting()


class Appointment(Section):
    """[appointment] in the policy file."""

    SECTION = "appointment"
    required: Setting[Literal["always", "except_emergency", "not_required"]] = Setting()
    written_confirmation: Setting[bool] = Setting()
    record_includes: Setting[list[str]] = Setting()
    changes_notify_roles: Setting[list[str]] = Setting()


class Hours(Section):
    """[hours] in the policy file."""

    SECTION = "hours"
    school_day_start: Setting[str] = Setting()
    school_day_end: Setting[str] = Setting()
    school_days: Setting[list[str]] = Setting()
    outside_school_hours: Setting[Literal["allowed", "no_reasonable_alternative", "not_allowed"]] = Setting()
    responsible_contact_outside_hours: Setting[bool] = Setting()
    evening_visits: Setting[Literal["allowed", "discouraged", "not_allowed"]] = Setting()
    evening_starts: Setting[str] = Setting()


class CheckIn(Section):
    """[check_in] in the policy file."""

    SECTION = "check_in"
    on_leaving_school: Setting[bool] = Setting()
    on_arrival: Setting[bool] = Setting()
    interval_minutes: Setting[int | None] = Setting()
    office_call_after_start_minutes: Setting[int | None] = Setting()
    on_leaving_home: Setting[bool] = Setting()
    concerns_on_leaving: Setting[bool] = Setting()
    on_return_to_school: Setting[bool] = Setting()
    grace_minutes: Setting[int] = Setting()
    code_word: Setting[bool] = Setting()


class Doorstep(Section):
    """[doorstep] in the policy file."""

    SECTION = "doorstep"
    absent_parent_wait_minutes: Setting[int | None] = Setting()
    absent_parent_action: Setting[Literal["cancel", "leave_card"]] = Setting()
    not_seen_card: Setting[bool] = Setting()
    late_notice_limit_minutes: Setting[int | None] = Setting()
    adult_present_to_enter: Setting[bool] = Setting()
    id_card: Setting[Literal["worn_on_front", "shown_on_first_visit"]] = Setting()
    id_card_not_round_neck: Setting[bool] = Setting()
    unsafe_report: Setting[Literal["written_to_headteacher", "told_to_headteacher", "none"]] = Setting()
    dangerous_animals: Setting[Literal["separate_room", "separate_room_or_outside", "avoid_contact"]] = Setting()
    animals_refusal_cancels: Setting[bool] = Setting()
    animals_written_reason: Setting[bool] = Setting()
    exit_routes: Setting[bool] = Setting()
    pairs_wait_outside: Setting[bool] = Setting()


class Escalation(Section):
    """[escalation] in the policy file."""

    SECTION = "escalation"
    ladder: Setting[list[LadderStep]] = Setting()
    immediate_danger: Setting[Literal["staff_call_police", "office_calls_police", "leave_and_report", "end_visit_police_if_violence"]] = Setting()


class After(Section):
    """[after] in the policy file."""

    SECTION = "after"
    report: Setting[Literal["every_visit", "after_danger"]] = Setting()
    report_includes_attendance_data: Setting[bool] = Setting()
    agreements_recorded_in: Setting[Literal["safeguarding_record", "attendance_record", "pupil_record", "parent_contract"]] = Setting()
    reminder_letters: Setting[bool] = Setting()
    note_in_attendance_record: Setting[bool] = Setting()
    follow_up_visit: Setting[bool] = Setting()
    incident_report_to: Setting[list[str]] = Setting()
    safeguarding_concern_to: Setting[list[str]] = Setting()
    allegations_policy: Setting[str | None] = Setting()


class Attendance(Section):
    """[attendance] in the policy file."""

    SECTION = "attendance"
    referral_below_percent: Setting[int | None] = Setting()
    referral_window_months: Setting[int | None] = Setting()
    referral_action: Setting[Literal["legal_proceedings", "penalty_notice_or_education_welfare"] | None] = Setting()


class Review(Section):
    """[review] in the policy file."""

    SECTION = "review"
    next_review: Setting[str | None] = Setting()
    cycle_months: Setting[int | None] = Setting()
    owner: Setting[str | None] = Setting()
    learns_from_incidents: Setting[bool] = Setting()


class Overrides(Section):
    """[overrides] in the policy file."""

    SECTION = "overrides"
    rules: Setting[list[str]] = Setting()



SECTION_VIEWS: list[type[Section]] = [
    Approval, RiskAssessment, Staffing, Vetting, Vehicles, Appointment, Hours, CheckIn, Doorstep, Escalation, After, Attendance, Review, Overrides,
]
