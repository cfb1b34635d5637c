"""Forms of the staff pages that add people and mark leavers (accounts/staff_views.py)."""
from django import forms

from people.models import ROLE_CHOICES


class AddStaffForm(forms.Form):
    full_name = forms.CharField(label="Full name", max_length=200)
    email = forms.EmailField(label="Email address", help_text="The invitation is sent here; it is also how they sign in.")
    mobile = forms.CharField(label="Mobile number", max_length=20, required=False,
                             help_text="For check-ins and alerts on home visits, e.g. 07700 900123.")
    roles = forms.MultipleChoiceField(label="Roles", choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple)


class ImportStaffForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="First line: name, email, mobile, roles. Several roles are "
                                                      "separated by “;”, e.g. Headteacher; Designated safeguarding lead.")
