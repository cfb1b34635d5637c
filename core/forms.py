"""What every app's views share about forms."""


def errors_onto(form, exc, aliases=None):
    """Put a ValidationError raised by a service onto the form that asked for the change: each
    field's message next to that field (`aliases` maps a service's field name to the form's,
    e.g. {"starts_at": "date"}), anything else at the top of the form. Services check the
    policy and the data in one place; this shows their answer where the person will look."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        if field not in form.fields:
            field = (aliases or {}).get(field)
        form.add_error(field if field in form.fields else None, errors)
