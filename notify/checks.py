"""`manage.py check` warns about SMS settings that cannot work; `check --deploy` also warns
when texts or emails would only be written to the log."""
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from .providers import SMS_PROVIDERS


@register("doorstep")
def delivery_configuration(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    names = list(getattr(settings, "DOORSTEP_SMS_PROVIDERS", []))
    for name in names:
        provider = SMS_PROVIDERS.get(name)
        if provider is None:
            problems.append(Warning(f"DOORSTEP_SMS_PROVIDER names {name!r}, which Doorstep does not know.",
                                    hint=f"Use one or more of: {', '.join(SMS_PROVIDERS)}.", id="notify.W001"))
        elif not provider.configured():
            problems.append(Warning(f"SMS provider {name!r} is listed but its settings are missing.",
                                    hint="See docs/notifications.md for the variables it needs.", id="notify.W002"))
    return problems


@register("doorstep", deploy=True)
def delivery_leaves_the_machine(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """`check --deploy` only: a school in use needs real SMS and email, a demo does not."""
    problems: list[CheckMessage] = []
    if getattr(settings, "DOORSTEP_SMS_PROVIDERS", []) == ["console"]:
        problems.append(Warning("Text messages only go to the log (DOORSTEP_SMS_PROVIDER=console).",
                                hint="Set DOORSTEP_SMS_PROVIDER=notify or twilio for a school in use.", id="notify.W003"))
    if settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
        problems.append(Warning("Email only goes to the log: EMAIL_HOST is not set.",
                                hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD).", id="notify.W004"))
    return problems
