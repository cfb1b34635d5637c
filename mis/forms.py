from django import forms


class WondeForm(forms.Form):
    wonde_school_id = forms.CharField(
        label="Wonde school id", max_length=40,
        help_text="Wonde shows it on the school's page in its portal (it starts with a letter, e.g. A1234567890).")
    token = forms.CharField(
        label="Wonde token", required=False, max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Wonde gives it once the school approves Doorstep's access. Leave blank to keep the one in use.")
