"""The rule engine against the five reference policies: a fully compliant plan is allowed
under each, and each rule is shown both ways by changing one thing at a time."""
import copy

import pytest

from policy_engine import PRESETS, Plan, PlanError, evaluate, load_policy

POLICIES = {name: load_policy(name) for name in PRESETS}


def person(name="Sam Ali", roles=("attendance_officer",), **changes):
    data = {
        "name": name, "roles": list(roles),
        "dbs": {"level": "enhanced", "barred_list_checked": True, "issued_on": "2025-09-01"},
        "trained_home_visitor": True, "mobile": "07700 900123",
        "vehicle": {"make": "Ford", "model": "Focus", "colour": "blue", "registration": "AB12 CDE",
                    "insurance_expires_on": "2027-01-31"},
    }
    data.update(changes)
    return data


def compliant_plan(**changes):
    """A Monday-morning attendance visit by two trained, vetted staff that every preset allows."""
    plan = {
        "purpose": "attendance",
        "starts_at": "2026-03-16T10:00",
        "ends_at": "2026-03-16T10:45",
        "staff": [person(), person("Jo Bell", roles=["teacher"], mobile="07700 900456", vehicle=None)],
        "approvals": [{"role": "headteacher", "on": "2026-03-10"}],
        "visit_list_signed_by_headteacher": True,
        "risk_assessment": {"home_visit_done_on": "2026-03-10", "lone_working_done_on": "2026-03-10",
                            "new_risk_since": False, "lone_working_safe_word_recorded": True},
        "appointment": {"agreed_with_parent": True, "written_confirmation": True},
        "emergency": False,
        "lone_visit_authorised_by_headteacher": False,
        "responsible_contact": None,
        "household": {"dangerous_animals": False},
    }
    plan.update(changes)
    return plan


def lone_plan(**changes):
    return compliant_plan(staff=[person()], **changes)


def run(policy, plan, stage="schedule"):
    return evaluate(POLICIES[policy], plan, stage=stage)


def rules(result, severity=None):
    return [f.rule for f in result.findings if severity is None or f.severity == severity]


def finding(result, rule):
    matches = [f for f in result.findings if f.rule == rule]
    assert len(matches) == 1, f"expected one {rule} finding, got {result.to_dict()}"
    return matches[0]


# A compliant plan ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy", PRESETS)
def test_a_fully_compliant_plan_is_allowed_under_every_reference_policy(policy):
    result = run(policy, compliant_plan())
    assert result.allowed, result.to_dict()
    assert rules(result, "block") == []


@pytest.mark.parametrize("policy", ["coteford", "potton", "priory", "st-hughs"])
def test_a_compliant_plan_raises_nothing_at_all_while_the_policy_is_in_date(policy):
    assert run(policy, compliant_plan()).findings == []


def test_the_result_names_the_policy_and_its_version():
    assert run("coteford", compliant_plan()).to_dict() == {
        "policy": "coteford", "policy_version": "2025-12", "allowed": True, "findings": []}


# The examples the issue requires ------------------------------------------------------------

def test_it_refuses_a_lone_visit_under_coteford_citing_c_2_10():
    result = run("coteford", lone_plan())
    assert not result.allowed
    blocked = finding(result, "staffing.minimum")
    assert blocked.severity == "block" and blocked.clause == "C 2.10"
    assert blocked.message == ("Coteford's policy requires two members of staff on every home visit; "
                               "this visit has one (Sam Ali).")


def test_coteford_refuses_a_lone_visit_even_when_the_headteacher_authorises_it():
    result = run("coteford", lone_plan(lone_visit_authorised_by_headteacher=True))
    assert not result.allowed and finding(result, "staffing.minimum").clause == "C 2.10"


def test_potton_allows_a_headteacher_authorised_lone_visit_with_a_lone_working_assessment():
    result = run("potton", lone_plan(lone_visit_authorised_by_headteacher=True))
    assert result.allowed, result.to_dict()


