"""Searching the audit trail (docs/security.md, "Audit"): one school's entries, narrowed by person, pupil,
action, date range and free text. The page and the CSV export share this.

It lives in retention, the data-protection app, rather than in audit: finding the entries about
a pupil means reading pupils, visits and reports, which all write to the trail and so sit above
audit."""
import datetime
from collections.abc import Iterator
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEntry
from pupils.models import Pupil
from reports.models import Concern, VisitReport
from schools.models import School
from visits.models import Visit


# The menu's headings: the first part of each action's stored name.
ACTION_GROUPS = {
    "signin": "Signing in", "apitoken": "Signing in",
    "staff": "Staff", "staff_register": "Staff",
    "pupil": "Pupils and their homes", "pupils": "Pupils and their homes", "pupil_list": "Pupils and their homes",
    "household": "Pupils and their homes", "risk": "Pupils and their homes", "risk_list": "Pupils and their homes",
    "visit": "Visits", "visitlist": "Visits",
    "checkin": "On the day and alerts", "alert": "On the day and alerts", "hooks": "On the day and alerts",
    "drill": "On the day and alerts", "readiness": "On the day and alerts", "message": "On the day and alerts",
    "report": "After the visit", "concern": "After the visit", "agreement": "After the visit",
    "letter": "After the visit", "chronology": "After the visit", "calendar": "After the visit",
    "attendance": "Attendance", "referral": "Attendance", "mis": "Attendance",
    "setup": "The school and its policy", "policy": "The school and its policy",
}


def action_choices() -> list[tuple[str, Any]]:
    """"Anything", then every action's sentence under its heading ("Data protection" for the rest)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for action in Action:
        heading = ACTION_GROUPS.get(action.value.split(".")[0], "Data protection and the audit trail")
        groups.setdefault(heading, []).append((action.value, action.sentence[:1].upper() + action.sentence[1:]))
    return [("", "Anything")] + [(heading, sorted(options, key=lambda o: o[1])) for heading, options in groups.items()]


class AuditSearchForm(forms.Form):
    person = forms.CharField(required=False, max_length=100, label="Person",
                             help_text="Part of the name of whoever acted.")
    pupil = forms.CharField(required=False, max_length=100, label="Pupil",
                            help_text="Part of a pupil's name or their UPN: entries about them, their visits, reports and concerns.")
    # A list of what people do, in words; the stored value is still matched by its start, so an
    # address written by hand ("?action=visit.") finds every kind of entry about visits.
    action = forms.CharField(required=False, max_length=60, label="What was done",
                             widget=forms.Select(choices=action_choices()))
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    text = forms.CharField(required=False, max_length=100, label="Words",
                           help_text="Words in the summary or the reason given.")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> dict[str, Any]:
        """What was searched for, for the audit entry that records the search itself."""
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def pupil_refs(school: School, words: str) -> list[tuple[str, list[int]]]:
    """(object_type, ids) pairs of the records about the pupils matching `words`."""
    pupils = Pupil.objects.filter(school=school)
    for word in words.split():
        pupils = pupils.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(upn__iexact=word))
    ids = list(pupils.values_list("pk", flat=True)[:500])
    return [
        ("pupils.pupil", ids),
        ("visits.visit", list(Visit.objects.filter(school=school, pupil__in=ids).values_list("pk", flat=True))),
        ("reports.visitreport", list(VisitReport.objects.filter(school=school, pupil__in=ids).values_list("pk", flat=True))),
        ("reports.concern", list(Concern.objects.filter(school=school, pupil__in=ids).values_list("pk", flat=True))),
    ]


def search(school: School, form: AuditSearchForm) -> QuerySet[AuditEntry]:
    """The school's entries matching the form (all of them if it is empty or invalid)."""
    entries = AuditEntry.objects.filter(school=school)
    if not form.is_valid():
        return entries.none()
    data = form.cleaned_data
    if data.get("person"):
        for word in data["person"].split():
            entries = entries.filter(Q(actor_name__icontains=word) | Q(actor__username__iexact=word))
    if data.get("pupil"):
        about = Q(pk__in=[])
        for object_type, ids in pupil_refs(school, data["pupil"]):
            if ids:
                about |= Q(object_type=object_type, object_id__in=[str(i) for i in ids])
        entries = entries.filter(about)
    if data.get("action"):
        action = data["action"].strip()
        # The start of an action: "visit." is everything about visits, "visit.briefing" finds
        # "visit.briefing_viewed"; nobody should have to know the exact spelling.
        entries = entries.filter(action__startswith=action)
    if data.get("date_from"):
        entries = entries.filter(at__gte=_day_start(data["date_from"]))
    if data.get("date_to"):
        entries = entries.filter(at__lt=_day_start(data["date_to"] + datetime.timedelta(days=1)))
    if data.get("text"):
        for word in data["text"].split():
            entries = entries.filter(Q(summary__icontains=word) | Q(reason__icontains=word))
    return entries


CSV_COLUMNS = ["when", "who", "action", "record", "record id", "summary", "reason", "ip address", "user agent"]


def csv_rows(entries: QuerySet[AuditEntry]) -> Iterator[list[object]]:
    for e in entries.iterator(chunk_size=1000):
        yield [timezone.localtime(e.at).isoformat(timespec="seconds"), e.actor_name, e.action, e.object_type,
               e.object_id, e.summary, e.reason, e.ip_address or "", e.user_agent]
