"""What the set-up keeps: which schools were set up through Doorstep's own pages (and so are
held to the set-up checklist's safety-critical items before their visits can be proposed)."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class SchoolSetup(models.Model):
    """A school added through the set-up pages. Schools loaded otherwise (the demo, an
    installation that went live before these pages, test fixtures) have none, and nothing
    in setup gates them: see docs/setup.md, "Who the gate applies to"."""

    school = models.OneToOneField("schools.School", on_delete=models.CASCADE, related_name="setup")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"set-up of {self.school}"
