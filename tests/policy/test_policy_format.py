"""The policy file format: the five presets say what their written policies say, and a file
with a mistake is refused with a message that names the file, the key and what was expected."""
import re
from pathlib import Path

import pytest

from policy_engine import KEYS, PRESETS, RULE_IDS, Policy, PolicyError, load_policy

DOCS = Path(__file__).resolve().parents[2] / "docs"
MINIMAL = '[policy]\nname = "ours"\nschool = "Our School"\nversion = "1"\n'


def load(extra="", source="ours.toml"):
    return Policy.from_toml(MINIMAL + extra, source=source)


def error_for(extra, source="ours.toml"):
    with pytest.raises(PolicyError) as raised:
        Policy.from_toml(MINIMAL + extra, source=source)
    return str(raised.value)


# The presets say what the written policies say -----------------------------------------------

# (key, {preset: (value, clause)}) as the schools' written policies state them (docs/policy-format.md,
# "How the presets were read").
EXPECTED = [
    ("check_in.interval_minutes", {"coteford": (20, "C 2.4"), "st-hughs": (120, "H §3¶5"), "potton": (None, "default"),
                                   "priory": (None, "default"), "willows": (None, "default")}),
    ("check_in.office_call_after_start_minutes", {"potton": (10, "P §4¶7"), "coteford": (None, "default")}),
    ("check_in.on_arrival", {"coteford": (True, "C 2.4"), "willows": (False, "default")}),
    ("check_in.on_leaving_school", {"coteford": (True, "C 3.10"), "priory": (True, "Pr 2.3"), "st-hughs": (True, "H §4¶7"),
                                    "willows": (False, "default")}),
    ("check_in.on_leaving_home", {"coteford": (True, "C 3.10"), "potton": (True, "P §4¶7"), "priory": (True, "Pr 4.8"),
                                  "st-hughs": (True, "H §4¶7"), "willows": (False, "default")}),
    ("check_in.grace_minutes", {name: (5, "default") for name in PRESETS}),
    ("check_in.code_word", {"potton": (True, "P §4¶7"), "st-hughs": (True, "H threatened ¶4-5"), "coteford": (False, "default")}),
    ("doorstep.absent_parent_wait_minutes", {"coteford": (20, "C 3.4"), "potton": (15, "P §3¶6"), "priory": (None, "Pr 4.3"),
                                             "willows": (10, "W 3.2"), "st-hughs": (10, "H §4¶4")}),
    ("doorstep.absent_parent_action", {"coteford": ("cancel", "C 3.4"), "potton": ("cancel", "P §3¶6"),
                                       "priory": ("leave_card", "Pr 4.3"), "willows": ("cancel", "W 3.2"),
                                       "st-hughs": ("cancel", "H §4¶4")}),
    ("doorstep.late_notice_limit_minutes", {"coteford": (30, "C 3.5"), "willows": (30, "W 3.3"), "potton": (None, "default"),
                                            "priory": (None, "default"), "st-hughs": (None, "default")}),
    ("staffing.minimum", {"coteford": (2, "C 2.10"), "potton": (2, "P §4¶1"), "priory": (1, "Pr 2.4"),
                          "willows": (2, "default"), "st-hughs": (1, "H §3¶2")}),
    ("staffing.lone_visit", {"coteford": ("never", "C 2.10"), "potton": ("headteacher_authorised", "P §4¶1"),
                             "priory": ("lone_working_rules", "Pr 2.4"), "willows": ("headteacher_authorised", "default"),
                             "st-hughs": ("lone_working_rules", "H §3¶2")}),
    ("staffing.dsl_attends_purposes", {"potton": (["safeguarding", "child_protection"], "P §8¶2"), "coteford": ([], "default")}),
    ("risk_assessment.lone_working", {"potton": ("required", "P §4¶2"), "st-hughs": ("required", "H §3¶3"),
                                      "priory": ("advised", "Pr 2.4")}),
    ("approval.approver_roles", {"coteford": (["headteacher", "deputy_headteacher"], "C 2.1"),
                                 "potton": (["headteacher"], "P §3¶4"),
                                 "priory": (["headteacher", "deputy_headteacher"], "Pr 4.2"),
                                 "willows": (["headteacher"], "default"), "st-hughs": (["headteacher"], "H §2")}),
    ("attendance.referral_below_percent", {"coteford": (90, "C 4.4"), "potton": (70, "P §7¶4"), "priory": (None, "Pr 5.3"),
                                           "willows": (None, "default"), "st-hughs": (None, "default")}),
    ("attendance.referral_window_months", {"coteford": (3, "C 4.4"), "potton": (3, "P §7¶4"), "willows": (None, "default")}),
    ("appointment.required", {"coteford": ("always", "C 2.6"), "potton": ("except_emergency", "P §3¶3"),
                              "st-hughs": ("always", "H §3¶7"), "priory": ("not_required", "default")}),
    ("hours.evening_visits", {"st-hughs": ("discouraged", "H summary, After"), "potton": ("allowed", "default")}),
    ("review.next_review", {"coteford": ("2027-12", "C 6.2"), "potton": ("2026-10", "P §9"), "priory": ("2026-09", "Pr 7.3"),
                            "willows": ("2025-01", "W cover"), "st-hughs": (None, "H §8")}),
    ("review.cycle_months", {"st-hughs": (24, "H §8"), "coteford": (12, "C 6.2")}),
    ("after.report", {"coteford": ("every_visit", "C Appendix 2"), "priory": ("after_danger", "Pr 2.5")}),
    ("overrides.rules", {"potton": (["hours.outside_school_hours"], "P §3¶5"), "coteford": ([], "default")}),
]