def test_potton_blocks_an_authorised_lone_visit_without_a_lone_working_assessment_citing_p_4_2():
    plan = lone_plan(lone_visit_authorised_by_headteacher=True,
                     risk_assessment={"home_visit_done_on": "2026-03-10", "lone_working_done_on": None, "new_risk_since": False})
    result = run("potton", plan)
    assert not result.allowed
    blocked = finding(result, "risk_assessment.lone_working")
    assert (blocked.severity, blocked.clause) == ("block", "P §4¶2")
    assert "Sam Ali" in blocked.message


def test_potton_blocks_a_lone_visit_the_headteacher_has_not_authorised_citing_p_4_1():
    result = run("potton", lone_plan())
    blocked = finding(result, "staffing.minimum")
    assert (blocked.severity, blocked.clause) == ("block", "P §4¶1")
    assert "unless the headteacher" in blocked.message and "Sam Ali" in blocked.message


@pytest.mark.parametrize("purpose", ["child_protection", "safeguarding"])
def test_potton_blocks_a_safeguarding_visit_without_the_dsl_citing_p_8_2(purpose):
    result = run("potton", compliant_plan(purpose=purpose))
    blocked = finding(result, "staffing.dsl")
    assert (blocked.severity, blocked.clause) == ("block", "P §8¶2")
    assert "Sam Ali and Jo Bell" in blocked.message


def test_potton_allows_a_child_protection_visit_when_the_dsl_goes():
    plan = compliant_plan(purpose="child_protection",
                          staff=[person(), person("Dee Shah", roles=["deputy_headteacher", "dsl"], vehicle=None)])
    assert run("potton", plan).allowed


@pytest.mark.parametrize("policy", ["coteford", "priory", "willows", "st-hughs"])
def test_only_potton_requires_the_dsl_on_a_child_protection_visit(policy):
    assert "staffing.dsl" not in rules(run(policy, compliant_plan(purpose="child_protection")))


def test_potton_allows_an_emergency_visit_without_an_appointment():
    plan = compliant_plan(appointment={"agreed_with_parent": False, "written_confirmation": False}, emergency=True)
    assert run("potton", plan).allowed


def test_potton_blocks_a_visit_without_an_appointment_that_is_not_an_emergency_citing_p_3_3():
    plan = compliant_plan(appointment={"agreed_with_parent": False, "written_confirmation": False})
    result = run("potton", plan)
    blocked = finding(result, "appointment.agreed")
    assert (blocked.severity, blocked.clause) == ("block", "P §3¶3")


# Approval ------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy,clause", [("coteford", "C 2.1"), ("potton", "P §3¶4"), ("priory", "Pr 4.2"),
                                           ("willows", "default"), ("st-hughs", "H §2")])
def test_it_blocks_a_visit_nobody_has_approved_citing_who_must_approve(policy, clause):
    blocked = finding(run(policy, compliant_plan(approvals=[])), "approval.approver")
    assert (blocked.severity, blocked.clause) == ("block", clause)


@pytest.mark.parametrize("policy,allowed", [("coteford", True), ("priory", True), ("potton", False),
                                            ("willows", False), ("st-hughs", False)])
def test_a_deputy_headteachers_approval_counts_only_where_the_policy_names_the_deputy(policy, allowed):
    plan = compliant_plan(approvals=[{"role": "deputy_headteacher", "on": "2026-03-10"}])
    assert run(policy, plan).allowed is allowed


def test_an_approval_from_the_office_does_not_count_and_the_message_says_what_was_recorded():
    result = run("potton", compliant_plan(approvals=[{"role": "office", "on": "2026-03-10"}]))
    assert "school office on 10 March 2026" in finding(result, "approval.approver").message


def test_an_approval_dated_after_the_visit_does_not_count():
    result = run("potton", compliant_plan(approvals=[{"role": "headteacher", "on": "2026-03-17"}]))
    assert "approval.approver" in rules(result, "block")


# Visit list, purpose -------------------------------------------------------------------------

def test_coteford_blocks_a_visit_whose_list_the_headteacher_has_not_signed_citing_c_3_3():
    blocked = finding(run("coteford", compliant_plan(visit_list_signed_by_headteacher=False)), "approval.visit_list_signed")
    assert (blocked.severity, blocked.clause) == ("block", "C 3.3")


