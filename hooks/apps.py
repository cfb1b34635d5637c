from django.apps import AppConfig


class HooksConfig(AppConfig):
    """Where providers call Doorstep back: texts from staff with no data signal, and the
    key pressed on a phone call from the escalation ladder. Nothing here trusts a request
    until the provider's signature or token on it is verified."""

    name = "hooks"
    verbose_name = "Provider call-backs"