@pytest.mark.parametrize("key,by_preset", EXPECTED, ids=[k for k, _ in EXPECTED])
def test_each_preset_encodes_its_written_policy_with_the_matrix_clause(key, by_preset):
    for name, (value, clause) in by_preset.items():
        policy = load_policy(name)
        assert (policy.value(key), policy.clause(key)) == (value, clause), name


def test_potton_escalates_to_the_headteacher_then_the_police_citing_p_3_10():
    ladder = load_policy("potton").value("escalation.ladder")
    assert [s["notify"] for s in ladder[:3]] == [["office"], ["headteacher"], ["headteacher"]]
    assert ladder[1]["clause"] == ladder[2]["clause"] == "P §3¶10"
    assert ladder[2]["call_police"] is True


def test_coteford_escalates_to_its_senior_leaders_citing_c_2_4():
    ladder = load_policy("coteford").value("escalation.ladder")
    assert ladder[1] == {"notify": ["headteacher", "deputy_headteacher"], "acknowledge_within_minutes": 10,
                         "call_police": False, "ring": False, "clause": "C 2.4"}


def test_a_policy_silent_on_escalation_gets_the_default_ladder_ending_with_everyone():
    ladder = load_policy("willows").value("escalation.ladder")
    assert [s["notify"] for s in ladder] == [["office"], ["headteacher", "dsl"], ["headteacher", "dsl"], ["everyone"]]
    assert all(s["clause"] == "default" for s in ladder)
    assert ladder[-1]["acknowledge_within_minutes"] is None


@pytest.mark.parametrize("name", PRESETS)
def test_every_clause_a_preset_cites_belongs_to_its_own_policy(name):
    policy = load_policy(name)
    prefix = policy.clause_prefix + " "
    for rule in policy.rules():
        assert rule["clause"] == "default" or rule["clause"].startswith(prefix), rule
    for step in policy.value("escalation.ladder"):
        assert step["clause"] == "default" or step["clause"].startswith(prefix)


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_loads_under_its_own_name_with_a_version(name):
    policy = load_policy(name)
    assert policy.name == name and policy.version and policy.source == f"presets/{name}.toml"


def test_a_preset_file_path_loads_the_same_policy_as_its_name(tmp_path):
    path = Path(__file__).resolve().parents[2] / "policy_engine" / "presets" / "potton.toml"
    assert load_policy(str(path)).to_dict() | {"source": ""} == load_policy("potton").to_dict() | {"source": ""}


def test_the_willows_takes_doorsteps_default_for_most_rules():
    willows = load_policy("willows")
    defaults = [r["key"] for r in willows.rules() if r["clause"] == "default"]
    assert "check_in.interval_minutes" in defaults and "staffing.minimum" in defaults
    assert len(defaults) > len(KEYS) // 2


def test_the_resolved_policy_has_every_key_the_issue_asks_for_with_null_where_absent():
    data = load_policy("willows").to_dict()
    assert data["policy"] == "willows" and data["version"] == "2023-01"
    check_in = data["check_in"]
    assert check_in["interval_minutes"] is None and check_in["office_call_after_start_minutes"] is None
    assert check_in["on_leaving_school"] is False and check_in["on_arrival"] is False and check_in["on_leaving_home"] is False
    assert check_in["grace_minutes"] == 5
    assert data["doorstep"]["absent_parent_wait_minutes"] == 10
    assert data["clauses"]["doorstep.absent_parent_wait_minutes"] == "W 3.2"
    assert data["clauses"]["check_in.interval_minutes"] == "default"


def test_the_policy_page_rules_list_every_key_with_its_clause_and_a_description():
    rules = load_policy("coteford").rules()
    assert [r["key"] for r in rules] == [k.dotted for k in KEYS]
    minimum = next(r for r in rules if r["key"] == "staffing.minimum")
    assert minimum["value"] == 2 and minimum["clause"] == "C 2.10" and minimum["description"]


