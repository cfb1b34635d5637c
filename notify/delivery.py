"""The delivery worker's work: lease due messages, send them, record what happened.

At least once, never silently:

- **Leases.** `claim()` takes due rows with one conditional UPDATE that sets a fresh lease
  token and expiry only on rows that are pending, due and not leased by a live worker.
  Two workers can never hold the same row at once; a worker killed mid-send simply lets
  its lease run out, and the row is taken again by whoever comes next.
- **Sent only when accepted.** A row becomes `sent` after the provider accepted it, and
  only if this worker still holds the lease (`WHERE id = ? AND lease_token = ?`).
  No database transaction is open while a provider is being called.
- **Retries.** A failure is logged (DeliveryAttempt), counted, and the row is due again
  after an exponential back-off with jitter, capped; a provider's 429 Retry-After is
  respected.
- **The next provider.** After `DOORSTEP_SMS_ATTEMPTS_PER_PROVIDER` failures (or at once,
  on a permanent refusal such as bad credentials) an SMS moves to the next provider in
  `DOORSTEP_SMS_PROVIDERS`, round and round, until it goes or grows too old. Email and
  in-app copies are separate rows, so a dead SMS provider never holds them back.
- **Giving up is loud.** A row older than `DOORSTEP_DELIVERY_MAX_AGE` is marked failed,
  with an audit entry, and shows in `services.failed_recent()` for the board.
"""
import datetime
import logging
import os
import random
import socket
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import record

from .models import Channel, DeliveryAttempt, DeliveryHeartbeat, Message
from .providers import ProviderError, send_email, sms_providers, sms_text

logger = logging.getLogger("notify")

BACKOFF_BASE = 5        # seconds before the first retry
BACKOFF_CAP = 300       # never wait longer than this between tries
LEASE_SECONDS = 120     # longer than any one send can take (provider timeout plus a look-up); renewed per row


def max_age():
    return datetime.timedelta(seconds=int(getattr(settings, "DOORSTEP_DELIVERY_MAX_AGE", 3600)))


def attempts_per_provider():
    return max(1, int(getattr(settings, "DOORSTEP_SMS_ATTEMPTS_PER_PROVIDER", 2)))


