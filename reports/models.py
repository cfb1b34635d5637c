"""What is written after a visit, and what follows from it.

Records here are kept, not edited: a submitted report is corrected by a new report that
points at the one it corrects (the chronology shows both); a concern, a note, a filing
or a sent letter is never changed. Every change goes through reports.services, which
checks permission and policy and writes the audit trail in the same transaction."""
from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone


class VisitReport(models.Model):
    """The home visit report: Coteford's Appendix 2 form, plus whether the child was seen and
    spoken to, and the signatures Willows 2.3 asks for. The attendance figures are copied from
    Doorstep's attendance marks when the report is submitted (see services.attendance_window)."""

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey("visits.Visit", on_delete=models.PROTECT, related_name="reports")
    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.PROTECT, related_name="visit_reports")
    corrects = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections",
                                 help_text="The report this one corrects (a correction is a new entry)")
    correction_reason = models.TextField(blank=True)

    # Pupil and visit details, as they were on the day (the pupil may change class later).
    year_group = models.CharField(max_length=20)
    class_name = models.CharField(max_length=50, blank=True)
    visit_date = models.DateField()
    visit_time = models.TimeField()
    outcome = models.CharField(max_length=20, help_text="The visit's state when the report was written")
    staff_present = models.TextField()
    reason = models.TextField()
    people_present = models.TextField(blank=True)
    child_seen = models.BooleanField()
    child_spoken_to = models.BooleanField()
    summary = models.TextField()
    actions_agreed = models.TextField(blank=True)
    follow_up_actions = models.TextField(blank=True)

    # Attendance data (C Appendix 2), from the marks over [attendance_from, attendance_to].
    attendance_from = models.DateField()
    attendance_to = models.DateField()
    sessions_possible = models.PositiveIntegerField()
    sessions_missed = models.PositiveIntegerField()
    sessions_authorised = models.PositiveIntegerField()
    sessions_unauthorised = models.PositiveIntegerField()
    attendance_percent = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)

    # Signatures (W 2.3) as PNG data URLs drawn on the phone's screen.
    parent_signature = models.TextField(blank=True)
    parent_signatory = models.CharField(max_length=200, blank=True)
    staff_signature = models.TextField(blank=True)

    completed_by = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    completed_by_name = models.CharField(max_length=200)
    completed_by_role = models.CharField(max_length=200)
    completed_at = models.DateTimeField()

    class Meta:
        ordering = ["completed_at", "id"]
        constraints = [
            # One report per visit; anything after that is a correction of it.
            models.UniqueConstraint(fields=["visit"], condition=models.Q(corrects__isnull=True),
                                    name="one_original_report_per_visit"),
        ]

    def __str__(self) -> str:
        return f"{'Correction to the visit report' if self.corrects_id else 'Visit report'}, {self.visit_date:%d %b %Y}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("A submitted visit report is not edited; submit a correction instead.")
        super().save(*args, **kwargs)

    @property
    def original(self) -> VisitReport:
        return self.corrects or self


