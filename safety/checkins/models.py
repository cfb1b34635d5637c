"""What happens on a visit under way: the append-only event log and the watch row the
watchdog polls. Events are created only in safety.events (recorded through
safety.recording), and the watch is written only by safety.watch; see docs/safety-core.md."""
from __future__ import annotations

from typing import Any

from django.db import models

from core import bulk


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Visit events are append-only.")

    def delete(self):
        raise PermissionError("Visit events are append-only.")


class VisitEvent(models.Model):
    """One thing that happened on a visit, when, who it is about, who recorded it and how.
    Never changed or deleted: a correction is a new event."""

    class Type(models.TextChoices):
        LEFT_SCHOOL = "left_school", "Left school"
        ARRIVED = "arrived", "Arrived"
        PARENT_NOT_HOME = "parent_not_home", "Parent not at home"
        PARENT_LATE_NOTICE = "parent_late_notice", "Parent phoned to say they are late"
        ENTERED = "entered", "Went in"
        CHECK_IN = "check_in", "Checked in"
        LEFT_HOME = "left_home", "Left the home"
        BACK_SAFE = "back_safe", "Back at school or finished for the day"
        CODE_WORD = "code_word", "Code word"
        PANIC = "panic", "Panic"
        # Closing the visit at the door; the watch goes on until everyone is back safe.
        NOT_SEEN = "not_seen", "Closed as not seen"
        ABANDONED = "abandoned", "Abandoned"

    class Via(models.TextChoices):
        PHONE = "phone", "From the member of staff's phone"
        OFFICE_CALL = "office_call", "By the office, from a phone call"
        # A text to the school's Doorstep number from the member of staff's own mobile
        # (safety.texts): for a front door with no mobile data.
        SMS = "sms", "By text message"

    class AbandonReason(models.TextChoices):
        FELT_UNSAFE = "felt_unsafe", "Felt unsafe"
        ANIMALS = "animals", "Animals not shut away"
        NO_ADULT = "no_adult", "No appropriate adult present"
        OTHER = "other", "Other"

    visit = models.ForeignKey("visits.Visit", on_delete=models.CASCADE, related_name="events")
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=30, choices=Type.choices)
    at = models.DateTimeField(help_text="When it happened (may be earlier than when it was recorded)")
    recorded_at = models.DateTimeField()
    staff = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              help_text="Who it is about; empty means everyone on the visit")
    recorded_by = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    via = models.CharField(max_length=20, choices=Via.choices, default=Via.PHONE)
    concerns = models.TextField(blank=True)
    note = models.TextField(blank=True)
    expected_return = models.DateTimeField(null=True, blank=True)
    location = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=20, choices=AbandonReason.choices, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["visit", "at"])]

    def __str__(self):
        return f"{self.get_type_display()} at {self.at:%H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Visit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Visit events are append-only.")


class Watch(models.Model):
    """One row per visit from the moment it is scheduled (safety.watch.watch_scheduled)
    until everyone is back safe or it is cancelled: the next deadline from
    policy_engine.timing.next_deadline(), so a visit nobody starts is watched too. The watchdog finds
    rows by `alert_at` and moves `status` with conditional UPDATEs."""

    class Status(models.TextChoices):
        OK = "ok", "Fine"
        OVERDUE = "overdue", "Overdue"
        ALARM = "alarm", "Alarm"
        SAFE = "safe", "Everyone back safe"

    visit = models.OneToOneField("visits.Visit", on_delete=models.CASCADE, related_name="watch")
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK, db_index=True)
    next_kind = models.CharField(max_length=40, blank=True, help_text="What is due next (check_in_due, ...)")
    what = models.CharField(max_length=100, blank=True, help_text="The deadline in words, e.g. arrival check-in")
    due_at = models.DateTimeField(null=True, blank=True)
    alert_at = models.DateTimeField(null=True, blank=True, db_index=True, help_text="due_at plus the policy's grace")
    reminder_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    clause = models.CharField(max_length=60, blank=True)
    deadline_staff = models.CharField(max_length=200, blank=True, help_text="Whom the deadline is about (pairs)")
    outcome = models.CharField(max_length=20, blank=True,
                               help_text="not_seen or abandoned once decided at the door; the visit takes it when everyone is back")
    started_at = models.DateTimeField()
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_check_in_at = models.DateTimeField(null=True, blank=True)
    last_location = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField()

    _as_read: dict[str, Any]

    class Meta:
        verbose_name = "visit watch"
        verbose_name_plural = "visit watches"
        indexes = [models.Index(fields=["status", "alert_at"], name="watch_status_alert_at")]

    def __str__(self):
        return f"Watch on visit {self.visit_id}: {self.status}"

    def note_as_read(self) -> None:
        """Remember the row as read, so save_changes() writes only what a check-in changed (a
        few columns, not all twenty, inside the write lock every check-in queues on)."""
        self._as_read = {f.attname: getattr(self, f.attname) for f in self._meta.concrete_fields}

    def save_changes(self) -> None:
        """Write the columns changed since this row was read (every column of a row not read)."""
        as_read: dict[str, Any] | None = getattr(self, "_as_read", None)
        if as_read is None:
            self.save()
            return
        changed = [f.attname for f in self._meta.concrete_fields
                   if f.attname in as_read and getattr(self, f.attname) != as_read[f.attname]]
        if changed:
            bulk.update_columns(self, changed)
            as_read.update((name, getattr(self, name)) for name in changed)


class WatchStaff(models.Model):
    """Each person's own check-out on a visit under way: a pair visit is safe only when both
    are back (BS 8484 treats each person on a pair visit as at risk)."""

    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="people")
    staff = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="+")
    left_home_at = models.DateTimeField(null=True, blank=True)
    back_safe_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["watch", "staff"], name="one_checkout_per_person")]
