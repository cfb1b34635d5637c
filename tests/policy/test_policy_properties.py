"""Properties of the rule engine over many generated plans and policy files (hypothesis)."""
import datetime
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from policy_engine import KEYS, PRESETS, RULE_IDS, Plan, PlanError, Policy, PolicyError, evaluate, load_policy
from policy_engine.schema import PURPOSES, ROLES

POLICIES = {name: load_policy(name) for name in PRESETS}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dates = st.dates(min_value=datetime.date(2024, 1, 1), max_value=datetime.date(2028, 12, 31))
maybe_date = st.none() | dates.map(datetime.date.isoformat)
names = st.sampled_from(["Sam Ali", "Jo Bell", "Dee Shah", "Pat Moss", "Ravi Nair"])


@st.composite
def staff_members(draw):
    has_car = draw(st.booleans())
    return {
        "name": draw(names),
        "roles": draw(st.lists(st.sampled_from(ROLES), unique=True, max_size=3)),
        "dbs": draw(st.none() | st.fixed_dictionaries({
            "level": st.sampled_from(["basic", "standard", "enhanced"]),
            "barred_list_checked": st.booleans(),
            "issued_on": dates.map(datetime.date.isoformat),
        })),
        "trained_home_visitor": draw(st.booleans()),
        "mobile": draw(st.sampled_from([None, "", "07700 900123"])),
        "vehicle": draw(st.fixed_dictionaries({
            "make": st.sampled_from(["Ford", ""]), "model": st.just("Focus"), "colour": st.sampled_from(["blue", None]),
            "registration": st.just("AB12 CDE"), "insurance_expires_on": maybe_date,
        })) if has_car else None,
    }


@st.composite
def plans(draw):
    day = draw(dates)
    start = datetime.datetime.combine(day, datetime.time(draw(st.integers(6, 20)), draw(st.sampled_from([0, 15, 30, 45]))))
    end = start + datetime.timedelta(minutes=draw(st.integers(15, 240)))
    return {
        "purpose": draw(st.sampled_from(PURPOSES)),
        "starts_at": start.isoformat(timespec="minutes"),
        "ends_at": end.isoformat(timespec="minutes"),
        "staff": draw(st.lists(staff_members(), max_size=3)),
        "approvals": draw(st.lists(st.fixed_dictionaries({"role": st.sampled_from(ROLES), "on": dates.map(datetime.date.isoformat)}), max_size=2)),
        "visit_list_signed_by_headteacher": draw(st.booleans()),
        "risk_assessment": {"home_visit_done_on": draw(maybe_date), "lone_working_done_on": draw(maybe_date),
                            "new_risk_since": draw(st.booleans())},
        "appointment": {"agreed_with_parent": draw(st.booleans()), "written_confirmation": draw(st.booleans())},
        "emergency": draw(st.booleans()),
        "lone_visit_authorised_by_headteacher": draw(st.booleans()),
        "responsible_contact": draw(st.sampled_from([None, "Pat Moss"])),
        "household": {"dangerous_animals": draw(st.booleans())},
    }


presets = st.sampled_from(PRESETS)
stages = st.sampled_from(["propose", "approve", "schedule"])

QUALIFIED = {
    "name": "Alex Qualified", "roles": ["teacher"], "trained_home_visitor": True, "mobile": "07700 900999",
    "dbs": {"level": "enhanced", "barred_list_checked": True, "issued_on": "2024-01-01"}, "vehicle": None,
}


def blocks(result):
    return {f.rule for f in result.findings if f.severity == "block"}


@FAST
@given(presets, plans(), stages)
def test_a_visit_is_allowed_exactly_when_nothing_blocks_it(name, plan, stage):
    result = evaluate(POLICIES[name], plan, stage=stage)
    assert result.allowed == (not blocks(result))
    assert all(f.severity in ("block", "warn") for f in result.findings)


@FAST
@given(presets, plans(), stages)
def test_every_finding_cites_the_policys_own_clause_or_default(name, plan, stage):
    policy = POLICIES[name]
    for finding in evaluate(policy, plan, stage=stage).findings:
        assert finding.rule in RULE_IDS
        assert finding.clause == "default" or finding.clause.startswith(policy.clause_prefix + " ")
        assert finding.message and finding.message[0].isupper() and finding.message.endswith((".", '".'))


