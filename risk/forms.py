from django import forms
from django.forms import inlineformset_factory

from people.models import StaffMember
from pupils.models import HouseholdNote, Pupil

from .models import Hazard, RiskAssessment


class RiskAssessmentForm(forms.ModelForm):
    class Meta:
        model = RiskAssessment
        fields = ["kind", "pupil", "staff", "assessed_on", "summary", "safe_word_recorded"]
        widgets = {"assessed_on": forms.DateInput(attrs={"type": "date"}), "summary": forms.Textarea(attrs={"rows": 3})}
        labels = {"pupil": "Pupil (home-visit assessment)", "staff": "Member of staff (lone-working assessment)"}

    def __init__(self, *args, school, **kwargs):
        super().__init__(*args, **kwargs)
        # Only this school's people can be chosen: ids from another school are rejected as invalid choices.
        self.fields["pupil"].queryset = Pupil.objects.filter(school=school, on_roll=True)
        self.fields["staff"].queryset = StaffMember.objects.filter(school=school, active=True)

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == RiskAssessment.Kind.HOME_VISIT and not data.get("pupil"):
            self.add_error("pupil", "A home-visit assessment is about one pupil's home: choose the pupil.")
        if kind == RiskAssessment.Kind.LONE_WORKING and not data.get("staff"):
            self.add_error("staff", "A lone-working assessment is about one member of staff: choose who.")
        return data


class HazardForm(forms.ModelForm):
    class Meta:
        model = Hazard
        fields = ["hazard", "people_at_risk", "severity", "likelihood", "controls"]
        widgets = {"controls": forms.Textarea(attrs={"rows": 2})}


HazardFormSet = inlineformset_factory(
    RiskAssessment, Hazard, form=HazardForm, extra=3, min_num=1, validate_min=True, can_delete=False
)


class HouseholdNoteForm(forms.ModelForm):
    class Meta:
        model = HouseholdNote
        fields = ["kind", "text", "dangerous"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3})}
        labels = {"dangerous": "This is a risk to a visitor's safety"}
