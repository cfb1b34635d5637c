"""What the readiness panel keeps: the answers of the text and email providers to the last
checks (ProviderCheck), and the test alarms run through the whole path (Drill).

A drill is never an alert: it has its own table, so no count, review, report or audit
search of real alerts can ever see one (docs/safety-core.md, "Readiness and drills")."""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ProviderCheck(models.Model):
    """One check of one provider: did it answer, and (where the provider says) the credit
    left. Providers serve the whole installation, so a check belongs to no school."""

    class Provider(models.TextChoices):
        TWILIO = "twilio", "Twilio (text messages)"
        NOTIFY = "notify", "GOV.UK Notify (text messages)"
        SMTP = "smtp", "Mail server (email)"

    provider = models.CharField(max_length=20, choices=Provider.choices)
    ok = models.BooleanField()
    detail = models.CharField(max_length=500, blank=True)
    balance = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Who pressed "Check now"; empty when the daily job checked.
    checked_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["provider", "-checked_at"], name="readiness_check_latest")]

    def __str__(self) -> str:
        return f"{self.provider} {'ok' if self.ok else 'down'} at {self.checked_at:%Y-%m-%d %H:%M}"


class Drill(models.Model):
    """A test alarm: started by someone at the school, it sounds on the office board and
    sends that person (only) a text and an email, until someone ends it."""

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    started_by = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    # Who pressed "End the test" (on the board or the readiness page), and when. Empty when
    # nobody did and Doorstep ended it after DRILL_SOUNDS_FOR (safety/readiness/services.py).
    acknowledged_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # Two people pressing "Run a test alarm" at once start one drill, not two.
            models.UniqueConstraint(fields=["school"], condition=Q(ended_at__isnull=True),
                                    name="one_open_drill_per_school"),
        ]

    def __str__(self) -> str:
        return f"Test alarm {self.pk} at school {self.school_id}"

    @property
    def idempotency_key(self) -> str:
        """The key of its messages in the outbox (notify.services.notify)."""
        return f"drill:{self.pk}"
