"""A pupil's chronology: everything Doorstep holds about the visits to a pupil and what
followed, in time order, for the screen and for filing (PDF, CSV).

Concerns are safeguarding information: they are left out for anyone who may not
`concern.view` (office staff, teachers...). Corrections appear beside the report they
correct; nothing is hidden because it was later corrected."""
from __future__ import annotations

import datetime
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from django.utils import timezone

from core import csvsafe
from core.csvsafe import neutralise  # noqa: F401 (kept importable: tests and callers use it)
from policy_engine import cite
from safety.checkins.models import VisitEvent
from people.permissions import can
from visits.models import Visit

from .models import Agreement, ChronologyNote, Concern, Filing, Letter, VisitReport

if TYPE_CHECKING:
    from people.models import StaffMember
    from pupils.models import Pupil


@dataclass
class Entry:
    at: datetime.datetime  # aware
    kind: str              # visit, check_ins, report, correction, concern, agreement, agreement_review, letter, note, filing
    title: str
    detail: str = ""
    link: str = ""
    clause: str = ""
    restricted: bool = False   # a concern: only for concern.view
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


KIND_LABELS = {
    "visit": "Visit", "check_ins": "Check-ins", "report": "Visit report", "correction": "Correction",
    "concern": "Concern", "agreement": "Agreement", "agreement_review": "Agreement reviewed", "letter": "Letter",
    "note": "Note", "filing": "Filed",
}


def _event_words(event: VisitEvent) -> str:
    """"14:05 Left the home (Sam Ali)": on a pair visit two people leave, so each line says who."""
    who = event.staff.full_name if event.staff else "everyone on the visit"
    return f"{timezone.localtime(event.at):%H:%M} {event.get_type_display()} ({who})"


def _check_in_summaries(visits: Iterable[Visit]) -> list[Entry]:
    """One line per visit from the visit's event log (check-ins, check-outs, alerts...)."""
    out: list[Entry] = []
    for visit in visits:
        events = list(VisitEvent.objects.filter(visit=visit).select_related("staff").order_by("at", "pk"))
        if not events:
            continue
        last = events[-1]
        out.append(Entry(
            at=last.at, kind="check_ins",
            title=f"{len(events)} event{'s' if len(events) != 1 else ''} recorded on the visit",
            detail="; ".join(_event_words(e) for e in events),
            link=reverse("visits:detail", args=[visit.pk]),
        ))
    return out


def entries(pupil: Pupil, viewer: StaffMember) -> list[Entry]:
    """The chronology as `viewer` may see it, oldest first."""
    out: list[Entry] = []
    visits = list(Visit.objects.filter(pupil=pupil).order_by("starts_at"))
    for v in visits:
        out.append(Entry(
            at=v.starts_at, kind="visit",
            title=f"Home visit ({v.get_purpose_display().lower()}): {v.get_state_display().lower()}",
            detail=v.closed_reason, link=reverse("visits:detail", args=[v.pk]),
        ))
    out += _check_in_summaries([v for v in visits if v.state not in (Visit.State.PROPOSED, Visit.State.DECLINED)])

    for r in VisitReport.objects.filter(pupil=pupil).select_related("corrects"):
        pct = "not known (no marks recorded)" if r.attendance_percent is None else f"{r.attendance_percent}%"
        if r.corrects_id:
            out.append(Entry(at=r.completed_at, kind="correction",
                             title=f"Correction to the report of the visit on {r.visit_date:%-d %B %Y} by {r.completed_by_name}",
                             detail=f"Why: {r.correction_reason}\n{r.summary}",
                             link=reverse("reports:report", args=[r.visit_id])))
        else:
            out.append(Entry(at=r.completed_at, kind="report",
                             title=f"Report of the visit on {r.visit_date:%-d %B %Y} by {r.completed_by_name}",
                             detail=f"Child seen: {'yes' if r.child_seen else 'no'}; spoken to: "
                                    f"{'yes' if r.child_spoken_to else 'no'}; attendance: {pct}.\n{r.summary}",
                             link=reverse("reports:report", args=[r.visit_id])))

    if can(viewer, "concern.view", pupil):
        for c in Concern.objects.filter(pupil=pupil).select_related("raised_by"):
            out.append(Entry(at=c.raised_at, kind="concern", restricted=True,
                             title=f"{c.get_kind_display()} raised by {c.raised_by.full_name}; told "
                                   f"{', '.join(c.sent_to) or 'nobody'}",
                             detail=c.details, clause=cite(c.clause), link=reverse("reports:concern", args=[c.pk])))

    for a in Agreement.objects.filter(pupil=pupil).select_related("made_by", "reviewed_by"):
        out.append(Entry(at=a.made_at, kind="agreement",
                         title=f"Agreement recorded by {a.made_by.full_name}, to review on {a.review_on:%-d %B %Y}",
                         detail=f"{a.text}\nCheck: {a.describe_check()}."))
        if a.status != Agreement.Status.OPEN:
            assert a.reviewed_at is not None  # a review sets the status and the time together
            who = a.reviewed_by.full_name if a.reviewed_by else "Doorstep's daily check"
            out.append(Entry(at=a.reviewed_at, kind="agreement_review",
                             title=f"Agreement {a.get_status_display().lower()} ({who})", detail=a.outcome))

    for letter in Letter.objects.filter(pupil=pupil).select_related("sent_by"):
        out.append(Entry(at=letter.prepared_at, kind="letter", clause=cite(letter.clause),
                         title=f"{letter.get_kind_display()} letter to {letter.addressee} prepared",
                         link=reverse("reports:letter", args=[letter.pk])))
        if letter.sent_at:
            assert letter.sent_by is not None  # sending a letter records who sent it
            out.append(Entry(at=letter.sent_at, kind="letter", clause=cite(letter.clause),
                             title=f"{letter.get_kind_display()} letter sent by {letter.sent_by.full_name}",
                             link=reverse("reports:letter", args=[letter.pk])))

    for n in ChronologyNote.objects.filter(pupil=pupil):
        out.append(Entry(at=n.at, kind="note", title=n.get_kind_display(), detail=n.text, clause=cite(n.clause)))

    for f in Filing.objects.filter(visit__pupil=pupil).select_related("by", "visit"):
        out.append(Entry(at=f.at, kind="filing",
                         title=f"Visit of {timezone.localtime(f.visit.starts_at):%-d %B %Y} filed in {f.system}, "
                               f"reference {f.reference}, by {f.by.full_name}"))

    out.sort(key=lambda e: (e.at, list(KIND_LABELS).index(e.kind)))
    return out


def as_csv(pupil: Pupil, viewer: StaffMember) -> str:
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)  # neutralises cells a spreadsheet would run as formulas
    writer.writerow(["date", "time", "kind", "entry", "detail", "clause", "link"])
    for e in entries(pupil, viewer):
        local = timezone.localtime(e.at)
        writer.writerow([local.date().isoformat(), local.strftime("%H:%M"), e.kind_label, e.title, e.detail,
                         e.clause, e.link])
    return buffer.getvalue()
