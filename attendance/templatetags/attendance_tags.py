from django import template
from django.utils import timezone

from attendance.charts import charts
from attendance.models import (PENALTY_SESSIONS, AttendanceMark, ReferralCase, attendance_summary, months_before,
                               penalty_counts, summaries)
from attendance.services import today_window

register = template.Library()

# The pupil page's short summary looks back this far, whatever the policy's referral window.
RECENT_MONTHS = 3


@register.inclusion_tag("attendance/_chart.html")
def attendance_chart(pupil, threshold_percent=None, end=None, id_prefix="att"):
    """The weekly attendance chart (inline SVG) with the threshold line and visits marked."""
    drawings = charts(pupil, threshold_percent, end)
    return {"charts": drawings, "summary_chart": drawings[-1], "pupil": pupil, "id_prefix": id_prefix}


@register.inclusion_tag("attendance/_pupil_panel.html", takes_context=True)
def attendance_panel(context, pupil):
    """Chart, absence flags, penalty-notice indicator and referral case for the pupil page."""
    today = timezone.localdate()
    threshold, start, end = today_window(pupil.school, today)
    summary = summaries(AttendanceMark.objects.filter(pupil=pupil), start, end).get(pupil.pk)
    counts, span = penalty_counts(pupil.school, today, pupils=[pupil])
    return {
        "pupil": pupil, "threshold": threshold, "start": start, "end": end, "summary": summary,
        "penalty": counts.get(pupil.pk, 0), "penalty_span": span, "penalty_limit": PENALTY_SESSIONS,
        "case": ReferralCase.objects.filter(pupil=pupil, cleared_on__isnull=True).first(),
        "request": context.get("request"),
    }


def _referral_threshold(school):
    """The school's attendance referral threshold and its clause, if its policy sets one."""
    version = school.current_policy()
    if version is None:
        return None
    percent = version.load().attendance.referral_below_percent
    if percent.value is None:
        return None
    return {"percent": percent.value, "clause": percent.clause}


@register.inclusion_tag("attendance/_pupil_recent.html")
def recent_attendance(pupil):
    """The pupil page's attendance in the last three months, drawn here because the marks and
    their arithmetic are attendance's (the pupils app, below it, does not count them)."""
    today = timezone.localdate()
    since = months_before(today, RECENT_MONTHS)
    codes = pupil.attendance_marks.filter(date__gte=since, date__lte=today).values_list("code", flat=True)
    attendance = attendance_summary(codes)
    threshold = _referral_threshold(pupil.school)
    return {
        "attendance": attendance, "attendance_since": since, "threshold": threshold,
        "below_threshold": bool(threshold and attendance["percent"] is not None
                                and attendance["percent"] < threshold["percent"]),
    }
