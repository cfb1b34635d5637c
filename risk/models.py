from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from people.models import StaffMember
    from pupils.models import HouseholdNote


class RiskAssessment(models.Model):
    """A home-visit assessment (about a household) or a lone-working assessment (about one
    member of staff working alone). It is current until a risk is recorded after its last review."""

    class Kind(models.TextChoices):
        HOME_VISIT = "home_visit", "Home visit"
        LONE_WORKING = "lone_working", "Lone working"

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="risk_assessments")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    pupil = models.ForeignKey("pupils.Pupil", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_assessments")
    staff = models.ForeignKey(
        "people.StaffMember", null=True, blank=True, on_delete=models.CASCADE, related_name="lone_working_assessments"
    )
    author = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="authored_assessments")
    assessed_on = models.DateField()
    reviewed_at = models.DateTimeField(help_text="When it was written or last reviewed")
    summary = models.TextField(blank=True)
    # Kept for assessments from before the word itself was kept here (ticked, the word on paper);
    # has_safe_word reads both. New assessments record the word.
    safe_word_recorded = models.BooleanField(default=False, help_text="H: safe word recorded on the lone-working RA")
    # The word itself, not only a tick: the office has to recognise it when the person says it
    # in a call (St Hugh's: the same word to the school means danger).
    safe_word = models.CharField(max_length=60, blank=True,
                                 help_text="The word this member of staff will say to tell the school they are in danger")

    class Meta:
        ordering = ["-reviewed_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} RA {self.assessed_on}"

    @property
    def has_safe_word(self) -> bool:
        """The word is on this assessment, or (assessments from before the word was kept here)
        it was ticked as recorded on the paper one."""
        return bool(self.safe_word) or self.safe_word_recorded

    @classmethod
    def safe_word_of(cls, staff: StaffMember) -> str:
        """The safe word on this person's latest lone-working assessment, or ''. The office
        listens for it in a call: said to the school, it means danger (St Hugh's)."""
        return (cls.objects.filter(kind=cls.Kind.LONE_WORKING, staff=staff).exclude(safe_word="")
                .order_by("-reviewed_at").values_list("safe_word", flat=True).first() or "")

    def new_risks(self) -> list[HouseholdNote]:
        """Household notes recording a risk after this assessment was last reviewed."""
        if self.kind != self.Kind.HOME_VISIT or self.pupil is None:
            return []
        return [n for n in self.pupil.household_notes.filter(recorded_at__gt=self.reviewed_at) if n.is_risk]

    @property
    def is_stale(self) -> bool:
        return bool(self.new_risks())

    @property
    def highest_risk(self) -> str | None:
        levels = [h.risk_level for h in self.hazards.all()]
        order = ["low", "medium", "high", "very high"]
        return max(levels, key=order.index) if levels else None

    def mark_reviewed(self, when: datetime.datetime | None = None) -> None:
        self.reviewed_at = when or timezone.now()
        self.save(update_fields=["reviewed_at"])


class Hazard(models.Model):
    """One row of the assessment: severity × likelihood gives the risk level (H annex template)."""

    SCALE = [(1, "1 — very low"), (2, "2 — low"), (3, "3 — moderate"), (4, "4 — high"), (5, "5 — very high")]

    assessment = models.ForeignKey(RiskAssessment, on_delete=models.CASCADE, related_name="hazards")
    hazard = models.CharField(max_length=200)
    people_at_risk = models.CharField(max_length=200, blank=True)
    severity = models.PositiveSmallIntegerField(choices=SCALE)
    likelihood = models.PositiveSmallIntegerField(choices=SCALE)
    controls = models.TextField(blank=True)

    @property
    def score(self) -> int:
        return self.severity * self.likelihood

    @property
    def risk_level(self) -> str:
        score = self.score
        if score >= 15:
            return "very high"
        if score >= 10:
            return "high"
        if score >= 5:
            return "medium"
        return "low"
