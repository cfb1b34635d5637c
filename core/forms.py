"""What every app's views share about forms."""
from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError


def errors_onto(form: forms.BaseForm, exc: ValidationError, aliases: Mapping[str, str] | None = None) -> None:
    """Put a ValidationError raised by a service onto the form that asked for the change: each
    field's message next to that field (`aliases` maps a service's field name to the form's,
    e.g. {"starts_at": "date"}), anything else at the top of the form. Services check the
    policy and the data in one place; this shows their answer where the person will look."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for name, errors in exc.message_dict.items():
        field = name if name in form.fields else (aliases or {}).get(name)
        form.add_error(field if field in form.fields else None, errors)


class DateInput(forms.DateInput):
    """A date picker (<input type="date">). It must be given its value as 2026-12-07 whatever
    the language: with the school's en-GB format (07/12/2026) the browser shows an empty box,
    so a date the form starts on (today, the day after the visit) was lost."""

    input_type = "date"

    def __init__(self, attrs: dict[str, str] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")