@pytest.mark.parametrize("policy", ["potton", "priory", "willows", "st-hughs"])
def test_only_coteford_needs_a_signed_visit_list(policy):
    assert run(policy, compliant_plan(visit_list_signed_by_headteacher=False)).allowed


@pytest.mark.parametrize("policy,purpose,clause", [
    ("coteford", "tuition", "C 3.1"), ("potton", "suspected_holiday", "P §3¶1"), ("priory", "welfare_check", "Pr 4.1"),
    ("st-hughs", "tuition", "H §4"),
])
def test_it_warns_when_the_purpose_is_not_a_reason_the_policy_recognises(policy, purpose, clause):
    result = run(policy, compliant_plan(purpose=purpose))
    warned = finding(result, "approval.purpose")
    assert (warned.severity, warned.clause) == ("warn", clause)
    assert result.allowed


@pytest.mark.parametrize("policy,purpose", [("potton", "tuition"), ("st-hughs", "suspected_holiday"),
                                            ("willows", "other"), ("willows", "collect_or_drop_off")])
def test_it_says_nothing_about_a_purpose_the_policy_lists(policy, purpose):
    assert "approval.purpose" not in rules(run(policy, compliant_plan(purpose=purpose)))


# Staffing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["priory", "st-hughs"])
def test_lone_working_policies_allow_a_lone_visit_without_headteacher_authorisation(policy):
    assert run(policy, lone_plan()).allowed


def test_st_hughs_blocks_a_lone_visit_without_a_lone_working_assessment_citing_h_3_3():
    plan = lone_plan(risk_assessment={"home_visit_done_on": "2026-03-10", "lone_working_done_on": None})
    blocked = finding(run("st-hughs", plan), "risk_assessment.lone_working")
    assert (blocked.severity, blocked.clause) == ("block", "H §3¶3")


def test_priory_only_warns_about_a_missing_lone_working_assessment_citing_pr_2_4():
    plan = lone_plan(risk_assessment={"home_visit_done_on": "2026-03-10", "lone_working_done_on": None})
    result = run("priory", plan)
    warned = finding(result, "risk_assessment.lone_working")
    assert (warned.severity, warned.clause) == ("warn", "Pr 2.4")
    assert result.allowed


def test_a_lone_working_assessment_dated_after_the_visit_does_not_count():
    plan = lone_plan(risk_assessment={"home_visit_done_on": "2026-03-10", "lone_working_done_on": "2026-03-20"})
    assert "after the visit" in finding(run("st-hughs", plan), "risk_assessment.lone_working").message


def test_willows_is_silent_on_lone_visits_so_the_default_needs_the_headteachers_authorisation():
    blocked = finding(run("willows", lone_plan()), "staffing.minimum")
    assert (blocked.severity, blocked.clause) == ("block", "default")
    assert run("willows", lone_plan(lone_visit_authorised_by_headteacher=True)).allowed


def test_a_visit_with_nobody_assigned_is_blocked_everywhere():
    for name in PRESETS:
        assert "staffing.minimum" in rules(run(name, compliant_plan(staff=[])), "block")


def test_potton_warns_when_nobody_trained_in_home_visiting_goes_citing_p_5_4():
    plan = compliant_plan(staff=[person(trained_home_visitor=False), person("Jo Bell", trained_home_visitor=False, vehicle=None)])
    result = run("potton", plan)
    warned = finding(result, "staffing.trained_home_visitor")
    assert (warned.severity, warned.clause) == ("warn", "P §5¶4")
    assert result.allowed


def test_potton_is_satisfied_when_one_of_two_staff_is_trained():
    plan = compliant_plan(staff=[person(), person("Jo Bell", trained_home_visitor=False, vehicle=None)])
    assert "staffing.trained_home_visitor" not in rules(run("potton", plan))


