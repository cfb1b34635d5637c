from django.db import models
from django.utils import timezone

from core.stamps import ChangeStamped

# The purposes live with the policy engine, which judges them; re-exported here for the
# visit's forms, services and API.
from policy_engine.schema import PURPOSE_CHOICES as PURPOSE_CHOICES
from policy_engine.schema import PURPOSES as PURPOSES


class Visit(ChangeStamped):
    """A home visit. Its state only changes through visits.services.transition(), which runs the
    policy engine, refuses with the findings and writes the audit trail."""

    class State(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        SCHEDULED = "scheduled", "Scheduled"
        WITHDRAWN = "withdrawn", "Withdrawn"
        CANCELLED = "cancelled", "Cancelled"
        UNDER_WAY = "under_way", "Under way"
        COMPLETED = "completed", "Completed"
        NOT_SEEN = "not_seen", "Not seen"
        ABANDONED = "abandoned", "Abandoned"

    # The visit went ahead and is over: completed, or ended at the door (nobody seen, left early).
    ENDED_STATES = (State.COMPLETED, State.NOT_SEEN, State.ABANDONED)

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="visits")
    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.PROTECT, related_name="visits")
    purpose = models.CharField(max_length=30, choices=PURPOSE_CHOICES)
    reason = models.TextField(help_text="Why this visit is necessary and in the pupil's best interests")
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PROPOSED, db_index=True)
    staff = models.ManyToManyField("people.StaffMember", through="VisitStaff", related_name="visits")
    emergency = models.BooleanField(default=False, help_text="Emergency or immediate concern: no appointment possible")
    responsible_contact = models.ForeignKey(
        "people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Checks on staff welfare during a visit outside school hours",
    )

    proposed_by = models.ForeignKey("people.StaffMember", null=True, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    approved_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    policy_version = models.ForeignKey(
        "policies.SchoolPolicy", null=True, blank=True, on_delete=models.PROTECT, related_name="visits",
        help_text="The policy version the visit was approved under",
    )

    appointment_agreed = models.BooleanField(default=False)
    appointment_agreed_with = models.ForeignKey("pupils.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    written_confirmation = models.BooleanField(default=False)
    appointment_notes = models.TextField(blank=True)

    visit_list = models.ForeignKey("VisitList", null=True, blank=True, on_delete=models.SET_NULL, related_name="visits")
    closed_reason = models.TextField(blank=True, help_text="Why it was declined, withdrawn or cancelled")

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        # In the school's time, as people write it: the stored time is UTC, an hour early in summer.
        return f"{self.get_purpose_display()} visit, {timezone.localtime(self.starts_at):%A %-d %B %Y, %H:%M}"


class VisitStaff(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="assignments")
    staff = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="assignments")
    lead = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["visit", "staff"], name="unique_visit_staff")]


class Override(models.Model):
    """A headteacher's decision, where the policy allows one, with its reason (e.g. a lone
    visit under P §4¶1). The engine reads these when it evaluates the visit."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="overrides")
    rule = models.CharField(max_length=60)
    reason = models.TextField()
    by = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["visit", "rule"], name="one_override_per_rule")]


class VisitList(models.Model):
    """The compiled list of visits (C 3.2) that the headteacher signs before any visit on it
    happens (C 3.3). A signed list is closed: later visits go on a new list."""

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="visit_lists")
    title = models.CharField(max_length=200)
    created_by = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    signed_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None
