from django.apps import AppConfig


class MisConfig(AppConfig):
    name = "mis"
    label = "mis"
    verbose_name = "MIS sync (Wonde)"
    default_auto_field = "django.db.models.BigAutoField"
