"""A school's policy: adopting a new version, and which version applies to a school now and
to a visit.

Two answers, deliberately different:

- the version a visit is *judged by* (policy_version_for): once approved, a visit keeps the
  version it was approved under, even after the school adopts a new one; a proposed visit is
  judged by the school's current version. No policy at all is a refusal (NoPolicy).
- the version a visit *records* (recorded_policy_version): the one on the visit if it has
  one, whatever its state, else the school's current one; None if the school has none. This
  is what is written about a visit after the fact (reports, closing it) and what its page
  shows, so it never refuses.
"""
from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from django.db import transaction

from audit.actions import Action
from audit.services import record
from core.errors import NoPolicy
from policy_engine import Policy
from policy_engine.schema import PRESET_DIR
from schools.models import School

from .models import SchoolPolicy, parsed_version

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The state a visit is in before anyone approves it. policies sits below visits, so it reads
# the state's stored value rather than importing visits.models.Visit.State.
PROPOSED = "proposed"


class VisitWithPolicy(Protocol):
    """What these functions read of a visit (visits.models.Visit)."""

    policy_version_id: int | None
    policy_version: SchoolPolicy | None
    state: str

    @property
    def school(self) -> School: ...


def policy_now(school: School) -> Policy | None:
    """The school's current policy (School.current_policy), parsed; None before it has
    adopted one."""
    version = school.current_policy()
    return version.load() if version is not None else None


def school_policy(school: School) -> SchoolPolicy:
    """The school's current version; NoPolicy if it has none yet."""
    version = school.current_policy()
    if version is None:
        raise NoPolicy(
            f"{school} has no home-visit policy in Doorstep yet. The headteacher or business manager "
            "must choose a preset or upload the school's policy on the policy page first."
        )
    return version


def policy_version_for(visit: VisitWithPolicy) -> SchoolPolicy:
    """The version a visit is judged by: the one it was approved under, else (while it is only
    proposed) the school's current one; NoPolicy if there is none."""
    if visit.policy_version_id and visit.state != PROPOSED and visit.policy_version is not None:
        return visit.policy_version
    return school_policy(visit.school)


def policy_for(visit: VisitWithPolicy) -> Policy:
    """The parsed policy a visit is judged by (see policy_version_for). The version it was
    approved under comes from the process's cache by its id (models.parsed_version): the visit's
    row is enough, without its version's row (a check-in reads nothing more)."""
    if visit.policy_version_id and visit.state != PROPOSED:
        return parsed_version(visit.policy_version_id)
    return school_policy(visit.school).load()


def recorded_policy_version(visit: VisitWithPolicy) -> SchoolPolicy | None:
    """The version on the visit if it has one, whatever its state, else the school's current
    one; None if the school has no policy yet."""
    if visit.policy_version_id and visit.policy_version is not None:
        return visit.policy_version
    return visit.school.current_policy()


def recorded_policy(visit: VisitWithPolicy) -> Policy | None:
    """The parsed recorded_policy_version, or None if the school has no policy yet."""
    version = recorded_policy_version(visit)
    return version.load() if version is not None else None


# ----------------------------------------------------------------------------- adopting a policy

class PolicyRejected(ValueError):
    """A policy that cannot be adopted; str() says why, naming the file (and the key)."""


def read_policy_source(name_or_path: str) -> tuple[str, str]:
    """(source_name, toml_text) for a preset name or a policy file path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        if not path.is_file():
            raise PolicyRejected(f"{name_or_path}: no such policy file")
        try:
            return path.name, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyRejected(f"{name_or_path}: cannot read the policy file ({exc})") from exc
    preset = PRESET_DIR / f"{name_or_path}.toml"
    if not preset.is_file():
        known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.toml"))) or "none installed"
        raise PolicyRejected(f"{name_or_path}: not a policy file and not a preset (presets: {known})")
    return name_or_path, preset.read_text(encoding="utf-8")


def validate_policy(source_name: str, text: str) -> Policy:
    """Parse with the policy engine; a PolicyError names the file and the key."""
    try:
        return Policy.from_toml(text, source=source_name)
    except ValueError as exc:  # PolicyError is a ValueError
        message = str(exc)
        if source_name not in message:
            message = f"{source_name}: {message}"
        raise PolicyRejected(f"Policy not changed. {message}") from exc


def store_policy(school: School, source_name: str, text: str, created_by: User | None = None,
                 via: str = "the command line", reason: str = "") -> SchoolPolicy:
    """A new SchoolPolicy version for the school (versions are never edited), written to the
    school's audit trail in the same transaction: the policy decides who may go where, so a
    change of policy is a change like any other, whoever made it and however."""
    with transaction.atomic():
        # Lock the school row so two operators cannot both take the same version number.
        School.objects.select_for_update().get(pk=school.pk)
        latest = school.policy_versions.order_by("-version").values_list("version", flat=True).first() or 0
        stored = SchoolPolicy.objects.create(
            school=school, version=latest + 1, source_name=source_name, toml_text=text, created_by=created_by,
            reason=reason,
        )
        record(actor=created_by, school=school, action=Action.POLICY_ADOPTED, obj=stored,
               summary=f"Policy version {stored.version} adopted from {source_name} ({via})", reason=reason,
               data={"version": stored.version, "source": source_name, "via": via,
                     "operator": getpass.getuser() if created_by is None else ""})
        return stored
