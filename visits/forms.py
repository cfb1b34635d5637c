import datetime
from typing import Any, cast

from django import forms
from django.utils import timezone

from people.models import ROLE_LABELS, StaffMember
from pupils.models import Contact, Pupil

from .models import PURPOSE_CHOICES, Visit


class StaffChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, staff):
        roles = ", ".join(ROLE_LABELS.get(r, r) for r in staff.role_names)
        return f"{staff.full_name} ({roles})" if roles else staff.full_name


class StaffMemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, staff):
        return staff.full_name


class PupilChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, pupil):
        return f"{pupil.last_name}, {pupil.first_name} ({pupil.get_year_group_display()}{', ' + pupil.class_name if pupil.class_name else ''})"


def purpose_choices(school) -> list[Any]:
    """The school's policy's reasons for a visit first; the rest after, labelled as outside the
    policy (the live check says so again when one is chosen)."""
    version = school.current_policy()
    try:
        recognised = set(version.load().approval.recognised_purposes.value) if version else set()
    except ValueError:  # a stored version that no longer parses (PolicyError)
        recognised = set()
    named = [(key, label) for key, label in PURPOSE_CHOICES if key in recognised]
    others = [(key, label) for key, label in PURPOSE_CHOICES if key not in recognised]
    if not named or not others:
        return [("", "Choose a purpose")] + PURPOSE_CHOICES
    return [("", "Choose a purpose"), ("Reasons the school's policy names", named),
            ("Not named in the school's policy: it needs a second look", others)]


class ProposeVisitForm(forms.Form):
    """A visit plan. The form only checks that the plan is complete and makes sense;
    what the policy says about it comes from the rule engine, through visits.services."""

    pupil = PupilChoiceField(queryset=Pupil.objects.none(), empty_label="Choose a pupil")
    purpose = forms.ChoiceField(choices=[("", "Choose a purpose")] + PURPOSE_CHOICES)
    reason = forms.CharField(
        label="Why is this visit needed?",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the visit is necessary and in the pupil's best interests.",
    )
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    start_time = forms.TimeField(label="Start time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    end_time = forms.TimeField(label="End time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    staff = StaffChoiceField(
        label="Who is going",
        queryset=StaffMember.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Everyone who will be at the visit.",
    )
    emergency = forms.BooleanField(
        required=False,
        label="Emergency or immediate concern: no appointment is possible",
    )
    responsible_contact = StaffMemberChoiceField(
        label="Responsible contact (outside school hours)",
        queryset=StaffMember.objects.none(),
        required=False,
        empty_label="Nobody named",
        help_text="Who checks on the staff's welfare if the visit is outside school hours.",
    )

    def __init__(self, *args, school, **kwargs):
        super().__init__(*args, **kwargs)
        cast(PupilChoiceField, self.fields["pupil"]).queryset = Pupil.objects.filter(school=school, on_roll=True)
        staff = StaffMember.objects.filter(school=school).active().prefetch_related("roles")
        cast(StaffChoiceField, self.fields["staff"]).queryset = staff
        cast(StaffMemberChoiceField, self.fields["responsible_contact"]).queryset = staff
        purposes = cast(forms.ChoiceField, self.fields["purpose"])
        purposes.choices = purpose_choices(school)
        if isinstance(purposes.choices[1][1], list):
            purposes.help_text = ("The reasons your school's policy names for a home visit come first; any other "
                                  "reason is flagged for a second look.")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        date, start, end = data.get("date"), data.get("start_time"), data.get("end_time")
        if date and start and end:
            starts_at = timezone.make_aware(datetime.datetime.combine(date, start))
            ends_at = timezone.make_aware(datetime.datetime.combine(date, end))
            if ends_at <= starts_at:
                self.add_error("end_time", "The end time must be after the start time.")
            elif starts_at < timezone.now() - datetime.timedelta(minutes=5):
                self.add_error("date", "The visit must start in the future. Check the date and start time.")
            else:
                data["starts_at"], data["ends_at"] = starts_at, ends_at
        return data

    def service_kwargs(self):
        d = self.cleaned_data
        return {
            "pupil": d["pupil"],
            "purpose": d["purpose"],
            "reason": d["reason"],
            "starts_at": d["starts_at"],
            "ends_at": d["ends_at"],
            "staff": list(d["staff"]),
            "emergency": d["emergency"],
            "responsible_contact": d.get("responsible_contact"),
        }


class EditPlanForm(ProposeVisitForm):
    """The plan of a proposal, to change it: the same fields as proposing, the pupil fixed."""

    def __init__(self, *args, visit, **kwargs):
        kwargs.setdefault("initial", {
            "purpose": visit.purpose, "reason": visit.reason,
            "date": timezone.localtime(visit.starts_at).date(),
            "start_time": timezone.localtime(visit.starts_at).time(),
            "end_time": timezone.localtime(visit.ends_at).time(),
            "staff": [a.staff_id for a in visit.assignments.order_by("-lead", "id")],
            "emergency": visit.emergency, "responsible_contact": visit.responsible_contact_id,
        })
        super().__init__(*args, **kwargs)
        del self.fields["pupil"]
        self.visit = visit

    def service_kwargs(self):
        d = self.cleaned_data
        return {
            "purpose": d["purpose"], "reason": d["reason"], "starts_at": d["starts_at"], "ends_at": d["ends_at"],
            "staff": list(d["staff"]), "emergency": d["emergency"], "responsible_contact": d.get("responsible_contact"),
        }


class ApproveForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Anything the visiting staff should know.",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason", widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give a reason: it is recorded in the visit's history."},
    )

    def __init__(self, *args, label=None, help_text=None, **kwargs):
        super().__init__(*args, **kwargs)
        if label:
            self.fields["reason"].label = label
        if help_text:
            self.fields["reason"].help_text = help_text