@FAST
@given(presets, plans())
def test_a_proposal_is_never_blocked(name, plan):
    assert evaluate(POLICIES[name], plan, stage="propose").allowed


@FAST
@given(presets, plans())
def test_approving_never_blocks_on_more_than_scheduling_does(name, plan):
    approve = blocks(evaluate(POLICIES[name], plan, stage="approve"))
    schedule = blocks(evaluate(POLICIES[name], plan, stage="schedule"))
    assert approve <= schedule


@FAST
@given(presets, plans())
def test_adding_a_second_qualified_member_of_staff_never_adds_a_block(name, plan):
    assume(plan["staff"])
    before = blocks(evaluate(POLICIES[name], plan))
    plan["staff"].append(dict(QUALIFIED))
    after = blocks(evaluate(POLICIES[name], plan))
    assert after <= before


@FAST
@given(presets, plans(), stages)
def test_the_same_plan_always_gets_the_same_findings(name, plan, stage):
    first = evaluate(POLICIES[name], plan, stage=stage).to_dict()
    again = evaluate(load_policy(name), Plan.from_dict(json.loads(json.dumps(plan))), stage=stage).to_dict()
    assert first == again
    assert json.loads(json.dumps(first)) == first


@FAST
@given(presets, plans(), st.sampled_from(RULE_IDS))
def test_an_override_only_lifts_a_block_where_the_policy_allows_it(name, plan, rule):
    policy = POLICIES[name]
    before = blocks(evaluate(policy, plan))
    plan["overrides"] = [{"rule": rule, "reason": "Headteacher's decision"}]
    after = blocks(evaluate(policy, plan))
    if rule in policy.value("overrides.rules"):
        assert after == before - {rule}
    else:
        assert after == before


@FAST
@given(plans(), st.sampled_from(["staff", "household", "appointment", "risk_assessment", ""]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12))
def test_an_unknown_field_anywhere_is_refused_and_named(plan, where, field):
    known = {"purpose", "starts_at", "ends_at", "staff", "approvals", "visit_list_signed_by_headteacher", "risk_assessment",
             "appointment", "emergency", "lone_visit_authorised_by_headteacher", "responsible_contact", "household",
             "overrides", "name", "roles", "dbs", "trained_home_visitor", "mobile", "vehicle", "home_visit_done_on",
             "lone_working_done_on", "new_risk_since", "agreed_with_parent", "written_confirmation", "dangerous_animals"}
    if field in known:
        return
    if where == "staff":
        plan["staff"] = [dict(QUALIFIED, **{field: 1})]
        expected = f"staff[0].{field}"
    elif where:
        plan[where][field] = 1
        expected = f"{where}.{field}"
    else:
        plan[field] = 1
        expected = field
    try:
        Plan.from_dict(plan)
    except PlanError as exc:
        assert expected in [f for f, _ in exc.errors]
    else:
        raise AssertionError(f"{expected} was accepted")


SAMPLE_VALUES = st.one_of(
    st.integers(-50, 2000), st.booleans(),
    # Control characters cannot appear raw in a TOML string: the test writes values unescaped.
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=12), st.sampled_from(["cancel", "never", "08:30", "2026-10"]),
    st.lists(st.sampled_from(ROLES + PURPOSES + ["nobody"]), max_size=3),
)


def _toml(value):
    return json.dumps(value, ensure_ascii=False)  # JSON scalars and lists of strings are valid TOML values


@FAST
@given(st.sampled_from([k for k in KEYS if k.kind != "ladder"]), SAMPLE_VALUES)
def test_any_value_in_a_policy_file_either_loads_or_is_refused_naming_its_key(key, value):
    text = ('[policy]\nname = "ours"\nschool = "Our School"\nversion = "1"\n'
            f'[{key.section}]\n{key.name} = {{ value = {_toml(value)}, clause = "§1" }}\n')
    try:
        policy = Policy.from_toml(text, source="ours.toml")
    except PolicyError as exc:
        assert all(msg for _, msg in exc.errors)
        assert str(exc).startswith("ours.toml: ")
        assert any(k == key.dotted or k.startswith(("staffing.", "attendance.", "doorstep.", "hours."))
                   for k, _ in exc.errors)
    else:
        assert policy.clause(key.dotted) == "§1"
        assert json.loads(json.dumps(policy.to_dict()))["clauses"][key.dotted] == "§1"
