from django import forms

from core.forms import DateInput

from .models import Agreement

YES_NO = [("yes", "Yes"), ("no", "No")]


class ReportForm(forms.Form):
    """What the member of staff writes. The attendance figures are not here: they come from
    the marks (services.attendance_figures). The services validate everything again."""

    people_present = forms.CharField(label="People present at the home", required=False,
                                     widget=forms.Textarea(attrs={"rows": 2}),
                                     help_text="Names and relationship to the pupil.")
    child_seen = forms.ChoiceField(label="Was the child seen?", choices=YES_NO, widget=forms.RadioSelect)
    child_spoken_to = forms.ChoiceField(label="Was the child spoken to?", choices=YES_NO, widget=forms.RadioSelect)
    reason = forms.CharField(label="Reason for visit", widget=forms.Textarea(attrs={"rows": 2}))
    summary = forms.CharField(label="Summary of discussion", widget=forms.Textarea(attrs={"rows": 5}),
                              help_text="What was discussed; if nobody was seen, what happened at the door.")
    actions_agreed = forms.CharField(label="Actions agreed", required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                     help_text="Record each agreement to review separately after submitting.")
    follow_up_actions = forms.CharField(label="Follow-up actions", required=False,
                                        widget=forms.Textarea(attrs={"rows": 3}))
    safeguarding_concern = forms.CharField(
        label="Safeguarding concern", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Anything that worries you about the child's safety. It goes to the DSL at once.")
    incident = forms.CharField(
        label="Incident", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Anything that went wrong: aggression, injury, damage. It goes to the headteacher.")
    physical_intervention = forms.BooleanField(label="Physical intervention was used", required=False)
    parent_signatory = forms.CharField(label="Name of the parent or carer signing", required=False, max_length=200)
    parent_signature = forms.CharField(required=False, widget=forms.HiddenInput)
    staff_signature = forms.CharField(required=False, widget=forms.HiddenInput)


class CorrectionForm(ReportForm):
    correction_reason = forms.CharField(label="What is being corrected, and why",
                                        widget=forms.Textarea(attrs={"rows": 2}))

    field_order = ["correction_reason"]


class AgreementForm(forms.Form):
    text = forms.CharField(label="What was agreed", widget=forms.Textarea(attrs={"rows": 2}),
                           help_text="E.g. “Ava attends every day next week” or “Mum calls before 9:00 on any absence”.")
    review_on = forms.DateField(label="Review date", widget=DateInput())
    check_kind = forms.ChoiceField(label="How it is checked", choices=Agreement.Check.choices,
                                   widget=forms.RadioSelect, initial=Agreement.Check.PERSON)
    window_from = forms.DateField(label="Window starts", required=False, widget=DateInput())
    window_to = forms.DateField(label="Window ends", required=False, widget=DateInput())
    min_percent = forms.DecimalField(label="Attendance at least (%)", required=False, min_value=1, max_value=100,
                                     decimal_places=1)


class ReviewForm(forms.Form):
    kept = forms.ChoiceField(label="Was it kept?", choices=[("yes", "Kept"), ("no", "Not kept")], widget=forms.RadioSelect)
    outcome = forms.CharField(label="How you judged it", widget=forms.Textarea(attrs={"rows": 2}))


class FilingForm(forms.Form):
    system = forms.CharField(label="Filed in (system)", max_length=100, initial="CPOMS")
    reference = forms.CharField(label="Reference", max_length=200)


class LetterForm(forms.Form):
    """The headteacher's wording of a draft letter (services.edit_letter checks it again)."""

    addressee = forms.CharField(label="To", max_length=200,
                                error_messages={"required": "Say who the letter is to, for example Ms Claire Hall."})
    body = forms.CharField(label="The letter", widget=forms.Textarea(attrs={"rows": 14}),
                           help_text="Leave a blank line between paragraphs. The greeting, the pupil's name and "
                                     "your signature are added on the printed letter.",
                           error_messages={"required": "Write the letter: it cannot be sent empty."})