@pytest.mark.parametrize("policy,clause", [("priory", "Pr 3.1"), ("st-hughs", "H §2")])
def test_policies_that_train_every_visitor_block_an_untrained_one(policy, clause):
    plan = compliant_plan(staff=[person(), person("Jo Bell", trained_home_visitor=False, vehicle=None)])
    blocked = finding(run(policy, plan), "staffing.trained_home_visitor")
    assert (blocked.severity, blocked.clause) == ("block", clause)
    assert "Jo Bell is not recorded as a trained home visitor" in blocked.message


@pytest.mark.parametrize("policy", ["coteford", "willows"])
def test_policies_silent_on_training_do_not_check_it(policy):
    plan = compliant_plan(staff=[person(trained_home_visitor=False), person("Jo Bell", trained_home_visitor=False)])
    assert "staffing.trained_home_visitor" not in rules(run(policy, plan))


def test_coteford_needs_an_escort_to_collect_or_drop_off_a_pupil_citing_c_5_2():
    result = run("coteford", lone_plan(purpose="collect_or_drop_off"))
    blocked = finding(result, "staffing.transport_escort")
    assert (blocked.severity, blocked.clause) == ("block", "C 5.2")
    assert "transporting a pupil" in blocked.message or "transport a pupil" in blocked.message
    assert "staffing.transport_escort" not in rules(run("coteford", compliant_plan(purpose="collect_or_drop_off")))


def test_st_hughs_lets_one_person_collect_a_pupil_because_it_sets_no_escort_rule():
    assert "staffing.transport_escort" not in rules(run("st-hughs", lone_plan(purpose="collect_or_drop_off")))


@pytest.mark.parametrize("policy,clause", [("coteford", "C 2.3"), ("potton", "P §4¶6"), ("priory", "Pr 2.2"),
                                           ("willows", "W 2.2"), ("st-hughs", "H §3¶4")])
def test_every_policy_blocks_a_visitor_without_a_mobile_number_on_record(policy, clause):
    plan = compliant_plan(staff=[person(), person("Jo Bell", mobile="", vehicle=None)])
    blocked = finding(run(policy, plan), "staffing.mobile")
    assert (blocked.severity, blocked.clause) == ("block", clause)
    assert "Jo Bell" in blocked.message and "Sam Ali" not in blocked.message


# Vetting --------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy,clause", [("coteford", "C 5.1"), ("potton", "P §8¶3"), ("priory", "Pr 6.1"),
                                           ("willows", "default"), ("st-hughs", "default")])
def test_it_blocks_a_visitor_without_an_enhanced_dbs(policy, clause):
    plan = compliant_plan(staff=[person(), person("Jo Bell", vehicle=None,
                                                  dbs={"level": "standard", "barred_list_checked": True, "issued_on": "2025-01-01"})])
    blocked = finding(run(policy, plan), "vetting.dbs")
    assert (blocked.severity, blocked.clause) == ("block", clause)
    assert "Jo Bell's DBS check is standard" in blocked.message


@pytest.mark.parametrize("policy", PRESETS)
def test_it_blocks_a_visitor_without_a_barred_list_check(policy):
    plan = compliant_plan(staff=[person(dbs={"level": "enhanced", "barred_list_checked": False, "issued_on": "2025-01-01"}),
                                 person("Jo Bell", vehicle=None)])
    assert "Sam Ali has no barred-list check" in finding(run(policy, plan), "vetting.dbs").message


def test_it_blocks_a_visitor_with_no_dbs_at_all():
    plan = compliant_plan(staff=[person(dbs=None), person("Jo Bell", vehicle=None)])
    assert "Sam Ali has no DBS check on record" in finding(run("willows", plan), "vetting.dbs").message


def test_it_warns_when_a_dbs_certificate_is_older_than_the_recheck_period():
    plan = compliant_plan(staff=[person(dbs={"level": "enhanced", "barred_list_checked": True, "issued_on": "2022-01-10"}),
                                 person("Jo Bell", vehicle=None)])
    result = run("coteford", plan)
    warned = finding(result, "vetting.dbs_recheck")
    assert (warned.severity, warned.clause) == ("warn", "default")
    assert "Sam Ali's was issued on 10 January 2022" in warned.message
    assert result.allowed


