from django import forms

from .models import SCOPE_CHOICES
from .services import MAX_TOKEN_DAYS


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=16, strip=True,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "none",
                                      "spellcheck": "false", "autofocus": True}),
    )

    def clean_code(self):
        return self.cleaned_data["code"].replace(" ", "").lower()


class EnrolForm(CodeForm):
    code = forms.CharField(
        label="Code from your app", max_length=6, min_length=6, strip=True,
        help_text="After adding Doorstep to the app, type the 6-digit code it shows.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="What will use it, e.g. “Office board screen”.")
    scopes = forms.MultipleChoiceField(choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple,
                                       label="What it may do")
    days = forms.IntegerField(min_value=1, max_value=MAX_TOKEN_DAYS, initial=90, label="Lasts (days)")
