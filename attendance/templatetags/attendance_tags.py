from django import template
from django.utils import timezone

from attendance.charts import charts
from attendance.models import PENALTY_SESSIONS, AttendanceMark, ReferralCase, penalty_counts, summaries
from attendance.services import today_window

register = template.Library()


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