class OverrideForm(ReasonForm):
    rule = forms.ChoiceField(label="Which rule", choices=())

    field_order = ["rule", "reason"]

    def __init__(self, *args, rules=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["rule"]).choices = [("", "Choose the rule")] + [(r, label) for r, label in rules]


class ScheduleForm(forms.Form):
    appointment_agreed = forms.BooleanField(
        required=False, label="An appointment has been agreed with the parent or carer",
    )
    written_confirmation = forms.BooleanField(
        required=False, label="Written confirmation of the appointment is held in the office",
    )
    agreed_with = forms.ModelChoiceField(
        label="Parent or carer who agreed", queryset=Contact.objects.none(), required=False, empty_label="Not recorded",
    )
    notes = forms.CharField(
        label="Appointment notes (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example: the parent asked us to knock at the side door.",
    )

    def __init__(self, *args, visit, **kwargs):
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Contact]", self.fields["agreed_with"]).queryset = visit.pupil.contacts.all()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("agreed_with") and not data.get("appointment_agreed"):
            self.add_error("appointment_agreed", "Tick this if the appointment was agreed with someone.")
        return data


class ChangeAppointmentForm(forms.Form):
    """A new time for a scheduled visit's appointment, and why it changed."""

    date = forms.DateField(label="New date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    start_time = forms.TimeField(label="Start time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    end_time = forms.TimeField(label="End time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    reason = forms.CharField(
        label="Why is the appointment changing?", widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the visit's history. The people your policy names are told of the change.",
        error_messages={"required": "Give a reason: it is recorded in the visit's history."},
    )

    def __init__(self, *args, visit, **kwargs):
        local = timezone.localtime(visit.starts_at)
        kwargs.setdefault("initial", {"date": local.date(), "start_time": local.time(),
                                      "end_time": timezone.localtime(visit.ends_at).time()})
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        date, start, end = data.get("date"), data.get("start_time"), data.get("end_time")
        if date and start and end:
            data["starts_at"] = timezone.make_aware(datetime.datetime.combine(date, start))
            data["ends_at"] = timezone.make_aware(datetime.datetime.combine(date, end))
        return data


class VisitsChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, visit):
        # Dated as people write it ("Monday 7 December 2026, 11:00"), not "Mon 07 Dec 11:00".
        return f"{visit.pupil.full_name}: {visit.get_purpose_display()}, {timezone.localtime(visit.starts_at):%A %-d %B %Y, %H:%M}"


class VisitListForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200, help_text="For example: Attendance visits, week of 23 November.")
    visits = VisitsChoiceField(
        label="Visits on the list",
        queryset=Visit.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one approved visit."},
    )

    def __init__(self, *args, school, **kwargs):
        super().__init__(*args, **kwargs)
        cast(VisitsChoiceField, self.fields["visits"]).queryset = (
            Visit.objects.filter(school=school, state=Visit.State.APPROVED, visit_list__isnull=True)
            .select_related("pupil")
            .order_by("starts_at")
        )
