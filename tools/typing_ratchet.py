"""The typing ratchet: what mypy checks may grow, never shrink. Fails (exit 1) when

- a module recorded in STRICT is no longer in pyproject.toml's strict override, or that
  override no longer turns on every --strict flag;
- the project has more ``# type: ignore`` comments than MAX_IGNORES.

When you make another module pass --strict, add it to the override in pyproject.toml and
to STRICT here. When you remove an ignore, lower MAX_IGNORES (the script says so).

    python tools/typing_ratchet.py
"""

from __future__ import annotations

import re
import sys
import tokenize
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The modules that pass --strict (as written in the override's `module` list).
STRICT = [
    "core.*", "policy_engine.*", "app_graph", "typing_ratchet",
    "notify.*",
    "attendance.charts", "attendance.models", "attendance.pack",
    "doorstep.cli",
    "pupils.models", "pupils.upn", "pupils.views",
    "reports.chronology", "reports.ical", "reports.models",
    "retention.*",
    "risk.models",
    "visits.models",
]

# `# type: ignore` comments allowed in the checked code (each needs an error code and a reason).
MAX_IGNORES = 0

# --strict's flags that mypy accepts per module, with the value --strict gives them.
STRICT_FLAGS = {
    "disallow_any_generics": True,
    "disallow_subclassing_any": True,
    "disallow_untyped_calls": True,
    "disallow_untyped_defs": True,
    "disallow_incomplete_defs": True,
    "check_untyped_defs": True,
    "disallow_untyped_decorators": True,
    "warn_unused_ignores": True,
    "warn_return_any": True,
    "implicit_reexport": False,
    "strict_equality": True,
    "extra_checks": True,
}

IGNORE = re.compile(r"#\s*type:\s*ignore\b")


def ignores_in(path: Path) -> int:
    """The `# type: ignore` comments in a file (comments only: not this text in a string)."""
    with path.open("rb") as f:
        return sum(1 for token in tokenize.tokenize(f.readline)
                   if token.type == tokenize.COMMENT and IGNORE.match(token.string))


def mypy_config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config: dict[str, Any] = tomllib.load(f)["tool"]["mypy"]
    return config


def strict_override(config: dict[str, Any]) -> dict[str, Any] | None:
    """The override section that sets disallow_untyped_defs: the ratchet's."""
    for section in config.get("overrides", []):
        if section.get("disallow_untyped_defs"):
            return dict(section)
    return None


def checked_files(config: dict[str, Any]) -> list[Path]:
    paths: list[Path] = []
    for entry in config["files"]:
        path = ROOT / entry
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        paths += [p for p in found if "migrations" not in p.relative_to(ROOT).parts]
    return paths


def problems() -> tuple[list[str], int]:
    """What breaks the ratchet, and how many ignores there are now."""
    config = mypy_config()
    found: list[str] = []
    override = strict_override(config)
    if override is None:
        return ["pyproject.toml has no strict override ([[tool.mypy.overrides]] with disallow_untyped_defs)"], 0
    modules = override.get("module", [])
    modules = [modules] if isinstance(modules, str) else list(modules)
    found += [f"{m} left the strict override in pyproject.toml (it passed --strict; keep it there)"
              for m in STRICT if m not in modules]
    found += [f"the strict override sets {flag} = {str(override.get(flag)).lower()}, --strict needs "
              f"{str(value).lower()}" for flag, value in STRICT_FLAGS.items() if override.get(flag) != value]
    if not config.get("warn_redundant_casts"):
        found.append("[tool.mypy] must set warn_redundant_casts = true (the one --strict flag set for the whole project)")
    ignores = sum(ignores_in(p) for p in checked_files(config))
    if ignores > MAX_IGNORES:
        found.append(f"{ignores} `# type: ignore` comments, more than the {MAX_IGNORES} allowed: type the code instead")
    return found, ignores


def main() -> int:
    found, ignores = problems()
    for problem in found:
        print(f"typing ratchet: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"typing ratchet: {len(STRICT)} strict module patterns kept, {ignores} of {MAX_IGNORES} ignores used")
    if ignores < MAX_IGNORES:
        print(f"typing ratchet: lower MAX_IGNORES in tools/typing_ratchet.py to {ignores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
