from django.apps import AppConfig


class CheckinsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "safety.checkins"
    label = "checkins"

    def ready(self) -> None:
        from visits.signals import visit_moved

        from . import services

        # A scheduled visit is watched from then on, whether or not anyone taps anything.
        visit_moved.connect(services.on_visit_moved, dispatch_uid="checkins.watch_scheduled_visits")