# Vehicles -------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy,clause", [("coteford", "C 2.9"), ("potton", "P §4¶9"), ("priory", "Pr 2.6"),
                                           ("willows", "default"), ("st-hughs", "H §3¶10")])
def test_it_blocks_a_car_whose_registration_is_not_on_record(policy, clause):
    car = {"make": "Ford", "model": "Focus", "colour": "blue", "registration": "", "insurance_expires_on": "2027-01-31"}
    blocked = finding(run(policy, compliant_plan(staff=[person(vehicle=car), person("Jo Bell", vehicle=None)])), "vehicles.details")
    assert (blocked.severity, blocked.clause) == ("block", clause)
    assert "Sam Ali's car has no registration" in blocked.message


@pytest.mark.parametrize("policy,clause", [("coteford", "C 2.9"), ("potton", "default"), ("priory", "Pr 2.6"),
                                           ("willows", "default"), ("st-hughs", "H §3¶10")])
def test_it_blocks_a_car_whose_insurance_has_expired_by_the_visit(policy, clause):
    car = {"make": "Ford", "model": "Focus", "colour": "blue", "registration": "AB12 CDE", "insurance_expires_on": "2026-03-15"}
    blocked = finding(run(policy, compliant_plan(staff=[person(vehicle=car), person("Jo Bell", vehicle=None)])), "vehicles.insurance")
    assert (blocked.severity, blocked.clause) == ("block", clause)
    assert "expired on 15 March 2026" in blocked.message


def test_insurance_that_runs_out_on_the_day_of_the_visit_is_still_valid():
    car = {"make": "Ford", "model": "Focus", "colour": "blue", "registration": "AB12 CDE", "insurance_expires_on": "2026-03-16"}
    assert run("coteford", compliant_plan(staff=[person(vehicle=car), person("Jo Bell", vehicle=None)])).allowed


def test_staff_without_a_car_need_no_vehicle_details():
    plan = compliant_plan(staff=[person(vehicle=None), person("Jo Bell", vehicle=None)])
    assert run("coteford", plan).allowed


# Risk assessment ------------------------------------------------------------------------------

@pytest.mark.parametrize("policy,clause", [("coteford", "C 2.5"), ("potton", "P §4¶4"), ("priory", "Pr 4.5"),
                                           ("willows", "default"), ("st-hughs", "H §3¶6")])
def test_it_blocks_a_visit_without_a_home_visit_risk_assessment(policy, clause):
    plan = compliant_plan(risk_assessment={"home_visit_done_on": None, "lone_working_done_on": None})
    blocked = finding(run(policy, plan), "risk_assessment.home_visit")
    assert (blocked.severity, blocked.clause) == ("block", clause)


@pytest.mark.parametrize("policy,clause", [("coteford", "C 2.5"), ("potton", "P §4¶4"), ("st-hughs", "H §3¶6"),
                                           ("priory", "default")])
def test_it_blocks_a_visit_when_a_new_risk_has_been_recorded_since_the_assessment(policy, clause):
    plan = compliant_plan(risk_assessment={"home_visit_done_on": "2026-03-10", "new_risk_since": True})
    blocked = finding(run(policy, plan), "risk_assessment.new_risk")
    assert (blocked.severity, blocked.clause) == ("block", clause)
    assert "10 March 2026" in blocked.message


def test_a_risk_assessment_done_on_the_day_of_the_visit_counts():
    plan = compliant_plan(risk_assessment={"home_visit_done_on": "2026-03-16"})
    assert run("coteford", plan).allowed


# Appointment ---------------------------------------------------------------------------------

@pytest.mark.parametrize("policy,clause", [("coteford", "C 2.6"), ("st-hughs", "H §3¶7")])
def test_appointment_always_policies_block_even_an_emergency_visit_without_one(policy, clause):
    plan = compliant_plan(appointment={"agreed_with_parent": False}, emergency=True)
    blocked = finding(run(policy, plan), "appointment.agreed")
    assert (blocked.severity, blocked.clause) == ("block", clause)


