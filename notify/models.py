"""The outbox: every message Doorstep sends to a person is a row here first.

A `Message` is written in the same transaction as whatever caused it (an alert, a
reminder), so a crash can never lose one. In-app messages are delivered the moment the
row exists (the office board and the person's inbox read this table); email, SMS and
phone-call (voice) rows wait for the `doorstep deliver` worker, which leases a row, sends it, and marks it sent
only after the provider has accepted it (see notify/delivery.py)."""
from __future__ import annotations

import datetime
import hashlib
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from people.models import StaffMember


class Channel(models.TextChoices):
    IN_APP = "in_app", "In Doorstep"
    EMAIL = "email", "Email"
    SMS = "sms", "Text message"
    VOICE = "voice", "Phone call"


class MessageQuerySet(models.QuerySet["Message"]):
    def due(self, now: datetime.datetime | None = None) -> MessageQuerySet:
        """Email, SMS and voice rows the worker may take now: pending, due, and not leased by a
        live worker (a lease that has run out belongs to a worker that died)."""
        now = now or timezone.now()
        return self.filter(
            status=Message.Status.PENDING, next_attempt_at__lte=now
        ).filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))

    def in_app_for(self, staff: StaffMember) -> MessageQuerySet:
        return self.filter(recipient=staff, channel=Channel.IN_APP)


class Message(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Could not be sent"
        # A phone call not placed because the alert was taken on first (cancel_calls()).
        CANCELLED = "cancelled", "Not needed: the alert was taken on"

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    recipient = models.ForeignKey("people.StaffMember", on_delete=models.PROTECT, related_name="messages")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # What caused it, e.g. "alert.overdue"; with alert_id the alerts app can find the
    # messages of one alert without this app depending on its models.
    kind = models.CharField(max_length=60)
    alert_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    # The number or address as it was when the message was written: what was sent is
    # what the record shows, even if the register changes afterwards.
    to_address = models.CharField(max_length=254, blank=True)
    idempotency_key = models.CharField(max_length=200)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    # SMS only: the provider now in use and how many times it has failed this message.
    provider = models.CharField(max_length=20, blank=True)
    provider_failures = models.PositiveIntegerField(default=0)
    provider_ref = models.CharField(max_length=100, blank=True, help_text="The provider's id for the sent message.")
    last_error = models.TextField(blank=True)
    # Set when a worker first begins a send. A worker can be killed after the provider took
    # the text but before the row says so; whoever takes the row next sees this and asks the
    # provider for that earlier copy before sending another (notify/providers.py).
    first_send_at = models.DateTimeField(null=True, blank=True)
    # Why the text and email went out in the fixed wording instead of the caller's words
    # (something in them read as a pupil's name or address); empty when they did not.
    reworded = models.CharField(max_length=200, blank=True)
    # Phone calls only: the random token in the address Twilio calls back with the key pressed
    # (/hooks/voice/twilio/<token>/), which maps the answer to this row, hence to the alert
    # and the person; never a guessable id.
    call_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A caller that retries with the same key (a watchdog restarted mid-alert)
            # cannot send anyone the same message twice.
            models.UniqueConstraint(fields=["idempotency_key", "recipient", "channel"], name="one_message_per_key_person_channel"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notify_message_due"),
            models.Index(fields=["recipient", "channel", "read_at"], name="notify_message_inbox"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient_id}: {self.subject}"

    @property
    def reference(self) -> str:
        """A stable reference for providers that deduplicate or can be searched by one
        (GOV.UK Notify's `reference`, the email Message-ID): the same on every retry."""
        digest = hashlib.sha256(f"{self.idempotency_key}|{self.recipient_id}|{self.channel}".encode()).hexdigest()[:16]
        return f"doorstep-{self.pk}-{digest}"

    @property
    def is_unread(self) -> bool:
        return self.channel == Channel.IN_APP and self.read_at is None


class DeliveryAttempt(models.Model):
    """One try at sending one message: the log the office can read when something did not arrive."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=timezone.now)
    provider = models.CharField(max_length=20)
    ok = models.BooleanField()
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["at", "id"]


class DeliveryHeartbeat(models.Model):
    """Each delivery worker stamps its row every loop; a stale newest stamp means that
    email and SMS have stopped going out, and the board should say so."""

    worker = models.CharField(max_length=100, unique=True)
    last_run = models.DateTimeField()
    sent = models.PositiveIntegerField(default=0)
    failed_attempts = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.worker} at {self.last_run:%H:%M:%S}"
