"""Alerts raised about a visit under way, the steps of their escalation, and the watchdog's
heartbeat. Changed only through safety.alerting and safety.watchdog; see docs/safety-core.md."""
import datetime
import uuid
from collections.abc import Iterable

from django.db import models
from django.utils import timezone

from safety.checkins.models import VisitEvent


# Word that reached Doorstep this long after it was given (a check-in pressed with no signal)
# is shown with both times.
LATE_WORD = datetime.timedelta(minutes=1)


def new_token():
    return uuid.uuid4().hex


class Alert(models.Model):
    class Kind(models.TextChoices):
        OVERDUE = "overdue", "Check-in overdue"
        OFFICE_CALL_MISSED = "office_call_missed", "Office call not made"
        CODE_WORD = "code_word", "Code word heard"
        PANIC = "panic", "Panic"
        DURESS = "duress", "Duress PIN"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    class Resolution(models.TextChoices):
        FALSE_ALARM = "false_alarm", "False alarm"
        STAFF_SAFE = "staff_safe", "Staff safe"
        POLICE_CALLED = "police_called", "Police called"
        OTHER = "other", "Other (say what)"

    # Kinds that mean someone may be in danger now: they start at the top step.
    TOP_KINDS = (Kind.CODE_WORD, Kind.PANIC, Kind.DURESS)

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey("visits.Visit", on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    event = models.ForeignKey("checkins.VisitEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="The event that raised it (code word, panic, duress)")
    missed = models.CharField(max_length=40, blank=True, help_text="The deadline that was missed (check_in_due, ...)")
    missed_due_at = models.DateTimeField(null=True, blank=True)
    raised_at = models.DateTimeField(db_index=True, help_text="When Doorstep actually raised it")
    # The ladder runs from when the policy says the alert is due (the missed deadline plus its
    # grace), not from when a watchdog got to it: after an outage the head, deputy and police
    # steps then come when the policy says, not minutes later. Equal to raised_at when on time.
    ladder_from = models.DateTimeField(help_text="When the escalation ladder's clock starts")
    # The policy's ladder as it was when the alert started: later policy edits cannot change it.
    ladder = models.JSONField()
    ladder_clause = models.CharField(max_length=60, blank=True)
    policy_version = models.ForeignKey("policies.SchoolPolicy", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    step = models.PositiveSmallIntegerField(default=0, help_text="Index into ladder of the step reached")
    step_token = models.CharField(max_length=32, default=new_token)
    step_due_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                       help_text="If nobody acknowledges by then, the next step fires")
    state = models.CharField(max_length=15, choices=State.choices, default=State.OPEN, db_index=True)
    contact_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Word came from the staff: the escalation stopped; a person still resolves it")
    owner = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["state", "step_due_at"], name="alert_state_step_due")]

    # The alert named inside a sentence ("acknowledged the silent alarm"): the kind's label,
    # lower-cased, read "the duress pin alert", which means nothing to a headteacher.
    IN_A_SENTENCE: dict[str, str] = {
        Kind.OVERDUE: "overdue check-in alert",
        Kind.OFFICE_CALL_MISSED: "missed office call alert",
        Kind.CODE_WORD: "code word alarm",
        Kind.PANIC: "panic alarm",
        Kind.DURESS: "silent alarm (a duress PIN was entered on a phone)",
    }

    def __str__(self):
        return f"{self.get_kind_display()} on visit {self.visit_id} ({self.state})"

    @property
    def in_a_sentence(self) -> str:
        return self.IN_A_SENTENCE.get(self.kind, "alert")

    def save(self, *args, **kwargs):
        if self.ladder_from is None:  # raised on time: the ladder starts now
            self.ladder_from = self.raised_at
        super().save(*args, **kwargs)

    @property
    def is_top(self):
        return self.kind in self.TOP_KINDS

    @property
    def current_step(self):
        return self.ladder[self.step] if self.ladder and self.step < len(self.ladder) else {}

    @property
    def contact_event(self) -> VisitEvent | None:
        """The event that restored contact: the one recorded at the very moment contact_at was
        set (safety.alerting.contact_restored runs in the same transaction, with the same now).
        None when no word has come, or when it came some other way (a door decision's event is
        found too)."""
        if self.contact_at is None:
            return None
        if not hasattr(self, "_contact_event"):
            self._contact_event = (VisitEvent.objects.filter(visit_id=self.visit_id, recorded_at=self.contact_at)
                                   .order_by("id").first())
        return self._contact_event

    @classmethod
    def keep_contact_events(cls, alerts: "Iterable[Alert]") -> None:
        """Read the contact_event of all these alerts in one query, as a page that lists them
        needs: one query per alert made the board slower with every alert a check-in had
        answered."""
        waiting = [a for a in alerts if a.contact_at is not None and not hasattr(a, "_contact_event")]
        if not waiting:
            return
        found: dict[tuple[int, datetime.datetime | None], VisitEvent] = {}
        for event in (VisitEvent.objects.filter(visit_id__in={a.visit_id for a in waiting},
                                                recorded_at__in={a.contact_at for a in waiting}).order_by("-id")):
            found[(event.visit_id, event.recorded_at)] = event  # the lowest id last: the one .first() gives
        for alert in waiting:
            alert._contact_event = found.get((alert.visit_id, alert.contact_at))

    @property
    def contact_words(self) -> str:
        """When word came, as the board and the alert pages say it: "Contact restored at 10:42
        (pressed on the phone at 10:31, sent when the signal came back)". A check-in pressed
        with no signal reaches Doorstep later: both times are shown, so nobody reads a 10:42
        check-in as 10:42 news, and the alert stays open until a person resolves it."""
        if self.contact_at is None:
            return ""
        text = f"Contact restored at {timezone.localtime(self.contact_at):%H:%M}"
        event = self.contact_event
        if event is None or event.recorded_at - event.at < LATE_WORD:
            return text
        pressed = f"{timezone.localtime(event.at):%H:%M}"
        if event.via == VisitEvent.Via.PHONE:
            return f"{text} (pressed on the phone at {pressed}, sent when the signal came back)"
        return f"{text} ({event.get_type_display().lower()} at {pressed}, recorded {event.get_via_display().lower()})"

    @property
    def is_red(self):
        """Red on the board: danger now, or the ladder has reached a police step."""
        return self.is_top or any(s.get("call_police") for s in self.ladder[: self.step + 1])


class AlertStep(models.Model):
    """A step of the ladder that fired, once: the unique constraint is the database's own
    guarantee that two watchdogs cannot both notify the same step."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="steps")
    step = models.PositiveSmallIntegerField()
    at = models.DateTimeField(help_text="When the step's people were told")
    due_at = models.DateTimeField(help_text="When the policy's timeline says the step falls due")
    notify = models.JSONField(default=list, help_text="The roles told")
    recipients = models.PositiveIntegerField(default=0)

    def save(self, *args, **kwargs):
        if self.due_at is None:  # told on time
            self.due_at = self.at
        super().save(*args, **kwargs)

    class Meta:
        ordering = ["alert", "step"]
        constraints = [models.UniqueConstraint(fields=["alert", "step"], name="each_step_fires_once")]


class Heartbeat(models.Model):
    """One row per watchdog process, touched before each pass and every few seconds inside a long
    one. The board warns when the newest is stale."""

    name = models.CharField(max_length=200, unique=True, help_text="host:pid")
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)
    loops = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.name} at {self.beat_at:%H:%M:%S}"