@pytest.mark.parametrize("policy,clause", [("coteford", "C 2.6"), ("st-hughs", "H §3¶7")])
def test_it_blocks_an_agreed_appointment_without_written_confirmation(policy, clause):
    plan = compliant_plan(appointment={"agreed_with_parent": True, "written_confirmation": False})
    blocked = finding(run(policy, plan), "appointment.written_confirmation")
    assert (blocked.severity, blocked.clause) == ("block", clause)


@pytest.mark.parametrize("policy", ["priory", "willows"])
def test_policies_silent_on_appointments_allow_an_unannounced_visit(policy):
    assert run(policy, compliant_plan(appointment={"agreed_with_parent": False})).allowed


def test_potton_does_not_ask_for_written_confirmation():
    assert run("potton", compliant_plan(appointment={"agreed_with_parent": True, "written_confirmation": False})).allowed


# Hours --------------------------------------------------------------------------------------

def test_potton_blocks_an_after_school_visit_without_a_responsible_contact_citing_p_3_5():
    plan = compliant_plan(starts_at="2026-03-16T16:30", ends_at="2026-03-16T17:15")
    result = run("potton", plan)
    assert finding(result, "hours.responsible_contact").clause == "P §3¶5"
    assert finding(result, "hours.outside_school_hours").severity == "block"


def test_potton_allows_an_after_school_visit_with_a_contact_and_the_headteachers_reason():
    plan = compliant_plan(starts_at="2026-03-16T16:30", ends_at="2026-03-16T17:15", responsible_contact="Pat Moss",
                          overrides=[{"rule": "hours.outside_school_hours", "reason": "Parent works days; no other time"}])
    result = run("potton", plan)
    assert result.allowed, result.to_dict()
    warned = finding(result, "hours.outside_school_hours")
    assert warned.severity == "warn" and '"Parent works days; no other time"' in warned.message


def test_potton_counts_a_saturday_as_outside_school_hours():
    plan = compliant_plan(starts_at="2026-03-21T10:00", ends_at="2026-03-21T10:45")
    assert "hours.responsible_contact" in rules(run("potton", plan), "block")


def test_a_visit_that_starts_before_the_school_day_is_out_of_hours():
    plan = compliant_plan(starts_at="2026-03-16T08:00", ends_at="2026-03-16T08:45")
    assert "hours.outside_school_hours" in rules(run("potton", plan))


@pytest.mark.parametrize("policy", ["coteford", "priory", "willows", "st-hughs"])
def test_policies_silent_on_hours_allow_an_after_school_visit(policy):
    plan = compliant_plan(starts_at="2026-03-16T16:30", ends_at="2026-03-16T17:15")
    assert run(policy, plan).allowed


def test_st_hughs_warns_against_an_evening_visit_citing_its_summary():
    plan = compliant_plan(starts_at="2026-03-16T17:45", ends_at="2026-03-16T18:30")
    result = run("st-hughs", plan)
    warned = finding(result, "hours.evening")
    assert (warned.severity, warned.clause) == ("warn", "H summary, After")
    assert result.allowed
    assert "hours.evening" not in rules(run("st-hughs", compliant_plan()))


# On the doorstep -----------------------------------------------------------------------------

@pytest.mark.parametrize("policy,clause,words", [
    ("coteford", "C 3.9", "separate room"), ("potton", "P §3¶8", "separate room or outside"),
    ("priory", "Pr 4.6", "separate room"), ("willows", "W 3.6", "separate room"), ("st-hughs", "H annex", "avoid contact"),
])
def test_dangerous_animals_raise_a_reminder_with_the_policys_clause(policy, clause, words):
    result = run(policy, compliant_plan(household={"dangerous_animals": True}))
    warned = finding(result, "doorstep.dangerous_animals")
    assert (warned.severity, warned.clause) == ("warn", clause)
    assert words in warned.message
    assert result.allowed


def test_coteford_reminds_staff_that_refused_animals_cancel_the_visit_with_a_written_reason():
    message = finding(run("coteford", compliant_plan(household={"dangerous_animals": True})), "doorstep.dangerous_animals").message
    assert "cancel the visit" in message and "in writing" in message


