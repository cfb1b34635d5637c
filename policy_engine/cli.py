"""`doorstep policy ...`: check, show, list the gaps in, and evaluate plans against a policy;
simulate a visit's timeline under it. Needs no Django settings or database.

Exit codes: 0 success (evaluate: the visit is allowed), 1 evaluate: the visit is blocked,
2 an invalid policy, plan or command line (the error, naming the file and field, goes to stderr).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import os
import sys
from typing import Any, NoReturn

from .gaps import describe, find_gaps, gaps_text
from .rules import STAGES, PlanError, evaluate
from .schema import KEYS, PRESETS, PolicyError, load_policy
from .timing import SimulationError, simulate


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 on usage errors too; keep its message on stderr
        self.print_usage(sys.stderr)
        raise _Usage(f"{self.prog}: error: {message}")


class _Usage(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="doorstep policy", description="Check, show and apply a school's home-visit policy.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = sub.add_parser("check", help="validate a policy file")
    check.add_argument("file", help="a policy .toml file (or a preset name)")
    show = sub.add_parser("show", help="print a policy with every rule and its clause")
    show.add_argument("policy", help=f"a preset ({', '.join(PRESETS)}) or a policy .toml file")
    show.add_argument("--json", action="store_true", help="print the resolved policy as JSON")
    gaps = sub.add_parser("gaps", help="list what the policy is silent on that the reference policies decide")
    gaps.add_argument("policy", help=f"a preset ({', '.join(PRESETS)}) or a policy .toml file")
    gaps.add_argument("--json", action="store_true", help="print the gaps as JSON")
    ev = sub.add_parser("evaluate", help="evaluate a visit plan (JSON) against a policy")
    ev.add_argument("--policy", required=True, help=f"a preset ({', '.join(PRESETS)}) or a policy .toml file")
    ev.add_argument("--stage", choices=STAGES, default="schedule",
                    help="how far the visit has got (default: schedule, where everything required blocks)")
    ev.add_argument("plan", help="the plan as a JSON file, or - for standard input")
    sim = sub.add_parser("simulate", help="print what Doorstep would do and when during a visit (docs/simulate-format.md)")
    sim.add_argument("--policy", required=True, help=f"a preset ({', '.join(PRESETS)}) or a policy .toml file")
    sim.add_argument("events", help="the visit's times and events as a JSON file, or - for standard input")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except _Usage as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        return COMMANDS[args.command](args)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `doorstep policy show coteford | head`
        sys.stdout = open(os.devnull, "w")
        return 0


def cmd_check(args: argparse.Namespace) -> int:
    policy = load_policy(args.file)
    defaults = sum(1 for key in KEYS if policy.is_default(key.dotted))
    print(f"{policy.source}: valid. {policy.school}, policy {policy.name} version {policy.version}; "
          f"{len(KEYS) - defaults} rules cite the policy, {defaults} take Doorstep's default "
          f"(see `doorstep policy gaps {args.file}`).")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    if args.json:
        print(json.dumps(policy.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"{policy.school}: policy {policy.name}, version {policy.version} ({policy.source})")
    if policy.document:
        print(policy.document)
    print('Each rule shows its clause; "default" means the policy is silent and Doorstep\'s default applies.')
    width = max(len(k.name) for k in KEYS)
    section = None
    for key in KEYS:
        if key.section != section:
            section = key.section
            print(f"\n[{section}]")
        value = describe(key.dotted, policy.value(key.dotted))
        print(f"  {key.name:<{width}}  {value}  ({policy.clause(key.dotted)})")
        if policy.note(key.dotted):
            print(f"  {'':<{width}}  note: {policy.note(key.dotted)}")
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    gaps = find_gaps(policy)
    if args.json:
        print(json.dumps({"policy": policy.name, "version": policy.version, "gaps": gaps}, indent=2, ensure_ascii=False))
    else:
        print(gaps_text(policy, gaps), end="")
    return 0


class _Unreadable(Exception):
    """The input file could not be read or is not JSON; the message says which and where."""


def _read_json(path: str, what: str) -> Any:
    """Read JSON from a file or stdin ("-"), for the commands that take a plan or events."""
    name = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _Unreadable(f"{name}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        return name, json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"{name}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def _report_errors(name: str, what: str, errors: list[tuple[str, str]]) -> int:
    for field, message in errors:
        print(f"{name}: {field or f'(the {what})'}: {message}", file=sys.stderr)
    return 2


def cmd_evaluate(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    try:
        name, data = _read_json(args.plan, "plan")
        result = evaluate(policy, data, stage=args.stage)
    except _Unreadable as exc:
        print(exc, file=sys.stderr)
        return 2
    except PlanError as exc:
        return _report_errors(name, "plan", exc.errors)
    print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    return 0 if result.allowed else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    try:
        name, data = _read_json(args.events, "events")
        result = simulate(policy, data)
    except _Unreadable as exc:
        print(exc, file=sys.stderr)
        return 2
    except SimulationError as exc:
        return _report_errors(name, "events", exc.errors)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


COMMANDS = {"check": cmd_check, "show": cmd_show, "gaps": cmd_gaps, "evaluate": cmd_evaluate, "simulate": cmd_simulate}
