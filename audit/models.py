from django.conf import settings
from django.db import models

from core.devices import describe

from . import actions


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit trail is append-only.")

    def delete(self):
        raise PermissionError("The audit trail is append-only.")


class AuditEntry(models.Model):
    """Who did what, when, from where and why. Append-only: rows are never updated or deleted
    through Doorstep (here, the queryset and the admin refuse) nor in the database (triggers
    installed by migration 0003; see audit.guard for the two places that may delete)."""

    school = models.ForeignKey("schools.School", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=40)
    summary = models.CharField(max_length=300)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, help_text="The browser or app the request came from")

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    @property
    def sentence(self) -> str:
        """What was done, in words that complete the actor's name ("approved the visit"); empty
        for an action no longer in the registry."""
        return actions.sentence(self.action)

    @property
    def device(self) -> str:
        """The browser and system the request came from, in words ("Chrome on Android")."""
        return describe(self.user_agent)

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit trail is append-only.")