def default_worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts, rng=random):
    """Seconds to wait after the `attempts`-th failure: 5, 10, 20, ... capped at 300,
    each scaled by a random 50-100% so that many rows failing together do not return
    together."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return delay * rng.uniform(0.5, 1.0)


def claim(*, limit=20, now=None, lease_seconds=LEASE_SECONDS):
    """Lease up to `limit` due email/SMS rows for this caller. Returns (token, messages).

    The UPDATE repeats the "due and not leased" conditions, so of two workers that read
    the same candidate ids only one update hits each row (PostgreSQL re-checks the WHERE
    after waiting for the other's row lock; SQLite runs writers one at a time)."""
    now = now or timezone.now()
    token = uuid.uuid4()
    candidates = list(
        Message.objects.due(now).exclude(channel=Channel.IN_APP).order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return token, []
    Message.objects.due(now).filter(pk__in=candidates).update(
        lease_token=token, lease_expires_at=now + datetime.timedelta(seconds=lease_seconds)
    )
    return token, list(Message.objects.filter(lease_token=token).select_related("recipient", "school").order_by("next_attempt_at", "id"))


def _held(message, token):
    return Message.objects.filter(pk=message.pk, lease_token=token)


def _give_up(message, token, reason, now):
    with transaction.atomic():
        hit = _held(message, token).update(
            status=Message.Status.FAILED, failed_at=now, last_error=reason[:1000], lease_token=None, lease_expires_at=None
        )
        if hit:
            record(
                actor=None, school=message.school, action="message.failed", obj=message,
                summary=f"{message.get_channel_display()} to {message.recipient.full_name} could not be sent",
                reason=reason, data={"kind": message.kind, "alert_id": message.alert_id, "attempts": message.attempts},
            )
    logger.error("Gave up on message %s (%s to %s): %s", message.pk, message.channel, message.recipient_id, reason)
    return bool(hit)


def _provider_for(message):
    """(provider object, its name, the configured list) for an SMS row."""
    providers = sms_providers()
    if not providers:
        raise ProviderError("no SMS provider is configured (DOORSTEP_SMS_PROVIDER)", permanent=True)
    names = [p.name for p in providers]
    current = message.provider if message.provider in names else names[0]
    return providers[names.index(current)], current, names


def deliver(message, token, *, worker=""):
    """Send one leased message. Returns "sent", "retry", "failed" or "lost" (our lease
    was taken over by another worker while we were sending)."""
    now = timezone.now()
    # A batch is sent one row after another, so renew this row's lease just before its
    # send: a row whose lease ran out while earlier rows were sent may already be in
    # another worker's hands, and must not be sent by both.
    if not _held(message, token).update(lease_expires_at=now + datetime.timedelta(seconds=LEASE_SECONDS)):
        return "lost"
    if now - message.created_at > max_age():
        reason = message.last_error or "no provider accepted it"
        _give_up(message, token, f"Gave up after {message.attempts} tries over {max_age()}: {reason}", now)
        return "failed"

    names = ["smtp"]
    provider_name = "smtp"
    try:
        if message.channel == Channel.EMAIL:
            ref = send_email(message)
        elif message.channel == Channel.SMS:
            provider, provider_name, names = _provider_for(message)
            ref = provider.send(message, sms_text(message))
        else:
            raise ProviderError(f"channel {message.channel!r} is not sent by the worker", permanent=True)
    except Exception as exc:  # noqa: BLE001 - any failure must become a retry, never a dead worker
        error = exc if isinstance(exc, ProviderError) else ProviderError(f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, ProviderError):
            logger.exception("Unexpected error sending message %s", message.pk)
        return _failed_attempt(message, token, provider_name, names, error, worker, timezone.now())

    done = timezone.now()
    with transaction.atomic():
        hit = _held(message, token).update(
            status=Message.Status.SENT, sent_at=done, provider=provider_name, provider_ref=str(ref or "")[:100],
            attempts=F("attempts") + 1, last_error="", lease_token=None, lease_expires_at=None,
        )
        DeliveryAttempt.objects.create(message=message, at=done, provider=provider_name, ok=True, worker=worker)
    if not hit:
        logger.warning("Message %s was sent but its lease had passed to another worker", message.pk)
        return "lost"
    return "sent"


def _failed_attempt(message, token, provider_name, names, error, worker, now):
    attempts = message.attempts + 1
    failures = message.provider_failures + 1
    next_provider = provider_name
    wait = datetime.timedelta(seconds=max(backoff(attempts), error.retry_after or 0))
    give_up = False

    if message.channel == Channel.SMS and len(names) > 1 and (error.permanent or failures >= attempts_per_provider()):
        # This provider has had its chances: straight on to the next one, no waiting.
        next_provider = names[(names.index(provider_name) + 1) % len(names)] if provider_name in names else names[0]
        failures = 0
        wait = datetime.timedelta(0)
    elif error.permanent:
        give_up = True

    with transaction.atomic():
        DeliveryAttempt.objects.create(message=message, at=now, provider=provider_name, ok=False, error=str(error)[:1000], worker=worker)
        changes = dict(
            attempts=attempts, provider_failures=failures, provider=next_provider if message.channel == Channel.SMS else provider_name,
            last_error=f"{provider_name}: {error}"[:1000], next_attempt_at=now + wait,
        )
        if not give_up:  # release the row for the next try; a row we give up on stays ours until marked failed
            changes.update(lease_token=None, lease_expires_at=None)
        hit = _held(message, token).update(**changes)
    logger.warning("Message %s (%s) not sent by %s, try %s: %s", message.pk, message.channel, provider_name, attempts, error)
    if give_up and hit:
        message.attempts = attempts
        _give_up(message, token, f"{provider_name} refused it: {error}", now)
        return "failed"
    return "retry" if hit else "lost"


def expire_stale(now=None):
    """Fail unleased pending rows that are past the age limit even if their next try is
    still some way off, so that the board hears about them on time."""
    now = now or timezone.now()
    token = uuid.uuid4()
    unleased = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    old = Message.objects.filter(unleased, status=Message.Status.PENDING, created_at__lt=now - max_age()).exclude(channel=Channel.IN_APP)
    count = 0
    for message in old.select_related("recipient", "school")[:100]:
        lease = now + datetime.timedelta(seconds=LEASE_SECONDS)
        if Message.objects.filter(unleased, pk=message.pk, status=Message.Status.PENDING).update(lease_token=token, lease_expires_at=lease):
            reason = message.last_error or "no provider accepted it"
            count += _give_up(message, token, f"Gave up after {message.attempts} tries over {max_age()}: {reason}", now)
    return count


def beat(worker, *, sent=0, failed=0):
    now = timezone.now()
    updated = DeliveryHeartbeat.objects.filter(worker=worker).update(
        last_run=now, sent=F("sent") + sent, failed_attempts=F("failed_attempts") + failed
    )
    if not updated:
        DeliveryHeartbeat.objects.get_or_create(worker=worker, defaults={"last_run": now, "sent": sent, "failed_attempts": failed})


def run_once(*, worker=None, limit=20):
    """One round of the worker: claim, send, record. Returns counts by outcome."""
    worker = worker or default_worker_name()
    counts = {"sent": 0, "retry": 0, "failed": 0, "lost": 0}
    token, messages = claim(limit=limit)
    for message in messages:
        counts[deliver(message, token, worker=worker)] += 1
    counts["failed"] += expire_stale()
    beat(worker, sent=counts["sent"], failed=counts["retry"] + counts["failed"])
    return counts
