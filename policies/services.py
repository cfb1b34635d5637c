"""Which policy version applies: to a school now, and to a visit.

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

from typing import TYPE_CHECKING, Protocol

from core.errors import NoPolicy
from policy_engine import Policy

from .models import SchoolPolicy

if TYPE_CHECKING:
    from schools.models import School

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
    """The parsed policy a visit is judged by (see policy_version_for)."""
    return policy_version_for(visit).load()


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
