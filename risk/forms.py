from typing import Any, cast

from django import forms
from django.forms import inlineformset_factory

from core.forms import DateInput
from people.models import StaffMember
from pupils.models import HouseholdNote, Pupil

from .models import Hazard, RiskAssessment


class RiskAssessmentForm(forms.ModelForm):
    """`writer` is {"role": ..., "label": ..., "clause": ...} when the school's policy names who
    writes home-visit assessments (C 2.5, P §4¶4): then only people holding that role are offered,
    and an assessment recorded as written by anyone else is refused, because it would not count."""

    author = forms.ModelChoiceField(queryset=StaffMember.objects.none(), required=False, label="Written by")

    class Meta:
        model = RiskAssessment
        fields = ["kind", "pupil", "staff", "author", "assessed_on", "summary", "safe_word"]
        widgets = {"assessed_on": DateInput(), "summary": forms.Textarea(attrs={"rows": 3})}
        labels = {"pupil": "Pupil (home-visit assessment)", "staff": "Member of staff (lone-working assessment)",
                  "safe_word": "Their safe word"}
        help_texts = {"safe_word": "Lone-working assessments only. The word they will say to tell the school they "
                                   "are in danger; the office sees it when recording a call in which it is heard."}

    def __init__(self, *args, school, me: StaffMember, writer: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.me, self.writer = me, writer
        # The kind is chosen before the form opens (the two links on the list), so the page asks
        # only what fits it: the pupil for a home visit; the member of staff and their safe word
        # for lone working.
        raw_kind = self.data.get("kind") if self.is_bound else self.initial.get("kind")
        self.assessment_kind = raw_kind if raw_kind in RiskAssessment.Kind.values else RiskAssessment.Kind.HOME_VISIT
        self.fields["kind"].widget = forms.HiddenInput()
        self.initial["kind"] = self.assessment_kind
        if self.assessment_kind == RiskAssessment.Kind.LONE_WORKING:
            del self.fields["pupil"]
        else:
            del self.fields["staff"], self.fields["safe_word"]
        # Plain words instead of Django's "---------" in the lists.
        blanks = {"pupil": "Choose the pupil", "staff": "Choose the member of staff",
                  "author": "Choose who wrote it"}
        for name, words in blanks.items():
            if name in self.fields:
                cast("forms.ModelChoiceField[Any]", self.fields[name]).empty_label = words
        # Only this school's people can be chosen: ids from another school are rejected as invalid choices.
        staff = StaffMember.objects.filter(school=school, active=True)
        if "pupil" in self.fields:
            cast("forms.ModelChoiceField[Pupil]", self.fields["pupil"]).queryset = Pupil.objects.filter(
                school=school, on_roll=True)
        if "staff" in self.fields:
            cast("forms.ModelChoiceField[StaffMember]", self.fields["staff"]).queryset = staff
        if writer and self.assessment_kind != RiskAssessment.Kind.LONE_WORKING:
            staff = staff.filter(roles__role=writer["role"]).distinct()
            self.fields["author"].error_messages["invalid_choice"] = (
                f"Only the {writer['label']} can write a home-visit risk assessment here ({writer['clause']}).")
        # Who may be chosen as the writer (the page says so when the policy's role is held by nobody).
        self.authors = staff.order_by("full_name")
        cast("forms.ModelChoiceField[StaffMember]", self.fields["author"]).queryset = self.authors
        if not self.is_bound and staff.filter(pk=me.pk).exists():
            self.initial.setdefault("author", me.pk)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        kind = data.get("kind")
        if data.get("author") is None and "author" not in self.errors:
            # Nobody chosen: the person at the keyboard wrote it, if the policy lets them.
            data["author"] = self.me
            self.instance.author = self.me
        writer = self.writer
        author = data.get("author")
        if (writer and kind == RiskAssessment.Kind.HOME_VISIT and author is not None
                and not author.has_role(writer["role"])):
            self.add_error("author", f"Only the {writer['label']} can write a home-visit risk assessment "
                                     f"({writer['clause']}); choose who wrote it.")
        if kind == RiskAssessment.Kind.HOME_VISIT and not data.get("pupil"):
            self.add_error("pupil", "A home-visit assessment is about one pupil's home: choose the pupil.")
        if kind == RiskAssessment.Kind.LONE_WORKING and not data.get("staff"):
            self.add_error("staff", "A lone-working assessment is about one member of staff: choose who.")
        data["safe_word"] = (data.get("safe_word") or "").strip() if kind == RiskAssessment.Kind.LONE_WORKING else ""
        return data


class HazardForm(forms.ModelForm):
    class Meta:
        model = Hazard
        fields = ["hazard", "people_at_risk", "severity", "likelihood", "controls"]
        widgets = {"controls": forms.Textarea(attrs={"rows": 2})}
        labels = {"hazard": "What could cause harm", "people_at_risk": "Who could be harmed",
                  "controls": "What to do about it"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("severity", "likelihood"):
            field = cast("forms.TypedChoiceField", self.fields[name])
            field.choices = [("", "Choose 1 to 5"), *Hazard.SCALE]


class BaseHazardFormSet(forms.BaseInlineFormSet):
    # Django's own "Please submit at least 1 form." says nothing a school would understand.
    default_error_messages = {
        **forms.BaseInlineFormSet.default_error_messages,
        "too_few_forms": "Add at least one hazard: what could cause harm, how bad and how likely it is, and what "
                         "to do about it.",
        "too_many_forms": "An assessment can list at most %(num)d hazards: group similar ones together.",
    }


# Far more than any home or lone-working assessment lists. The cap also bounds the work a posted
# form count can ask for: left at Django's 1,000, one request claiming that many hazards took
# about ten seconds to check and draw again.
MAX_HAZARDS = 40

HazardFormSet = inlineformset_factory(
    RiskAssessment, Hazard, form=HazardForm, formset=BaseHazardFormSet, extra=3, min_num=1, validate_min=True,
    max_num=MAX_HAZARDS, absolute_max=MAX_HAZARDS, validate_max=True, can_delete=False,
)


class HouseholdNoteForm(forms.ModelForm):
    class Meta:
        model = HouseholdNote
        fields = ["kind", "text", "dangerous"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3})}
        labels = {"dangerous": "This is a risk to a visitor's safety"}
