"""A school's connection to Wonde (which reads its MIS) and the record of each sync."""
from django.conf import settings
from django.db import models


class WondeConnection(models.Model):
    """One per school: its Wonde id and its token, the token encrypted (mis.crypto)."""

    school = models.OneToOneField("schools.School", on_delete=models.CASCADE, related_name="wonde")
    wonde_school_id = models.CharField("Wonde school id", max_length=40)
    token_encrypted = models.TextField()
    # The last four characters, so the page can say which token is in use without showing it.
    token_hint = models.CharField(max_length=4)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    def __str__(self) -> str:
        return f"Wonde {self.wonde_school_id} for {self.school}"


class SyncRun(models.Model):
    """One sync, started and finished (or failed, with the error in words). A press of "Sync
    now" writes a row that is "requested"; the task worker takes it on ("running") and finishes
    it. A school has at most one requested or running sync (the constraint below), so two
    presses at once, or a press during the daily sync, start one sync."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Sync requested"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"

    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="mis_syncs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FINISHED)
    # When it was asked for; then, once running, when it started reading from Wonde.
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)  # None while running
    full = models.BooleanField(default=False)
    # The start of the last successful sync this one asked for changes since (None: everything).
    since = models.DateTimeField(null=True, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    by_name = models.CharField(max_length=200, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started", "-id"]
        indexes = [models.Index(fields=["school", "-started"])]
        constraints = [models.UniqueConstraint(fields=["school"], condition=models.Q(status__in=["requested", "running"]),
                                               name="one_live_sync_per_school")]

    @property
    def live(self) -> bool:
        return self.status in (self.Status.REQUESTED, self.Status.RUNNING)

    def __str__(self) -> str:
        return f"Wonde sync of {self.school} at {self.started:%Y-%m-%d %H:%M}"
