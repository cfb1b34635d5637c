"""Forms of the staff register's edit pages (people/views.py; the changes are made by
people.register_edits)."""
from django import forms

from .models import ROLE_CHOICES, DbsCheck, StaffMember, Training, Vehicle

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class DetailsForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(label="Roles", choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple,
                                      required=False)

    class Meta:
        model = StaffMember
        fields = ["full_name", "job_title", "mobile", "email", "appearance", "trained_home_visitor"]
        labels = {"full_name": "Full name", "job_title": "Job title", "mobile": "Mobile number",
                  "email": "Email address", "trained_home_visitor": "Trained to make home visits"}
        widgets = {"appearance": forms.Textarea(attrs={"rows": 3})}


class DbsForm(forms.ModelForm):
    class Meta:
        model = DbsCheck
        fields = ["level", "barred_list_checked", "certificate_number", "issued_on", "update_service"]
        labels = {"level": "Level", "barred_list_checked": "Children's barred list checked",
                  "certificate_number": "Certificate number", "issued_on": "Date issued",
                  "update_service": "Subscribed to the DBS update service"}
        help_texts = {"update_service": ""}
        widgets = {"issued_on": DATE}


class TrainingForm(forms.ModelForm):
    class Meta:
        model = Training
        fields = ["course", "completed_on", "expires_on"]
        labels = {"course": "Course", "completed_on": "Date completed", "expires_on": "Expires on (if it does)"}
        widgets = {"completed_on": DATE, "expires_on": DATE}


class VehicleForm(forms.ModelForm):
    class Meta:
        model = Vehicle
        fields = ["make", "model", "colour", "registration", "insurance_expires_on", "business_use_cover", "active"]
        labels = {"make": "Make", "model": "Model", "colour": "Colour", "registration": "Registration",
                  "insurance_expires_on": "Insurance expires on", "business_use_cover": "Insured for business use",
                  "active": "Still used for visits"}
        widgets = {"insurance_expires_on": DATE}


ROW_FORMS: dict[str, type[forms.ModelForm]] = {"dbs": DbsForm, "training": TrainingForm, "vehicle": VehicleForm}
