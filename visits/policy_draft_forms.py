"""The example plan typed on the policy page to try the draft on (visits.policy_draft_views)."""
from typing import Any

from django import forms

from .forms import ProposeVisitForm


class TryPlanForm(ProposeVisitForm):
    """The proposal form's plan, with the appointment the policy may ask for; the reason is
    optional (an example plan has none worth writing)."""

    appointment_agreed = forms.BooleanField(required=False, label="An appointment is agreed with the parent or carer")
    written_confirmation = forms.BooleanField(required=False, label="The appointment is confirmed in writing")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="try", **kwargs)
        self.fields["reason"].required = False
        self.fields["reason"].help_text = ""
        self.fields["reason"].label = "Why (optional)"

    def plan(self) -> dict[str, Any]:
        kwargs = self.service_kwargs()
        kwargs["appointment_agreed"] = self.cleaned_data["appointment_agreed"]
        kwargs["written_confirmation"] = self.cleaned_data["written_confirmation"]
        return kwargs
