"""The policy engine: a school's written policy as data, and pure rule functions that
evaluate a visit plan against it. No database access here, by design: it is fast, easy to
test exhaustively, and the same code serves the CLI, the API and the visit lifecycle.

INTERFACE (other modules rely on exactly these names):

    PRESETS: list[str]                       # "coteford", "potton", "priory", "willows", "st-hughs"
    class PolicyError(ValueError)            # str() names the file, the key and what was expected
    class Policy:
        name: str; version: str; source: str
        @classmethod from_toml(text: str, source: str) -> Policy
        @classmethod from_file(path) -> Policy
        @classmethod preset(name: str) -> Policy
        def value(key: str)                  # resolved value, e.g. value("check_in.interval_minutes") -> 20 or None
        def clause(key: str) -> str          # e.g. "C 2.4", or "default" where the policy is silent
        def to_dict() -> dict                # resolved policy as JSON-able nested dict (see docs/policy-format.md)
        def rules() -> list[dict]            # [{"key", "value", "clause", "description"}] for the policy page
        approval, staffing, check_in, ...    # typed reads, one view per section (policy_engine.sections):
                                             # policy.check_in.interval_minutes -> Rule(value=20, clause="C 2.4", note="")
    def cite(clause: str) -> str             # a clause as messages quote it; "Doorstep's default rule" where silent
    def load_policy(name_or_path: str) -> Policy

    class PlanError(ValueError)              # .field names the offending field, e.g. "staff[0].dbs.issued_on"
    class Plan: from_dict(data: dict) -> Plan  (unknown fields are an error)
    @dataclass Finding: rule, severity ("block"|"warn"), clause, message
    @dataclass Evaluation: policy, policy_version, allowed, findings; to_dict()
    def evaluate(policy: Policy, plan: Plan | dict, *, stage: str = "schedule") -> Evaluation
        stage "schedule": everything the policy requires before the visit goes ahead blocks.
        stage "approve": rules that only have to be met before the visit is scheduled
                         (appointment, signed visit list, risk assessments) are reported as "warn".
        stage "propose": nothing blocks; every finding is reported as "warn".

The format is policy_engine.schema (docs/policy-format.md); plans and rules are policy_engine.rules
(docs/plan-format.md); `doorstep policy gaps` is policy_engine.gaps.
"""
from .rules import Evaluation, Finding, Plan, PlanError, STAGES, evaluate
from .schema import KEYS, PRESETS, RULE_IDS, RULES, Policy, PolicyError, load_policy
from .sections import LadderStep, Rule, cite

__all__ = [
    "PRESETS", "PolicyError", "Policy", "load_policy", "PlanError", "Plan", "Finding", "Evaluation", "evaluate",
    "STAGES", "KEYS", "RULES", "RULE_IDS", "Rule", "LadderStep", "cite",
]
