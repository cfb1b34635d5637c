"""Attendance pages: importing marks, the referral queue and its cases, the referral pack.
Thin: the import is attendance.importer, decisions are attendance.services.decide."""
from typing import cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.actions import Action
from audit.services import record_read_today
from core import uploads
from core.forms import DateInput
from core.downloads import download
from people.permissions import can
from people.decorators import require, staff_required

from . import services
from .importer import (BUILTIN_MAPPINGS, DATE_FORMATS, ImportFailed, Mapping, UnknownMapping, date_example, import_marks,
                       mapping_for, mapping_names, save_mapping)
from .models import PENALTY_SESSIONS, AttendanceMark, ImportMapping, ImportRun, ReferralCase, penalty_counts, summaries
from .pack import referral_pack_pdf

# The web page takes a term's export comfortably; a whole year for a big school goes through
# `doorstep import_attendance`, which has no upload limit and shows progress.
# Size, name and type are checked in core.uploads, the one place every upload is checked.
MAX_UPLOAD_BYTES = uploads.KINDS["csv"].max_bytes


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file exported from your MIS",
                           help_text="Up to 25 MB. Every line is checked first: if any line is wrong, nothing is imported.")
    mapping = forms.ChoiceField(label="Column mapping")
    pupil_key = forms.ChoiceField(label="Pupils are identified by", required=False,
                                  choices=[("", "as the mapping says")] + list(ImportMapping.PupilKey.choices))
    pupil_column = forms.CharField(label="Pupil column", required=False, max_length=100)
    date_column = forms.CharField(label="Date column", required=False, max_length=100)
    date_format = forms.ChoiceField(
        label="Dates are written like", required=False,
        choices=[("", "as the mapping says")] + [
            (f, date_example(f) + (" (month first)" if f.startswith("%m") else "")) for f in DATE_FORMATS])
    session_column = forms.CharField(label="Session (AM/PM) column", required=False, max_length=100)
    mark_column = forms.CharField(label="Mark column", required=False, max_length=100)
    save_as = forms.SlugField(label="Save these columns as a mapping named", required=False, max_length=60)

    def __init__(self, *args, school, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["mapping"]).choices = [(n, f"{n} (built in)" if n in BUILTIN_MAPPINGS else n) for n in mapping_names(school)]
        self.school = school

    def clean_file(self):
        return uploads.check(self.cleaned_data["file"], "csv", max_bytes=MAX_UPLOAD_BYTES)

    def chosen_mapping(self):
        try:
            base = mapping_for(self.school, self.cleaned_data["mapping"])
        except UnknownMapping as exc:
            raise ValidationError(str(exc)) from None
        keys = ["pupil_key", "pupil_column", "date_column", "date_format", "session_column", "mark_column"]
        changes = {k: self.cleaned_data[k].strip() for k in keys if self.cleaned_data.get(k, "").strip()}
        if changes or self.cleaned_data["save_as"]:
            base = Mapping(**{**base.__dict__, **changes, "name": self.cleaned_data["save_as"] or f"{base.name} (adjusted)"})
        return base


@staff_required
def import_page(request):
    me = request.staff
    require(me, "attendance.import")
    form = ImportForm(request.POST or None, request.FILES or None, school=me.school)
    failed = None
    if request.method == "POST" and form.is_valid():
        try:
            mapping = form.chosen_mapping()
        except ValidationError as exc:
            form.add_error("mapping", exc)
        else:
            upload = form.cleaned_data["file"]
            try:
                run = import_marks(me.school, upload, mapping, actor=me, file_name=uploads.safe_name(upload.name), request=request)
            except ImportFailed as exc:
                failed = exc
            else:
                if form.cleaned_data["save_as"]:
                    save_mapping(me.school, mapping, form.cleaned_data["save_as"])
                messages.success(request, f"Imported {upload.name}: {run.created} new, {run.updated} changed, "
                                          f"{run.unchanged} unchanged marks.")
                return redirect("attendance:import")
    runs = ImportRun.objects.filter(school=me.school)[:10]
    return render(request, "attendance/import.html", {
        "nav": "attendance", "form": form, "failed": failed, "runs": runs,
        "mappings": [mapping_for(me.school, n) for n in mapping_names(me.school)],
    })