# Review dates ---------------------------------------------------------------------------------

def test_willows_policy_is_flagged_as_past_its_january_2025_review_date():
    warned = finding(run("willows", compliant_plan()), "review.overdue")
    assert (warned.severity, warned.clause) == ("warn", "W cover")
    assert "January 2025" in warned.message


@pytest.mark.parametrize("policy,clause,last_ok,first_overdue", [
    ("potton", "P §9", "2026-10-30", "2026-11-02"),
    ("priory", "Pr 7.3", "2026-09-30", "2026-10-01"),
    ("coteford", "C 6.2", "2027-12-31", "2028-01-04"),
])
def test_a_policy_is_overdue_only_after_its_review_month_ends(policy, clause, last_ok, first_overdue):
    ok = compliant_plan(starts_at=f"{last_ok}T10:00", ends_at=f"{last_ok}T10:45",
                        approvals=[{"role": "headteacher", "on": "2026-03-10"}])
    late = compliant_plan(starts_at=f"{first_overdue}T10:00", ends_at=f"{first_overdue}T10:45")
    assert "review.overdue" not in rules(run(policy, ok))
    assert finding(run(policy, late), "review.overdue").clause == clause


def test_st_hughs_gives_no_review_date_so_no_visit_is_flagged_overdue():
    plan = compliant_plan(starts_at="2030-03-18T10:00", ends_at="2030-03-18T10:45")
    assert "review.overdue" not in rules(run("st-hughs", plan))


# Stages ----------------------------------------------------------------------------------------

def test_at_approval_a_missing_appointment_and_risk_assessment_are_only_warnings():
    plan = compliant_plan(appointment={"agreed_with_parent": False}, visit_list_signed_by_headteacher=False,
                          risk_assessment={"home_visit_done_on": None})
    result = run("coteford", plan, stage="approve")
    assert result.allowed
    assert set(rules(result, "warn")) >= {"appointment.agreed", "approval.visit_list_signed", "risk_assessment.home_visit"}
    assert all("before the visit is scheduled" in f.message for f in result.findings)
    assert not run("coteford", plan, stage="schedule").allowed


def test_at_approval_staffing_and_vetting_still_block():
    plan = compliant_plan(staff=[person(dbs=None)])
    result = run("coteford", plan, stage="approve")
    assert {"staffing.minimum", "vetting.dbs"} <= set(rules(result, "block"))


def test_at_approval_the_approval_itself_must_be_recorded():
    assert "approval.approver" in rules(run("potton", compliant_plan(approvals=[]), stage="approve"), "block")


def test_a_proposal_is_never_blocked_but_still_lists_every_problem():
    plan = compliant_plan(staff=[person(mobile=None, dbs=None)], approvals=[])
    result = run("coteford", plan, stage="propose")
    assert result.allowed
    assert {"staffing.minimum", "staffing.mobile", "vetting.dbs", "approval.approver"} <= set(rules(result, "warn"))


def test_an_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="stage"):
        run("coteford", compliant_plan(), stage="go")


# Overrides --------------------------------------------------------------------------------------

def test_an_override_the_policy_does_not_allow_keeps_the_visit_blocked_and_says_so():
    plan = lone_plan(overrides=[{"rule": "staffing.minimum", "reason": "Colleague off sick"}])
    result = run("coteford", plan)
    blocked = finding(result, "staffing.minimum")
    assert not result.allowed and blocked.severity == "block"
    assert "does not allow this rule to be overridden" in blocked.message and "Colleague off sick" in blocked.message


def test_an_override_without_a_reason_is_refused_as_an_invalid_plan():
    with pytest.raises(PlanError) as raised:
        Plan.from_dict(compliant_plan(overrides=[{"rule": "hours.outside_school_hours", "reason": "  "}]))
    assert raised.value.field == "overrides[0].reason"


def test_an_override_of_an_unknown_rule_is_refused():
    with pytest.raises(PlanError) as raised:
        Plan.from_dict(compliant_plan(overrides=[{"rule": "staffing.two", "reason": "x"}]))
    assert raised.value.field == "overrides[0].rule"


