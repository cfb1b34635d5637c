"""`doorstep policy check|show|gaps|evaluate` as an operator runs them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policy_engine.cli import main
from tests.policy.test_policy_rules import compliant_plan, lone_plan

DOORSTEP = Path(sys.executable).with_name("doorstep")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_plan(tmp_path, plan, name="plan.json"):
    path = tmp_path / name
    path.write_text(json.dumps(plan), encoding="utf-8")
    return str(path)


# check ----------------------------------------------------------------------------------------

def test_check_accepts_a_valid_file_and_says_how_much_is_left_to_defaults(capsys, tmp_path):
    path = tmp_path / "ours.toml"
    path.write_text('[policy]\nname = "ours"\nschool = "Our School"\nversion = "3"\n'
                    '[staffing]\nminimum = { value = 2, clause = "§4" }\n', encoding="utf-8")
    code, out, err = run(capsys, "check", str(path))
    assert code == 0 and err == ""
    assert "valid" in out and "Our School" in out and "1 rules cite the policy" in out


def test_check_refuses_a_bad_file_with_every_error_naming_file_and_key(capsys, tmp_path):
    path = tmp_path / "willows.toml"
    path.write_text('[policy]\nname = "willows"\nschool = "W"\nversion = "1"\n'
                    '[check_in]\ninterval_minutes = { value = "twenty", clause = "W 2.1" }\n'
                    '[doorstep]\nabsent_parent_action = { value = "wait", clause = "W 3.2" }\n', encoding="utf-8")
    code, out, err = run(capsys, "check", str(path))
    assert code == 2 and out == ""
    assert f'{path}: check_in.interval_minutes: expected a whole number of minutes (1 to 1440), got "twenty"' in err
    assert f"{path}: doorstep.absent_parent_action: expected one of" in err


def test_check_reports_a_toml_syntax_error_with_its_line(capsys, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[policy]\nname = "x"\nschool = "X\n', encoding="utf-8")
    code, _, err = run(capsys, "check", str(path))
    assert code == 2 and "not valid TOML" in err and "line 3" in err


def test_check_of_a_missing_file_says_so(capsys, tmp_path):
    code, _, err = run(capsys, "check", str(tmp_path / "nope.toml"))
    assert code == 2 and "no such policy file" in err


@pytest.mark.parametrize("name", ["coteford", "potton", "priory", "willows", "st-hughs"])
def test_check_accepts_every_preset(capsys, name):
    assert run(capsys, "check", name)[0] == 0


# show -------------------------------------------------------------------------------------------

def test_show_prints_each_rule_with_its_clause(capsys):
    code, out, _ = run(capsys, "show", "coteford")
    assert code == 0
    assert "Coteford Junior School" in out
    assert any("interval_minutes" in line and "every 20 min" in line and "(C 2.4)" in line for line in out.splitlines())
    assert any("lone_visit" in line and "never" in line and "(C 2.10)" in line for line in out.splitlines())


def test_show_json_gives_the_resolved_policy_with_clauses(capsys):
    code, out, _ = run(capsys, "show", "potton", "--json")
    data = json.loads(out)
    assert code == 0 and data["policy"] == "potton" and data["version"] == "2025-10"
    assert data["check_in"]["office_call_after_start_minutes"] == 10
    assert data["check_in"]["interval_minutes"] is None
    assert data["doorstep"] == data["doorstep"] | {"absent_parent_wait_minutes": 15, "absent_parent_action": "cancel",
                                                     "late_notice_limit_minutes": None}
    assert data["staffing"]["lone_visit"] == "headteacher_authorised"
    assert data["attendance"]["referral_below_percent"] == 70 and data["attendance"]["referral_window_months"] == 3
    assert data["clauses"]["check_in.office_call_after_start_minutes"] == "P §4¶7"


REQUIRED_JSON_KEYS = [
    "check_in.on_leaving_school", "check_in.on_arrival", "check_in.interval_minutes",
    "check_in.office_call_after_start_minutes", "check_in.on_leaving_home", "check_in.grace_minutes",
    "doorstep.absent_parent_wait_minutes", "doorstep.absent_parent_action", "doorstep.late_notice_limit_minutes",
    "staffing.minimum", "staffing.lone_visit", "attendance.referral_below_percent", "attendance.referral_window_months",
]


@pytest.mark.parametrize("name", ["coteford", "potton", "priory", "willows", "st-hughs"])
def test_show_json_includes_every_key_the_other_modules_read(capsys, name):
    data = json.loads(run(capsys, "show", name, "--json")[1])
    for dotted in REQUIRED_JSON_KEYS:
        section, key = dotted.split(".")
        assert key in data[section], dotted
        value = data[section][key]
        if dotted.endswith(("_minutes", "_percent", "_months")) or dotted == "staffing.minimum":
            assert value is None or (isinstance(value, int) and not isinstance(value, bool)), (dotted, value)
        assert dotted in data["clauses"]


def test_show_of_an_unknown_policy_fails_with_the_list_of_presets(capsys):
    code, out, err = run(capsys, "show", "cotford")
    assert code == 2 and out == "" and "coteford, potton, priory, willows, st-hughs" in err


# gaps ---------------------------------------------------------------------------------------------

def test_gaps_lists_what_willows_is_silent_on_with_what_the_references_do(capsys):
    code, out, _ = run(capsys, "gaps", "willows")
    assert code == 0
    block = out.split("check_in.interval_minutes:")[1].split("\n\n")[0]
    assert "Doorstep's default: not set" in block
    assert "Coteford: every 20 min (C 2.4)" in block and "St Hugh's: every 120 min (H §3¶5)" in block
    assert "staffing.minimum:" in out and "Coteford: 2 (C 2.10)" in out
    assert "doorstep.absent_parent_wait_minutes:" not in out  # The Willows decides that one (W 3.2)


def test_gaps_never_compares_a_preset_with_itself(capsys):
    out = run(capsys, "gaps", "coteford")[1]
    assert "Coteford:" not in out
    assert "check_in.office_call_after_start_minutes:" in out and "Potton: 10 min (P §4¶7)" in out


def test_gaps_json_is_machine_readable(capsys):
    data = json.loads(run(capsys, "gaps", "willows", "--json")[1])
    gap = next(g for g in data["gaps"] if g["key"] == "check_in.interval_minutes")
    assert gap["default"] is None
    assert {(r["policy"], r["value"], r["clause"]) for r in gap["references"]} == {("coteford", 20, "C 2.4"), ("st-hughs", 120, "H §3¶5")}


# evaluate ----------------------------------------------------------------------------------------

def test_evaluate_prints_the_result_and_exits_0_when_allowed(capsys, tmp_path):
    code, out, _ = run(capsys, "evaluate", "--policy", "coteford", write_plan(tmp_path, compliant_plan()))
    assert code == 0
    assert json.loads(out) == {"policy": "coteford", "policy_version": "2025-12", "allowed": True, "findings": []}


def test_evaluate_exits_1_with_the_blocking_clause_when_blocked(capsys, tmp_path):
    code, out, _ = run(capsys, "evaluate", "--policy", "coteford", write_plan(tmp_path, lone_plan()))
    result = json.loads(out)
    assert code == 1 and result["allowed"] is False
    assert {"rule": "staffing.minimum", "severity": "block", "clause": "C 2.10",
            "message": "Coteford's policy requires two members of staff on every home visit; this visit has one (Sam Ali)."} in result["findings"]


def test_evaluate_at_the_propose_stage_never_blocks(capsys, tmp_path):
    code, out, _ = run(capsys, "evaluate", "--policy", "coteford", "--stage", "propose", write_plan(tmp_path, lone_plan()))
    assert code == 0 and json.loads(out)["findings"]


def test_evaluate_exits_2_naming_the_file_and_the_unknown_field(capsys, tmp_path):
    plan = compliant_plan()
    plan["staff"][0]["vehicle"]["insurance"] = "2027-01-01"
    path = write_plan(tmp_path, plan)
    code, out, err = run(capsys, "evaluate", "--policy", "potton", path)
    assert code == 2 and out == ""
    assert f"{path}: staff[0].vehicle.insurance: unknown field" in err


def test_evaluate_exits_2_on_a_plan_that_is_not_json(capsys, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"purpose": "attendance",\n', encoding="utf-8")
    code, _, err = run(capsys, "evaluate", "--policy", "potton", str(path))
    assert code == 2 and f"{path}: not valid JSON" in err and "line 2" in err


def test_evaluate_exits_2_when_the_policy_is_invalid(capsys, tmp_path):
    bad = tmp_path / "ours.toml"
    bad.write_text('[policy]\nname = "ours"\nschool = "X"\nversion = "1"\n[staffing]\nminimum = { value = 0, clause = "1" }\n')
    code, _, err = run(capsys, "evaluate", "--policy", str(bad), write_plan(tmp_path, compliant_plan()))
    assert code == 2 and f"{bad}: staffing.minimum:" in err


def test_evaluate_exits_2_when_the_plan_file_is_missing(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", "--policy", "potton", str(tmp_path / "none.json"))
    assert code == 2 and "none.json: cannot read the plan" in err


def test_a_usage_mistake_exits_2_with_usage_on_stderr(capsys):
    code, out, err = run(capsys, "evaluate", "plan.json")
    assert code == 2 and out == "" and "--policy" in err


def test_the_installed_command_works_without_django_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    plan = write_plan(tmp_path, lone_plan(lone_visit_authorised_by_headteacher=True))
    done = subprocess.run([str(DOORSTEP), "policy", "evaluate", "--policy", "potton", plan],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["allowed"] is True
    assert "django" not in done.stderr.lower()
