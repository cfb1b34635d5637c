"""The referral pack: what the local authority will ask for, on paper, for the headteacher
to check and send. Doorstep renders it; it never sends it."""
from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Model
from django.utils import timezone

from audit.actions import Action
from audit.services import record
from core.pdf import render_pdf

from .charts import chart
from .models import (
    CODE_INFO, CODES_BY_MEANING, MEANINGS, PENALTY_SESSIONS, AttendanceMark, ReferralCase, penalty_counts, summaries,
)

if TYPE_CHECKING:
    from django.http import HttpRequest

    from people.models import StaffMember
    from pupils.models import Pupil


def _reports_items(pupil: Pupil) -> dict[str, list[Model]]:
    """The pupil's agreements and the letters sent (the reports app's rows, reached through
    the pupil so that attendance need not import it)."""
    return {
        "agreements": list(pupil.agreements.order_by("made_at")),
        "letters": list(pupil.letters.filter(sent_at__isnull=False).order_by("sent_at")),
    }


def pack_context(case: ReferralCase, today: datetime.date | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    pupil, school = case.pupil, case.school
    start, end = case.window_start, case.window_end
    marks = AttendanceMark.objects.filter(pupil=pupil)
    summary = summaries(marks, start, end).get(pupil.pk)
    # Marks in the window by code: the LA sees which kind of absence it was.
    by_code: dict[str, int] = {}
    for code in marks.filter(date__gte=start, date__lte=end).values_list("code", flat=True):
        by_code[code] = by_code.get(code, 0) + 1
    code_rows = [{"code": c, "count": n, "description": CODE_INFO[c].description, "meaning": MEANINGS[CODE_INFO[c].meaning]}
                 for c, n in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0])) if c in CODE_INFO]
    penalties, span = penalty_counts(school, today, pupils=[pupil])
    return {
        "school": school, "case": case, "pupil": pupil, "summary": summary, "today": today,
        "code_rows": code_rows, "charts": [chart(pupil, case.threshold_percent, end=case.window_end, weeks=16)],
        "visits": list(pupil.visits.filter(school=school).prefetch_related("assignments__staff").order_by("starts_at")),
        "penalty": penalties.get(pupil.pk, 0), "penalty_span": span, "penalty_limit": PENALTY_SESSIONS,
        "contacts": list(pupil.contacts.all()), "codes_by_meaning": CODES_BY_MEANING,
        **_reports_items(pupil),
    }


def referral_pack_pdf(case: ReferralCase, by: StaffMember | None = None, request: HttpRequest | None = None) -> bytes:
    pdf = render_pdf("attendance/pdf/referral_pack.html", pack_context(case))
    record(actor=by, school=case.school, action=Action.REFERRAL_PACK_RENDERED, obj=case,
           summary=f"Referral pack produced for case {case.pk}", request=request)
    return pdf
