"""The data-protection page: the school's retention schedule (read only) and the subject
access export for one pupil or one member of staff. Thin: retention.subject_access does the work."""
from typing import Any, cast

from django import forms
from django.http import HttpResponse
from django.shortcuts import render

from core.downloads import download
from people.models import StaffMember
from pupils.models import Pupil
from schools.models import School
from people.decorators import StaffRequest, require, staff_required

from . import services, subject_access
from .rules import NOT_REMOVED, ORDER, SCHEDULES


class SubjectAccessForm(forms.Form):
    pupil = forms.ModelChoiceField(queryset=Pupil.objects.none(), required=False, label="Pupil",
                                   empty_label="(choose a pupil)")
    staff = forms.ModelChoiceField(queryset=StaffMember.objects.none(), required=False, label="Member of staff",
                                   empty_label="(choose a member of staff)")

    def __init__(self, *args: Any, school: School, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only this school's people can be chosen: another school's id is "not one of the choices".
        cast("forms.ModelChoiceField[Pupil]", self.fields["pupil"]).queryset = (
            Pupil.objects.filter(school=school).order_by("last_name", "first_name"))
        cast("forms.ModelChoiceField[StaffMember]", self.fields["staff"]).queryset = (
            StaffMember.objects.filter(school=school).order_by("full_name"))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not self.errors and bool(data.get("pupil")) == bool(data.get("staff")):
            raise forms.ValidationError("Choose one pupil or one member of staff (not both, not neither).")
        return data


@staff_required
def index(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "records.subject_access")
    form = SubjectAccessForm(request.POST if request.method == "POST" else None, school=me.school)
    if request.method == "POST" and form.is_valid():
        pupil, staff = form.cleaned_data["pupil"], form.cleaned_data["staff"]
        if pupil:
            data, name = subject_access.export_pupil(pupil, actor=me, request=request), f"subject-access-pupil-{pupil.pk}.zip"
        else:
            data, name = subject_access.export_staff(staff, actor=me, request=request), f"subject-access-staff-{staff.pk}.zip"
        return download(data, filename=name, content_type="application/zip")
    years = services.years_for(me.school)
    schedule = [{"key": k, "s": SCHEDULES[k], "years": years[k], "own": years[k] != SCHEDULES[k].years} for k in ORDER]
    return render(request, "retention/index.html", {
        "nav": "data", "form": form, "schedule": schedule, "not_removed": NOT_REMOVED,
    }, status=400 if form.errors else 200)
