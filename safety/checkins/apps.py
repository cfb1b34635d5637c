from django.apps import AppConfig


class CheckinsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "safety.checkins"
    label = "checkins"

    def ready(self) -> None:
        # Imported here, not at the top: these modules use models, which Django loads only
        # after every app's config.
        from safety import watch
        from visits.signals import visit_moved, visit_team_changed

        # A scheduled visit is watched from then on, whether or not anyone taps anything.
        visit_moved.connect(watch.on_visit_moved, dispatch_uid="checkins.watch_scheduled_visits")
        # A leaver's place on a scheduled visit taken by someone else: the watch follows.
        visit_team_changed.connect(watch.on_visit_team_changed, dispatch_uid="checkins.watch_team_changed")