def _live_figures(school, cases):
    """Today's figures for the pupils in the queue, two grouped queries for the whole page."""
    threshold, start, end = services.today_window(school)
    pupils = [c.pupil_id for c in cases]
    figures = summaries(AttendanceMark.objects.filter(pupil_id__in=pupils), start, end) if pupils else {}
    penalties, span = penalty_counts(school, end, pupils=pupils) if pupils else ({}, None)
    for c in cases:
        c.today = figures.get(c.pupil_id)
        c.penalty_today = penalties.get(c.pupil_id, 0)
        c.penalty_now = c.penalty_today >= PENALTY_SESSIONS
    return threshold, start, end, span


@staff_required
def queue(request):
    me = request.staff
    require(me, "referral.view")
    cases = ReferralCase.objects.filter(school=me.school).select_related("pupil", "decided_by")
    open_cases = list(cases.filter(state=ReferralCase.State.OPEN))
    decided = list(cases.exclude(state=ReferralCase.State.OPEN).order_by("-decided_at")[:30])
    threshold, start, end, span = _live_figures(me.school, open_cases + decided)
    # Longest waiting first; among cases opened the same day, the lowest attendance first.
    def worst_first(case):
        percent = (case.today or {}).get("percent")
        return (case.opened_on, 101 if percent is None else percent, case.pk)  # 0 % is the worst, not "unknown"

    open_cases.sort(key=worst_first)
    return render(request, "attendance/queue.html", {
        "nav": "referrals", "open_cases": open_cases, "decided": decided, "threshold": threshold,
        "start": start, "end": end, "penalty_span": span, "penalty_limit": PENALTY_SESSIONS,
        "may_decide": can(me, "referral.decide"),
    })


class DecisionForm(forms.Form):
    referred = forms.TypedChoiceField(label="Decision", widget=forms.RadioSelect, coerce=lambda v: v == "yes",
                                      choices=[("yes", "Referred to the local authority"), ("no", "Not referred")],
                                      error_messages={"required": "Choose whether the pupil was referred or not."})
    referred_on = forms.DateField(label="Date referred", required=False, widget=DateInput(),
                                  error_messages={"invalid": "Enter the date it was referred, for example 7 December 2026."})
    note = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 4}),
                           help_text="If referred: to whom and how. If not: the reason.",
                           error_messages={"required": "Write a note: to whom and how it was referred, or why not."})


def _case(request, pk):
    case = get_object_or_404(ReferralCase.objects.select_related("pupil", "school", "decided_by"), pk=pk, school=request.staff.school)
    require(request.staff, "referral.view", case)
    return case


@staff_required
def case_detail(request, pk):
    case = _case(request, pk)
    record_read_today(request, case, "a referral case (attendance and visits)", action=Action.REFERRAL_VIEWED)
    form = DecisionForm(initial={"referred_on": timezone.localdate()})
    threshold, start, end, span = _live_figures(case.school, [case])
    return render(request, "attendance/case.html", {
        "nav": "referrals", "case": case, "form": form, "may_decide": can(request.staff, "referral.decide", case),
        "threshold": threshold, "start": start, "end": end, "penalty_span": span, "penalty_limit": PENALTY_SESSIONS,
        "visits": case.pupil.visits.filter(school=case.school).order_by("-starts_at"),
    })


@require_POST
@staff_required
def decide(request, pk):
    case = _case(request, pk)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            services.decide(case, request.staff, referred=form.cleaned_data["referred"], note=form.cleaned_data["note"],
                            referred_on=form.cleaned_data["referred_on"], request=request)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc)
        else:
            messages.success(request, "Decision recorded. Doorstep has sent nothing: the referral is yours to make.")
            return redirect("attendance:queue")
    threshold, start, end, span = _live_figures(case.school, [case])
    return render(request, "attendance/case.html", {
        "nav": "referrals", "case": case, "form": form, "may_decide": True, "threshold": threshold,
        "start": start, "end": end, "penalty_span": span, "penalty_limit": PENALTY_SESSIONS,
        "visits": case.pupil.visits.filter(school=case.school).order_by("-starts_at"),
    }, status=400)


@staff_required
def pack(request, pk):
    """The referral pack as a PDF, for the headteacher to attend to and send themselves."""
    case = _case(request, pk)
    pdf = referral_pack_pdf(case, by=request.staff, request=request)
    return download(pdf, filename=f"referral-pack-{case.pk}.pdf", content_type="application/pdf", inline=True)

