from django.apps import AppConfig


class NotifyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notify"
    verbose_name = "Messages and delivery"

    def ready(self):
        from . import checks  # noqa: F401  (registers the delivery configuration checks)