def test_the_risk_assessment_author_follows_the_policy():
    assert load_policy("coteford").value("risk_assessment.author_role") == "business_manager"
    assert load_policy("potton").value("risk_assessment.author_role") == "headteacher"
    assert load_policy("willows").value("risk_assessment.author_role") is None


def test_asking_for_an_unknown_key_is_a_key_error():
    with pytest.raises(KeyError):
        load_policy("coteford").value("check_in.every")


def test_changing_a_returned_value_does_not_change_the_policy():
    policy = load_policy("coteford")
    policy.value("approval.approver_roles").append("office")
    assert policy.value("approval.approver_roles") == ["headteacher", "deputy_headteacher"]


def test_every_role_and_purpose_a_visit_can_record_is_one_the_engine_accepts():
    from people.models import ROLES
    from policy_engine.schema import PURPOSES, ROLES as ENGINE_ROLES
    from visits.models import PURPOSES as VISIT_PURPOSES

    assert ENGINE_ROLES == ROLES and PURPOSES == VISIT_PURPOSES


# A school's own file ----------------------------------------------------------------------------

def test_a_minimal_file_takes_every_default_and_cites_default():
    policy = load()
    assert all(r["clause"] == "default" for r in policy.rules())
    assert policy.value("staffing.minimum") == 2 and policy.value("staffing.lone_visit") == "headteacher_authorised"


def test_a_schools_own_rule_carries_its_own_clause():
    policy = load('[check_in]\ninterval_minutes = { value = 30, clause = "§5.2" }\n')
    assert (policy.value("check_in.interval_minutes"), policy.clause("check_in.interval_minutes")) == (30, "§5.2")


def test_a_nullable_rule_written_without_a_value_is_deliberately_empty():
    policy = load('[doorstep]\nabsent_parent_action = { value = "leave_card", clause = "4.3" }\n'
                  'absent_parent_wait_minutes = { clause = "4.3", note = "leave a card" }\n')
    assert policy.value("doorstep.absent_parent_wait_minutes") is None
    assert policy.note("doorstep.absent_parent_wait_minutes") == "leave a card"


# Validation errors ------------------------------------------------------------------------------

def test_a_wrong_type_names_the_file_the_key_and_what_was_expected():
    message = error_for('[check_in]\ninterval_minutes = { value = "twenty", clause = "W 2.1" }\n', source="willows.toml")
    assert message == 'willows.toml: check_in.interval_minutes: expected a whole number of minutes (1 to 1440), got "twenty"'


@pytest.mark.parametrize("extra,key,expected", [
    ('[check_in]\ninterval_minutes = { value = -5, clause = "1" }', "check_in.interval_minutes", "1 to 1440"),
    ('[check_in]\ngrace_minutes = { value = 2.5, clause = "1" }', "check_in.grace_minutes", "whole number of minutes"),
    ('[attendance]\nreferral_below_percent = { value = 120, clause = "1" }\nreferral_window_months = { value = 3, clause = "1" }',
     "attendance.referral_below_percent", "percentage (1 to 100)"),
    ('[approval]\napprover_roles = { value = ["head"], clause = "1" }', "approval.approver_roles", '"head" is not one of'),
    ('[approval]\napprover_roles = { value = [], clause = "1" }', "approval.approver_roles", "at least 1"),
    ('[approval]\nrecognised_purposes = { value = ["shopping"], clause = "1" }', "approval.recognised_purposes", "not one of"),
    ('[doorstep]\nabsent_parent_action = { value = "wait", clause = "1" }', "doorstep.absent_parent_action", '"cancel", "leave_card"'),
    ('[staffing]\nlone_visit = { value = "sometimes", clause = "1" }', "staffing.lone_visit", '"never"'),
    ('[staffing]\nmobile_required = { value = "yes", clause = "1" }', "staffing.mobile_required", "true or false"),
    ('[hours]\nschool_day_start = { value = "8.30", clause = "1" }', "hours.school_day_start", '"HH:MM"'),
    ('[review]\nnext_review = { value = "Jan 2025", clause = "1" }', "review.next_review", '"YYYY-MM"'),
    ('[overrides]\nrules = { value = ["staffing.everything"], clause = "1" }', "overrides.rules", "not one of"),
    ('[check_in]\ninterval_minutes = 20', "check_in.interval_minutes", "every rule cites its clause"),
    ('[check_in]\ninterval_minutes = { value = 20 }', "check_in.interval_minutes", "missing clause"),
    ('[check_in]\ninterval_minutes = { value = 20, clause = "" }', "check_in.interval_minutes", "clause"),
    ('[check_in]\ninterval_minutes = { value = 20, clause = "default" }', "check_in.interval_minutes", "leave the key out"),
    ('[check_in]\ninterval_minutes = { value = 20, clause = "1", source = "x" }', "check_in.interval_minutes", 'unknown field "source"'),
    ('[check_in]\ninterval = { value = 20, clause = "1" }', "check_in.interval", 'did you mean "interval_minutes"'),
    ('[checkin]\n', "checkin", 'did you mean "check_in"'),
    ('[staffing]\nminimum = { clause = "1" }', "staffing.minimum", "missing value"),
    ('[staffing]\nminimum = { value = 1, clause = "1" }', "staffing.lone_visit", "lone_working_rules"),
    ('[attendance]\nreferral_below_percent = { value = 90, clause = "1" }', "attendance.referral_window_months", "both"),
    ('[doorstep]\nabsent_parent_wait_minutes = { clause = "1" }', "doorstep.absent_parent_wait_minutes", '"cancel"'),
    ('[hours]\nschool_day_end = { value = "08:00", clause = "1" }', "hours.school_day_end", "after school_day_start"),
    ('[escalation]\nladder = { value = [{ notify = ["caretaker"], clause = "1" }], clause = "1" }', "escalation.ladder", "notify"),
    ('[escalation]\nladder = { value = [{ notify = ["office"], clause = "1" }, { notify = ["everyone"], clause = "1" }], clause = "1" }',
     "escalation.ladder", "acknowledge_within_minutes"),
])
def test_an_impossible_value_is_refused_naming_the_key_and_what_was_expected(extra, key, expected):
    message = error_for(extra + "\n")
    assert message.startswith(f"ours.toml: {key}: "), message
    assert expected in message


