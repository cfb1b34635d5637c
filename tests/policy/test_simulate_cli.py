"""`doorstep policy simulate` as an operator runs it (docs/simulate-format.md)."""
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from policy_engine.cli import main
from policy_engine.schema import PRESET_DIR

DOORSTEP = Path(sys.executable).with_name("doorstep")

VISIT = {
    "starts_at": "2026-11-23T10:00",
    "ends_at": "2026-11-23T10:45",
    "staff": ["Sam Ali", "Jo Bell"],
    "events": [
        {"at": "2026-11-23T09:50", "type": "left_school", "expected_return": "2026-11-23T11:15"},
        {"at": "2026-11-23T09:58", "type": "arrived"},
        {"at": "2026-11-23T10:00", "type": "parent_not_home"},
    ],
    "until": "2026-11-23T10:30",
}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, data, name="visit.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_simulate_prints_the_timeline_as_json_and_exits_0(capsys, tmp_path):
    code, out, err = run(capsys, "simulate", "--policy", "coteford", write(tmp_path, VISIT))
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["policy"] == "coteford"
    wait = [e for e in result["timeline"] if e["kind"] == "not_seen_allowed"]
    assert wait == [{"at": "2026-11-23T10:20", "kind": "not_seen_allowed", "level": "info", "clause": "C 3.4",
                     "message": "The 20-minute wait for the parent is over: the visit may be closed as not seen, "
                                "leaving the card."}]
    assert [e["at"] for e in result["timeline"]] == sorted(e["at"] for e in result["timeline"])
    assert set(result["timeline"][0]) == {"at", "kind", "level", "clause", "message"}


def test_simulate_takes_a_policy_file_by_path(capsys, tmp_path):
    ours = tmp_path / "ours.toml"
    shutil.copy(PRESET_DIR / "potton.toml", ours)
    code, out, _ = run(capsys, "simulate", "--policy", str(ours), write(tmp_path, VISIT))
    assert code == 0
    [wait] = [e for e in json.loads(out)["timeline"] if e["kind"] == "not_seen_allowed"]
    assert (wait["at"], wait["clause"]) == ("2026-11-23T10:15", "P §3¶6")


def test_simulate_reads_standard_input(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(VISIT)))
    code, out, _ = run(capsys, "simulate", "--policy", "priory", "-")
    assert code == 0
    [card] = [e for e in json.loads(out)["timeline"] if e["kind"] == "not_seen_allowed"]
    assert card["at"] == "2026-11-23T10:00" and "card" in card["message"]


def test_simulate_refuses_bad_input_with_exit_2_naming_the_file_and_field(capsys, tmp_path):
    bad = dict(VISIT, events=VISIT["events"] + [{"at": "2026-11-23T10:05", "type": "knocked"}])
    path = write(tmp_path, bad)
    code, out, err = run(capsys, "simulate", "--policy", "coteford", path)
    assert code == 2 and out == ""
    assert err.startswith(f"{path}: events[3].type: expected one of left_school, arrived")


def test_simulate_refuses_events_out_of_order_or_after_until(capsys, tmp_path):
    events = [{"at": "2026-11-23T10:05", "type": "arrived"}, {"at": "2026-11-23T10:01", "type": "entered"},
              {"at": "2026-11-23T10:40", "type": "check_in"}]
    code, _, err = run(capsys, "simulate", "--policy", "willows", write(tmp_path, dict(VISIT, events=events)))
    assert code == 2
    assert "events[1].at: events must be in time order" in err
    assert "events[2].at: after until (2026-11-23T10:30)" in err


def test_simulate_refuses_unknown_fields_and_bad_times(capsys, tmp_path):
    data = dict(VISIT, starts_at="2026-11-23T10:00+01:00", speed=3)
    data["events"] = [dict(VISIT["events"][0], weather="rain")]
    code, _, err = run(capsys, "simulate", "--policy", "willows", write(tmp_path, data))
    assert code == 2
    assert "speed: unknown field" in err
    assert 'starts_at: expected a local date and time as "YYYY-MM-DDTHH:MM", got "2026-11-23T10:00+01:00"' in err
    assert "events[0].weather: unknown field" in err


def test_simulate_reports_unreadable_files_invalid_json_and_unknown_policies(capsys, tmp_path):
    code, _, err = run(capsys, "simulate", "--policy", "coteford", str(tmp_path / "none.json"))
    assert code == 2 and "cannot read the events" in err
    code, _, err = run(capsys, "simulate", "--policy", "coteford", write(tmp_path, "{not json"))
    assert code == 2 and "not valid JSON" in err and "line 1" in err
    code, _, err = run(capsys, "simulate", "--policy", "nowhere", write(tmp_path, VISIT))
    assert code == 2 and "not a preset" in err


def test_simulate_runs_through_the_doorstep_command(tmp_path):
    done = subprocess.run([str(DOORSTEP), "policy", "simulate", "--policy", "st-hughs", write(tmp_path, VISIT)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [wait] = [e for e in json.loads(done.stdout)["timeline"] if e["kind"] == "not_seen_allowed"]
    assert (wait["at"], wait["clause"]) == ("2026-11-23T10:10", "H §4¶4")
