from django.apps import AppConfig


class SetupConfig(AppConfig):
    """From an empty installation to a school: the trust administrator's pages for the trust,
    its schools and their headteachers, and each school's set-up checklist. Until the
    checklist's safety-critical items are done, a school set up here cannot propose visits:
    the gate is registered with visits (visits/gates.py) when Django starts."""

    name = "setup"
    verbose_name = "Setting up a school"

    def ready(self) -> None:
        from visits import gates  # noqa: PLC0415 -- apps are not loaded before ready(); not a cycle

        from . import services  # noqa: PLC0415 -- the same: services import models

        gates.register(services.proposal_gate)
