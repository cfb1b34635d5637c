"""What must be true at a school before its visits can be proposed, asked of apps above.

Whether a school is ready to send staff into homes depends on things visits cannot see
from its layer: the watchdog that alerts the office (safety), the set-up checklist (setup).
So the app that knows registers a gate here (from its AppConfig.ready()), and
visits.services.propose() asks every gate before it writes anything: one place refuses,
for the pages and the API alike. A gate returns what is missing, in words a headteacher
uses, each with the page where it is put right; an empty list means "nothing stops it"."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.errors import NotAllowed
from schools.models import School


@dataclass(frozen=True)
class Missing:
    """One thing a school must do before proposing a visit."""

    what: str       # "Nobody who gets alerts has a mobile or an email on record."
    link: str       # the page where it is done
    link_text: str  # "Add a mobile on the staff register"


Gate = Callable[[School], list[Missing]]
_gates: list[Gate] = []


class NotReadyToPropose(NotAllowed):
    """The school has not finished the safety-critical part of its set-up."""

    def __init__(self, missing: list[Missing]) -> None:
        self.missing = list(missing)
        super().__init__(
            "Visits cannot be proposed yet: " + " ".join(m.what for m in self.missing)
        )


def register(gate: Gate) -> None:
    """Add a gate (once; registering the same function again changes nothing)."""
    if gate not in _gates:
        _gates.append(gate)


def missing_before_proposing(school: School) -> list[Missing]:
    """Everything every registered gate says is missing at this school."""
    found: list[Missing] = []
    for gate in _gates:
        found.extend(gate(school))
    return found


def refuse_unless_ready(school: School) -> None:
    missing = missing_before_proposing(school)
    if missing:
        raise NotReadyToPropose(missing)
