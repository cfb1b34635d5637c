from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class NotifyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notify"
    verbose_name = "Messages and delivery"

    def ready(self) -> None:
        # Only once every app's models are loaded: services imports them.
        from . import checks  # noqa: F401  (registers the delivery configuration checks)
        from accounts.invitations import connect_sender

        from .invitations import send_invitation
        from .services import forget_school

        # The pupil-details check caches each school's pupils' names and addresses; drop them on change.
        post_save.connect(forget_school, sender="pupils.Pupil", dispatch_uid="notify-forget-pupils.Pupil")
        post_delete.connect(forget_school, sender="pupils.Pupil", dispatch_uid="notify-forget-delete-pupils.Pupil")
        # Invitations' emails (accounts cannot import notify: it sits below it in the layers).
        connect_sender(send_invitation)
