from django.core.exceptions import ValidationError
from django.db import models

from .rules import SCHEDULES


class RetentionRule(models.Model):
    """A school's own period for one kind of record, when it differs from the default in
    retention.rules.SCHEDULES. No row means the default applies."""

    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="retention_rules")
    record_type = models.CharField(max_length=30, choices=[(k, s.label) for k, s in SCHEDULES.items()])
    years = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=300, blank=True, help_text="Why the school keeps these longer or shorter")
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["school", "record_type"]
        constraints = [models.UniqueConstraint(fields=["school", "record_type"], name="one_retention_rule_per_type")]

    def __str__(self) -> str:
        return f"{self.get_record_type_display()}: {self.years} years"

    def clean(self) -> None:
        if not 1 <= (self.years or 0) <= 100:
            raise ValidationError({"years": "Give a number of years from 1 to 100."})
