from typing import Any

from django.conf import settings
from django.db import models

from core.stamps import ChangeStamped

from .upn import validate_upn

YEAR_GROUPS = [("N", "Nursery"), ("R", "Reception")] + [(str(n), f"Year {n}") for n in range(1, 14)]


class Pupil(ChangeStamped):
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="pupils")
    upn = models.CharField("UPN", max_length=13, validators=[validate_upn])
    admission_number = models.CharField(max_length=20, blank=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    year_group = models.CharField(max_length=2, choices=YEAR_GROUPS)
    class_name = models.CharField(max_length=50, blank=True)
    address_line1 = models.CharField("address", max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    town = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=10)
    access_notes = models.TextField(blank=True, help_text="How to find and reach the home (entrance, parking).")
    send = models.BooleanField("SEND", default=False)
    send_notes = models.TextField("SEND notes", blank=True)
    medical = models.BooleanField(default=False)
    medical_notes = models.TextField(blank=True)
    on_roll = models.BooleanField(default=True)
    # The school MIS's own id for the pupil (SIMS/Arbor/Bromcom/Wonde), "" when not known;
    # imports match on it first, then on the UPN (pupils.roster).
    mis_id = models.CharField("MIS id", max_length=64, blank=True, db_index=True)
    # The day an import found the pupil gone from the MIS: off roll, never deleted.
    left_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [models.UniqueConstraint(fields=["school", "upn"], name="unique_upn_per_school")]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def address(self) -> str:
        return ", ".join(p for p in [self.address_line1, self.address_line2, self.town, self.postcode] if p)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.upn = self.upn.strip().upper()
        self.postcode = self.postcode.strip().upper()
        super().save(*args, **kwargs)


class Contact(models.Model):
    """A parent, carer or other contact for a pupil."""

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=50)
    phone = models.CharField(max_length=30, blank=True)
    email = models.EmailField(blank=True)
    parental_responsibility = models.BooleanField(default=True)
    lives_with_pupil = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=1)
    # The MIS's own id for the contact, "" when not known (pupils.roster matches on it first).
    mis_id = models.CharField("MIS id", max_length=64, blank=True)
    phone_other = models.CharField("other phone", max_length=30, blank=True)
    address = models.CharField(max_length=300, blank=True, help_text="Only when it differs from the pupil's.")

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.relationship})"


class HouseholdNote(models.Model):
    """Something a visitor should know about the home. A note that records a risk makes the
    household's risk assessment stale until it is reviewed (C 2.5, P §4¶4, H §3¶6)."""

    class Kind(models.TextChoices):
        ANIMALS = "animals", "Animals"
        RISK = "risk", "Known risk"
        CULTURAL = "cultural", "Cultural note"
        ACCESS = "access", "Access"
        OTHER = "other", "Other"

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="household_notes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.TextField()
    dangerous = models.BooleanField(default=False, help_text="A risk to a visitor's safety (an aggressive dog, a violent adult).")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-recorded_at"]

    @property
    def is_risk(self) -> bool:
        return self.dangerous or self.kind in (self.Kind.RISK, self.Kind.ANIMALS)


class PupilImportMapping(models.Model):
    """Which columns of a school's MIS export of pupils and contacts hold what, saved per
    school by name (pupils.csv_import); the built-in SIMS, Arbor and Bromcom presets need no row.
    `columns` maps a field ("upn", "contact_email", ...) to a header, or a list of headers
    whose values are joined."""

    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="pupil_import_mappings")
    name = models.CharField(max_length=60)
    columns = models.JSONField(default=dict)
    date_format = models.CharField(max_length=30, default="%d/%m/%Y")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["school", "name"], name="unique_pupil_mapping_name_per_school")]

    def __str__(self) -> str:
        return self.name