class Concern(models.Model):
    """Something found on a visit that must go to someone at once: a safeguarding concern to
    the DSL (after.safeguarding_concern_to), an incident or a physical intervention to the
    headteacher (after.incident_report_to). Only the roles allowed `concern.view` see them."""

    class Kind(models.TextChoices):
        SAFEGUARDING = "safeguarding", "Safeguarding concern"
        INCIDENT = "incident", "Incident"
        PHYSICAL_INTERVENTION = "physical_intervention", "Physical intervention"

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.PROTECT, related_name="concerns")
    visit = models.ForeignKey("visits.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="concerns")
    report = models.ForeignKey(VisitReport, null=True, blank=True, on_delete=models.PROTECT, related_name="concerns")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    details = models.TextField()
    raised_by = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()
    sent_to = models.JSONField(default=list, help_text="Names of the people told, when it was raised")
    clause = models.CharField(max_length=60)

    class Meta:
        ordering = ["raised_at", "id"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("A concern is not edited once raised; raise a further one instead.")
        super().save(*args, **kwargs)


class Agreement(models.Model):
    """An agreement made with a parent or carer, reviewed on a date. Where it can be, it is
    checked against the attendance marks; otherwise a person decides whether it was kept."""

    class Check(models.TextChoices):
        PERSON = "person", "Reviewed by a person (not measurable)"
        MIN_PERCENT = "min_percent", "Attendance at least a percentage over the window"
        NO_UNAUTHORISED = "no_unauthorised", "No unauthorised absence in the window"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        KEPT = "kept", "Kept"
        BROKEN = "broken", "Broken"

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.PROTECT, related_name="agreements")
    visit = models.ForeignKey("visits.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="agreements")
    text = models.TextField()
    review_on = models.DateField(db_index=True)
    check_kind = models.CharField(max_length=20, choices=Check.choices, default=Check.PERSON)
    window_from = models.DateField(null=True, blank=True)
    window_to = models.DateField(null=True, blank=True)
    min_percent = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    made_by = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    made_at = models.DateTimeField()

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", help_text="Empty when Doorstep's daily check decided")
    outcome = models.TextField(blank=True, help_text="Why it was judged kept or broken")
    follow_up_visit = models.ForeignKey("visits.Visit", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", help_text="The follow-up visit proposed when it was broken")

    class Meta:
        ordering = ["made_at", "id"]

    def __str__(self) -> str:
        return f"Agreement to review on {self.review_on:%d %b %Y}"

    @property
    def measurable(self) -> bool:
        return self.check_kind != self.Check.PERSON

    def describe_check(self) -> str:
        if self.check_kind == self.Check.MIN_PERCENT:
            # As people write a percentage: "at least 95%", not the stored "95.0%".
            percent = f"{Decimal(str(self.min_percent)).normalize():f}" if self.min_percent is not None else ""
            return (f"attendance of at least {percent}% from {self.window_from:%-d %B %Y} "
                    f"to {self.window_to:%-d %B %Y}")
        if self.check_kind == self.Check.NO_UNAUTHORISED:
            return f"no unauthorised absence from {self.window_from:%-d %B %Y} to {self.window_to:%-d %B %Y}"
        return "reviewed by a member of staff"


class Letter(models.Model):
    """A letter to the family. Doorstep prepares it as a draft; a person (the headteacher)
    approves and sends it, and the PDF as sent is kept."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", "Reminder of an agreement"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft, waiting for the headteacher"
        SENT = "sent", "Sent"

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.PROTECT, related_name="letters")
    agreement = models.ForeignKey(Agreement, null=True, blank=True, on_delete=models.PROTECT, related_name="letters")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REMINDER)
    addressee = models.CharField(max_length=200, help_text="The parent or carer it is addressed to")
    body = models.TextField()
    clause = models.CharField(max_length=60)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    prepared_at = models.DateTimeField()
    sent_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_pdf = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["prepared_at", "id"]


class ChronologyNote(models.Model):
    """A note in the pupil's record that is not any other kind of entry, e.g. the note in the
    attendance record when an agreement is broken (C 4.3)."""

    class Kind(models.TextChoices):
        ATTENDANCE = "attendance", "Note in the attendance record"
        OTHER = "other", "Note"

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.PROTECT, related_name="chronology_notes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.TextField()
    clause = models.CharField(max_length=60, blank=True)
    at = models.DateTimeField()
    by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    agreement = models.ForeignKey(Agreement, null=True, blank=True, on_delete=models.PROTECT, related_name="notes")

    class Meta:
        ordering = ["at", "id"]


class Filing(models.Model):
    """Where a visit's record was filed in the school's own system (e.g. CPOMS and its
    reference), as C 4.1 and W 4.1 ask. Filed again means a new row."""

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey("visits.Visit", on_delete=models.PROTECT, related_name="filings")
    system = models.CharField(max_length=100)
    reference = models.CharField(max_length=200)
    by = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]


class CalendarFeed(models.Model):
    """A member of staff's secret calendar address. Only a hash of the token is stored, so a
    copy of the database does not reveal anyone's feed; revoking it ends the address."""

    staff = models.ForeignKey("people.StaffMember", on_delete=models.CASCADE, related_name="calendar_feeds")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
