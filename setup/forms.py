from __future__ import annotations

from django import forms

from schools.models import Trust


class TrustForm(forms.Form):
    name = forms.CharField(label="The trust's name", max_length=200,
                           help_text="As it appears on letters, e.g. Riverside Learning Trust.")
    kind = forms.ChoiceField(label="What it is", choices=Trust.Kind.choices, initial=Trust.Kind.TRUST,
                             widget=forms.RadioSelect)


class SchoolForm(forms.Form):
    name = forms.CharField(label="School name", max_length=200)
    urn = forms.CharField(label="URN", max_length=10, required=False,
                          help_text="The six-figure number the DfE gives the school (Get Information about Schools).")
    address = forms.CharField(label="Address", widget=forms.Textarea(attrs={"rows": 3}), required=False,
                              help_text="The police card and letters to families show it.")
    phone = forms.CharField(label="Office phone", max_length=30, required=False,
                            help_text="Staff on a home visit ring this number.")
    email = forms.EmailField(label="Office email", required=False)


class HeadteacherForm(forms.Form):
    full_name = forms.CharField(label="Headteacher's name", max_length=200)
    email = forms.EmailField(label="Their email address", help_text="The invitation to Doorstep is sent here; "
                                                                    "it is also what they sign in with.")
    mobile = forms.CharField(label="Their mobile", max_length=20, required=False,
                             help_text="For alerts about visits, e.g. 07700 900123.")