def test_every_mistake_in_a_file_is_reported_at_once():
    message = error_for('[check_in]\ninterval_minutes = { value = 0, clause = "1" }\n'
                        '[doorstep]\nabsent_parent_wait_minutes = { value = -1, clause = "1" }\n'
                        '[vetting]\ndbs_level = { value = "super", clause = "1" }\n')
    lines = message.splitlines()
    assert len(lines) == 3
    assert {line.split(": ")[1] for line in lines} == {"check_in.interval_minutes", "doorstep.absent_parent_wait_minutes",
                                                      "vetting.dbs_level"}


def test_a_toml_syntax_error_gives_the_line_number():
    with pytest.raises(PolicyError) as raised:
        Policy.from_toml(MINIMAL + "[check_in]\ninterval_minutes = { value = 20 clause = \"1\" }\n", source="ours.toml")
    assert re.search(r"^ours\.toml: not valid TOML: .*line 6", str(raised.value))


@pytest.mark.parametrize("text,key", [
    ("", "policy"),
    ('[policy]\nschool = "X"\nversion = "1"\n', "policy.name"),
    ('[policy]\nname = "Our School"\nschool = "X"\nversion = "1"\n', "policy.name"),
    ('[policy]\nname = "x"\nschool = "X"\nversion = 1\n', "policy.version"),
    ('[policy]\nname = "x"\nschool = "X"\nversion = "1"\nauthor = "me"\n', "policy.author"),
])
def test_the_policy_section_must_say_which_policy_this_is(text, key):
    with pytest.raises(PolicyError) as raised:
        Policy.from_toml(text, source="ours.toml")
    assert f"ours.toml: {key}: " in str(raised.value)


def test_a_clause_prefix_catches_a_clause_copied_from_another_policy():
    text = MINIMAL.replace('version = "1"', 'version = "1"\nclause_prefix = "W"')
    with pytest.raises(PolicyError, match=r'check_in.interval_minutes: clause: expected a clause of this policy, starting with "W "'):
        Policy.from_toml(text + '[check_in]\ninterval_minutes = { value = 20, clause = "C 2.4" }\n', source="ours.toml")


def test_a_missing_file_and_an_unknown_preset_are_named(tmp_path):
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(str(tmp_path / "ours.toml"))
    with pytest.raises(PolicyError, match="not a preset"):
        load_policy("cotford")


def test_the_errors_are_available_as_key_and_message_pairs():
    with pytest.raises(PolicyError) as raised:
        load('[staffing]\nminimum = { value = 0, clause = "1" }\n')
    assert raised.value.source == "ours.toml"
    assert raised.value.errors == [("staffing.minimum", "expected a whole number of people (1 to 10), got 0")]


# The documentation covers the format ------------------------------------------------------------

def test_the_format_documentation_describes_every_key_and_rule_id():
    text = (DOCS / "policy-format.md").read_text(encoding="utf-8")
    for key in KEYS:
        assert f"`{key.name}`" in text and f"[{key.section}]" in text, key.dotted
    plan_doc = (DOCS / "plan-format.md").read_text(encoding="utf-8")
    for rule in RULE_IDS:
        assert f"`{rule}`" in plan_doc, rule
