"""Forms for the phone pages and the office's "checked in by phone". Kept small: under
stress people cannot manage fiddly inputs, so a PIN is one large numeric box
and "any concerns?" is a yes/no."""
import datetime

from django import forms
from django.utils import timezone

from .models import VisitEvent

YES_NO = [("no", "No"), ("yes", "Yes")]


class PinInput(forms.PasswordInput):
    """A masked box that brings up the phone's number pad."""

    def __init__(self):
        super().__init__(attrs={"inputmode": "numeric", "pattern": "[0-9]*", "autocomplete": "off",
                                "class": "pin-input", "maxlength": "8", "size": "8"})


def pin_field():
    return forms.CharField(label="Your PIN", max_length=8, strip=True, widget=PinInput(),
                           error_messages={"required": "Enter your PIN."})


class PinForm(forms.Form):
    """Where a PIN is asked (leaving the home). `need_pin` is False for someone who has not set
    their PINs yet: the event is still recorded, and the page says where to set them."""

    def __init__(self, *args, need_pin=True, **kwargs):
        super().__init__(*args, **kwargs)
        if need_pin:
            self.fields["pin"] = pin_field()
            self.order_fields(["pin"])  # the PIN first: the one thing that must be typed


class CheckInForm(PinForm):
    concerns_answer = forms.ChoiceField(label="Any concerns?", choices=YES_NO, initial="no", widget=forms.RadioSelect)
    concerns = forms.CharField(label="What concerns you? (optional)", required=False,
                               widget=forms.Textarea(attrs={"rows": 3}),
                               help_text="Recorded with your check-in. The office board does not show it.")

    def concerns_text(self):
        if self.cleaned_data.get("concerns_answer") != "yes":
            return ""
        return self.cleaned_data.get("concerns", "").strip() or "Yes (no details given)"


class LeftSchoolForm(forms.Form):
    expected_return = forms.TimeField(
        label="Back by", help_text="When you expect to be back at school or finished for the day.",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"required": "Say when you expect to be back.", "invalid": "Enter a time like 11:30."},
    )

    def expected_return_at(self, now=None):
        """Today at the time given; a time earlier than now means after midnight is unlikely,
        so it is refused by the service as before leaving."""
        day = timezone.localdate(now)
        return timezone.make_aware(datetime.datetime.combine(day, self.cleaned_data["expected_return"]))


class AbandonForm(forms.Form):
    reason = forms.ChoiceField(label="Why are you not doing the visit?", choices=VisitEvent.AbandonReason.choices,
                               widget=forms.RadioSelect,
                               error_messages={"required": "Choose why you are leaving."})
    note = forms.CharField(label="What happened", widget=forms.Textarea(attrs={"rows": 3}),
                           help_text="The headteacher reads this written reason.",
                           error_messages={"required": "Write down what happened: the headteacher is sent your written reason."})


class NoteForm(forms.Form):
    note = forms.CharField(label="Note (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class PinsForm(forms.Form):
    safe_pin = forms.CharField(label="Safe PIN", help_text="4 to 8 digits, used every time you check in or leave.",
                               widget=PinInput(), max_length=8)
    duress_pin = forms.CharField(label="Duress PIN", max_length=8, widget=PinInput(),
                                 help_text="4 to 8 digits, different from the safe PIN. Entering it instead looks "
                                           "exactly the same on your phone, and silently raises the top alarm.")


class OfficeCallForm(forms.Form):
    """The office records a call from the staff on a visit: "checked in by phone"."""

    # Named "worried", not "concerns": on the office board (where the one-click button posts
    # it) "concern" means a safeguarding concern, which the office never sees.
    worried = forms.ChoiceField(label="Did they say they have any concerns?", choices=YES_NO, initial="no",
                                widget=forms.RadioSelect)
    note = forms.CharField(label="Note (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text="For example where they are. Do not write safeguarding details here.")

    def concerns_text(self):
        return "They said they have concerns (recorded by the office from a call)" \
            if self.cleaned_data.get("worried") == "yes" else ""
