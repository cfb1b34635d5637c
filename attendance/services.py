"""The daily referral scan and the headteacher's decision on a referral case.

The rule is the school's own: attendance below `attendance.referral_below_percent` over the
last `attendance.referral_window_months` (Coteford 90 % over three months, C 4.4; Potton 70 %,
P §7¶4). A policy without a figure (Priory, the Willows, St Hugh's) raises no case. Doorstep
opens a case and shows it to the headteacher; it never refers anyone by itself."""
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import record, record_many
from core import bulk
from people.permissions import can
from schools.models import School

from .models import AttendanceMark, ReferralCase, below_ids, case_figures, penalty_window, window


@dataclass(frozen=True)
class Threshold:
    percent: int
    months: int
    clause: str


def threshold_for(school):
    """The school's referral threshold from its current policy, or None if it sets none."""
    version = school.current_policy()
    if version is None:
        return None
    policy = version.load()
    percent = policy.attendance.referral_below_percent
    months = policy.attendance.referral_window_months.value
    if percent.value is None or months is None:
        return None
    return Threshold(percent.value, months, percent.clause)


@dataclass
class ScanResult:
    school: object
    threshold: Threshold | None
    pupils: int = 0
    below: int = 0
    opened: int = 0
    cleared: int = 0


def scan_school(school, today=None):
    """Check every pupil on roll against the threshold for the window ending `today`; open a
    case for each pupil newly below it. Idempotent: a second run on the same day finds every
    case already open and changes nothing."""
    today = today or timezone.localdate()
    threshold = threshold_for(school)
    result = ScanResult(school, threshold)
    if threshold is None:
        return result
    start, end = window(today, threshold.months)
    result.pupils = school.pupils.filter(on_roll=True).count()
    marks = AttendanceMark.objects.filter(pupil__school=school, pupil__on_roll=True)
    # Only the ids of the pupils below the threshold come back from the database (below_ids());
    # their figures are read below for the cases to open alone, so that a second scan the same
    # day, which opens none, costs one grouped query.
    low = set(below_ids(marks, start, end, threshold.percent))
    result.below = len(low)

    with transaction.atomic():
        # Two scans of one school at once (a cron run and a manual one) take turns here, so
        # the second sees the first's cases and opens none twice.
        type(school).objects.select_for_update().get(pk=school.pk)
        live = dict(ReferralCase.objects.select_for_update()
                    .filter(school=school, cleared_on__isnull=True).values_list("pupil_id", "state"))
        # A decided case whose pupil is back at or above the threshold is cleared, so that a
        # later fall opens a fresh case. An open case stays until someone decides it.
        recovered = [pid for pid, state in live.items() if state != ReferralCase.State.OPEN and pid not in low]
        if recovered:
            result.cleared = ReferralCase.objects.filter(
                school=school, pupil_id__in=recovered, cleared_on__isnull=True).update(cleared_on=today)
        opening = sorted(pid for pid in low if pid not in live)
        # The figures that open each case and its G/N/O/U sessions in the rolling 10 school
        # weeks, in one pass over just these pupils' marks. Read under the school's lock: a
        # pupil no longer below by now (marks imported since below_ids()) gets no case.
        found = case_figures(opening, start, end, penalty_window(school, today)) if opening else {}
        # Plain rows, not model instances: a big school's first scan opens thousands of cases,
        # and making each case and its audit entry an instance cost more than writing them.
        new: list[dict[str, Any]] = [
            {"pupil_id": pid, "possible": f.possible, "attended": f.attended, "authorised": f.authorised,
             "unauthorised": f.unauthorised, "percent": Decimal(str(f.percent)), "penalty_sessions": min(f.penalty, 32767)}
            for pid, f in ((pid, found[pid]) for pid in opening if pid in found)
            if f.attended * 100 < threshold.percent * f.possible  # still below, as below_ids() tests it
        ]
        if new:
            # Written without asking for their ids back (bulk_create on SQLite writes 50 rows a
            # statement), then the ids read once: a pupil has one uncleared case (a constraint),
            # and the school's row is locked above, so nobody else opens one meanwhile.
            bulk.insert_rows(ReferralCase, new, alike={
                "school_id": school.pk, "state": ReferralCase.State.OPEN, "opened_on": today, "window_start": start,
                "window_end": end, "threshold_percent": threshold.percent, "clause": threshold.clause})
            ids = dict(ReferralCase.objects.filter(school=school, opened_on=today, cleared_on__isnull=True)
                       .values_list("pupil_id", "pk"))
            rule = (f"the referral threshold of {threshold.percent}% ({threshold.clause}) "
                    f"for {start:%d %b %Y} to {end:%d %b %Y}")
            span = [start.isoformat(), end.isoformat()]
            record_many(actor=None, school_id=school.pk, action=Action.REFERRAL_OPENED,
                        object_type=ReferralCase._meta.label_lower, entries=[
                            (ids[case["pupil_id"]], f"Attendance {case['percent']}% is below {rule}",
                             {"pupil": case["pupil_id"], "window": span, "threshold": threshold.percent,
                              "clause": threshold.clause})
                            for case in new])
        result.opened = len(new)
    return result


def referral_scan(today=None, schools=None):
    """Scan every school (or the ones given). Returns a ScanResult per school."""
    return [scan_school(s, today) for s in (schools if schools is not None else School.objects.all())]


def decide(case, by, *, referred, note, referred_on=None, request=None):
    """Record the headteacher's decision on an open case: referred (when, and a note of to
    whom and how) or not referred (with the reason). Doorstep sends nothing itself."""
    if not can(by, "referral.decide", case):
        raise PermissionDenied("Only the headteacher decides on a referral.")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say who it was referred to and how." if referred else "Give the reason for not referring."})
    if referred:
        if referred_on is None:
            raise ValidationError({"referred_on": "Give the date of the referral."})
        if referred_on > timezone.localdate():
            raise ValidationError({"referred_on": "The referral date cannot be in the future."})
        if referred_on < case.opened_on:
            raise ValidationError({"referred_on": "The referral date cannot be before the case was opened."})
    state = ReferralCase.State.REFERRED if referred else ReferralCase.State.NOT_REFERRED
    now = timezone.now()
    with transaction.atomic():
        # Conditional update: of two people deciding at once, only the first wins.
        hit = ReferralCase.objects.filter(pk=case.pk, state=ReferralCase.State.OPEN).update(
            state=state, decided_by=by, decided_at=now, note=note, referred_on=referred_on if referred else None)
        if not hit:
            raise ValidationError("This case has already been decided.")
        case.refresh_from_db()
        record(actor=by, school=case.school, action=Action.REFERRAL_REFERRED if referred else Action.REFERRAL_NOT_REFERRED, obj=case,
               summary=(f"Referred on {referred_on:%d %b %Y}" if referred else "Decided not to refer")
               + f" (attendance {case.percent}%, threshold {case.threshold_percent}%, {case.clause})",
               reason=note, data={"pupil": case.pupil_id, "referred_on": referred_on}, request=request)
    return case


def today_window(school, today=None):
    """(threshold, start, end) the pupil page and the queue use."""
    today = today or timezone.localdate()
    threshold = threshold_for(school)
    months = threshold.months if threshold else 3
    start, end = window(today, months)
    return threshold, start, end