def test_an_override_of_a_rule_that_found_nothing_changes_nothing():
    plan = compliant_plan(overrides=[{"rule": "hours.outside_school_hours", "reason": "in case"}])
    assert run("potton", plan).findings == []


# Plan validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("change,field", [
    ({"colour": "red"}, "colour"),
    ({"purpose": "shopping"}, "purpose"),
    ({"starts_at": "23/11/2026 10:00"}, "starts_at"),
    ({"starts_at": "2026-02-30T10:00"}, "starts_at"),
    ({"ends_at": "2026-03-16T09:00"}, "ends_at"),
    ({"emergency": "yes"}, "emergency"),
    ({"approvals": [{"role": "governor", "on": "2026-03-10"}]}, "approvals[0].role"),
    ({"approvals": [{"role": "headteacher", "on": "10/03/2026"}]}, "approvals[0].on"),
    ({"risk_assessment": {"home_visit_done_on": "2026-3-1"}}, "risk_assessment.home_visit_done_on"),
    ({"risk_assessment": {"done": True}}, "risk_assessment.done"),
    ({"appointment": {"agreed_with_parent": 1}}, "appointment.agreed_with_parent"),
    ({"household": {"dogs": True}}, "household.dogs"),
    ({"staff": {"name": "Sam"}}, "staff"),
    ({"staff": [{"roles": ["teacher"]}]}, "staff[0].name"),
    ({"staff": [person(roles=["caretaker"])]}, "staff[0].roles[0]"),
    ({"staff": [person(dbs={"level": "gold"})]}, "staff[0].dbs.level"),
    ({"staff": [person(dbs={"level": "enhanced", "issued_on": "yesterday"})]}, "staff[0].dbs.issued_on"),
    ({"staff": [person(vehicle={"make": "Ford", "insurance": "2027-01-01"})]}, "staff[0].vehicle.insurance"),
    ({"staff": [person(pager="123")]}, "staff[0].pager"),
])
def test_an_invalid_plan_names_the_field_at_fault(change, field):
    with pytest.raises(PlanError) as raised:
        evaluate(POLICIES["potton"], compliant_plan(**change))
    assert raised.value.field == field
    assert field in str(raised.value)


def test_a_plan_missing_its_times_names_each_missing_field():
    data = compliant_plan()
    del data["starts_at"], data["ends_at"]
    with pytest.raises(PlanError) as raised:
        Plan.from_dict(data)
    assert [f for f, _ in raised.value.errors] == ["starts_at", "ends_at"]


def test_a_plan_that_is_not_an_object_is_refused():
    with pytest.raises(PlanError):
        Plan.from_dict(["attendance"])


def test_times_with_seconds_and_omitted_optional_fields_are_accepted():
    minimal = {"purpose": "attendance", "starts_at": "2026-03-16T10:00:00", "ends_at": "2026-03-16T10:45:30"}
    result = evaluate(POLICIES["willows"], minimal, stage="propose")
    assert result.allowed and "staffing.minimum" in rules(result)


def test_a_time_zone_is_refused_because_plans_use_local_school_time():
    with pytest.raises(PlanError) as raised:
        Plan.from_dict(compliant_plan(starts_at="2026-03-16T10:00+01:00"))
    assert raised.value.field == "starts_at"


def test_evaluating_does_not_change_the_plan_it_was_given():
    plan = compliant_plan(household={"dangerous_animals": True})
    before = copy.deepcopy(plan)
    run("coteford", plan)
    assert plan == before


def test_a_finding_from_a_default_says_the_schools_policy_is_silent_rather_than_quoting_it():
    result = evaluate(load_policy("willows"), compliant_plan(staff=[person()]))
    minimum = next(f for f in result.findings if f.rule == "staffing.minimum")
    assert minimum.clause == "default"
    assert minimum.message.startswith("Doorstep's default rule (The Willows' policy is silent on this)")
    cited = evaluate(load_policy("coteford"), compliant_plan(staff=[person()]))
    assert next(f for f in cited.findings if f.rule == "staffing.minimum").message.startswith("Coteford's policy")
