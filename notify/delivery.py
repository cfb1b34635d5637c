"""The delivery worker's work: lease due messages, send them, record what happened.

At least once, never silently:

- **Leases, one message at a time.** `claim()` takes due rows with one conditional UPDATE
  that sets a fresh lease token and expiry only on rows that are pending, due and not
  leased by a live worker. Two workers can never hold the same row at once. The worker
  leases one message just before sending it, for a short time (`lease_seconds()`: a
  look-up and a send), so a worker killed mid-send holds back that one message for
  seconds, not a batch for minutes.
- **A killed worker's send is looked for, not repeated.** `first_send_at` is stamped before
  the first send begins; whoever sends a row that has it asks the provider for the earlier
  copy first (notify/providers.py), so a worker killed between the provider's "accepted"
  and the row's "sent" does not cause a second text.
- **Sent only when accepted.** A row becomes `sent` after the provider accepted it, and
  only if this worker still holds the lease (`WHERE id = ? AND lease_token = ?`).
  No database transaction is open while a provider is being called.
- **Retries.** A failure is logged (DeliveryAttempt), counted, and the row is due again
  after an exponential back-off with jitter, capped at 15 s for alerts and check-in
  reminders (texts go soon after a provider recovers) and 300 s for the rest; a provider's
  429 Retry-After is respected.
- **The next provider.** After `DOORSTEP_SMS_ATTEMPTS_PER_PROVIDER` failures (or at once,
  on a permanent refusal such as bad credentials) an SMS moves to the next provider in
  `DOORSTEP_SMS_PROVIDERS`, round and round, until it goes or grows too old. Email and
  in-app copies are separate rows, and `serve()` sends each channel from its own thread,
  so a hanging SMS provider never holds back email. Phone calls (the voice channel) are
  rows of their own too, with their own thread, and one provider (Twilio's Calls API).
- **A database hiccup is ridden out.** `serve()` logs it, waits a little longer each time
  (at most `DB_BACKOFF_CAP`), drops a broken connection and carries on.
- **Giving up is loud.** A row older than `DOORSTEP_DELIVERY_MAX_AGE` is marked failed,
  with an audit entry, and shows in `services.failed_recent()` for the board.
"""
import datetime
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.actions import Action
from audit.services import record

from .models import Channel, DeliveryAttempt, DeliveryHeartbeat, Message
from .providers import (
    ProviderError, SmsProvider, call_twiml, provider_timeout, send_email, sms_providers, sms_text, voice_provider,
)

logger = logging.getLogger("notify")

BACKOFF_BASE = 5        # seconds before the first retry
BACKOFF_CAP = 300       # never wait longer than this between tries
URGENT_BACKOFF_CAP = 15  # ... for alerts and check-in reminders: someone may be in danger now
URGENT_KINDS = ("alert.", "checkin.")
LEASE_SECONDS = 30      # the shortest lease; see lease_seconds()
DB_BACKOFF_CAP = 5      # seconds: the longest serve() waits after a database error before trying again
# In-app rows are delivered when written. Each of these has its own worker thread (or process,
# under `doorstep start`), so a phone-call provider that hangs never holds back a text or an email.
SENT_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.VOICE)

Counts = dict[str, int]  # a round's outcomes: "sent", "retry", "failed", "lost"


class Uniform(Protocol):
    """What backoff() asks of its random source: the random module, or a seeded Random."""

    def uniform(self, a: float, b: float) -> float: ...


def max_age() -> datetime.timedelta:
    return datetime.timedelta(seconds=int(getattr(settings, "DOORSTEP_DELIVERY_MAX_AGE", 3600)))


def attempts_per_provider() -> int:
    return max(1, int(getattr(settings, "DOORSTEP_SMS_ATTEMPTS_PER_PROVIDER", 2)))


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds() -> float:
    """How long a worker holds a message it is sending: an SMS send is at most a look-up
    and a send, each cut off at the provider timeout, so twice that and some slack; at
    least LEASE_SECONDS. With the default 10 s timeout: 30 s."""
    return max(LEASE_SECONDS, 2 * provider_timeout() + 10)


def backoff(attempts: int, rng: Uniform = random, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after the `attempts`-th failure: 5, 10, 20, ... capped at `cap`,
    each scaled by a random 50-100% so that many rows failing together do not return
    together."""
    delay: float = min(cap, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return delay * rng.uniform(0.5, 1.0)


def backoff_cap(message: Message) -> int:
    """Alerts and check-in reminders are retried at least every 15 s, so they go out soon
    after a provider recovers; anything else can wait up to 5 minutes between tries."""
    return URGENT_BACKOFF_CAP if message.kind.startswith(URGENT_KINDS) else BACKOFF_CAP


def claim(*, limit: int = 20, now: datetime.datetime | None = None, lease_for: float | None = None,
          channel: str | None = None, exclude: Collection[int] = ()) -> tuple[uuid.UUID, list[Message]]:
    """Lease up to `limit` due email/SMS rows (of one channel, if given) for this caller.
    Returns (token, messages). The worker takes one at a time (run_once).

    The UPDATE repeats the "due and not leased" conditions, so of two workers that read
    the same candidate ids only one update hits each row (PostgreSQL re-checks the WHERE
    after waiting for the other's row lock; SQLite runs writers one at a time)."""
    now = now or timezone.now()
    token = uuid.uuid4()
    due = Message.objects.due(now).filter(channel__in=[channel] if channel else SENT_CHANNELS)
    candidates = list(due.exclude(pk__in=exclude).order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    if not candidates:
        return token, []
    due.filter(pk__in=candidates).update(
        lease_token=token, lease_expires_at=now + datetime.timedelta(seconds=lease_for or lease_seconds())
    )
    return token, list(Message.objects.filter(lease_token=token).select_related("recipient", "school").order_by("next_attempt_at", "id"))


def _held(message: Message, token: uuid.UUID) -> QuerySet[Message]:
    return Message.objects.filter(pk=message.pk, lease_token=token)


def _give_up(message: Message, token: uuid.UUID, reason: str, now: datetime.datetime) -> bool:
    with transaction.atomic():
        hit = _held(message, token).update(
            status=Message.Status.FAILED, failed_at=now, last_error=reason[:1000], lease_token=None, lease_expires_at=None
        )
        if hit:
            record(
                actor=None, school=message.school, action=Action.MESSAGE_FAILED, obj=message,
                summary=f"{message.get_channel_display()} to {message.recipient.full_name} could not be sent",
                reason=reason, data={"kind": message.kind, "alert_id": message.alert_id, "attempts": message.attempts},
            )
    logger.error("Gave up on message %s (%s to %s): %s", message.pk, message.channel, message.recipient_id, reason)
    return bool(hit)


def _provider_for(message: Message) -> tuple[SmsProvider, str, list[str]]:
    """(provider object, its name, the configured list) for an SMS row."""
    providers = sms_providers()
    if not providers:
        raise ProviderError("no SMS provider is configured (DOORSTEP_SMS_PROVIDER)", permanent=True)
    names = [p.name for p in providers]
    current = message.provider if message.provider in names else names[0]
    return providers[names.index(current)], current, names


def deliver(message: Message, token: uuid.UUID, *, worker: str = "") -> str:
    """Send one leased message. Returns "sent", "retry", "failed" or "lost" (our lease
    was taken over by another worker while we were sending)."""
    now = timezone.now()
    # Whether an earlier send may have reached the provider: a worker began one (and may have
    # been killed before recording it), or an older row tried before first_send_at existed.
    sent_before = message.first_send_at or (message.created_at if message.attempts else None)
    # Renew the lease just before the send (a caller may have held the row a while) and
    # stamp the send's start. If the lease has passed to another worker, the row is theirs.
    if not _held(message, token).update(
            lease_expires_at=now + datetime.timedelta(seconds=lease_seconds()),
            first_send_at=Coalesce(F("first_send_at"), now)):
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
            ref = provider.send(message, sms_text(message), sent_before=sent_before)
        elif message.channel == Channel.VOICE:
            provider_name, names = "twilio_voice", ["twilio_voice"]  # what a missing provider is logged as
            caller = voice_provider()
            provider_name, names = caller.name, [caller.name]
            ref = caller.call(message, call_twiml(message), sent_before=sent_before)
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


def _failed_attempt(message: Message, token: uuid.UUID, provider_name: str, names: list[str], error: ProviderError,
                    worker: str, now: datetime.datetime) -> str:
    attempts = message.attempts + 1
    failures = message.provider_failures + 1
    next_provider = provider_name
    wait = datetime.timedelta(seconds=max(backoff(attempts, cap=backoff_cap(message)), error.retry_after or 0))
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
        changes: dict[str, Any] = dict(
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


def expire_stale(now: datetime.datetime | None = None, channel: str | None = None) -> int:
    """Fail unleased pending rows that are past the age limit even if their next try is
    still some way off, so that the board hears about them on time."""
    now = now or timezone.now()
    token = uuid.uuid4()
    unleased = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    old = Message.objects.filter(unleased, status=Message.Status.PENDING, created_at__lt=now - max_age(),
                                 channel__in=[channel] if channel else SENT_CHANNELS)
    count = 0
    for message in old.select_related("recipient", "school")[:100]:
        lease = now + datetime.timedelta(seconds=lease_seconds())
        if Message.objects.filter(unleased, pk=message.pk, status=Message.Status.PENDING).update(lease_token=token, lease_expires_at=lease):
            reason = message.last_error or "no provider accepted it"
            count += _give_up(message, token, f"Gave up after {message.attempts} tries over {max_age()}: {reason}", now)
    return count


def beat(worker: str, *, sent: int = 0, failed: int = 0) -> None:
    now = timezone.now()
    updated = DeliveryHeartbeat.objects.filter(worker=worker).update(
        last_run=now, sent=F("sent") + sent, failed_attempts=F("failed_attempts") + failed
    )
    if not updated:
        DeliveryHeartbeat.objects.get_or_create(worker=worker, defaults={"last_run": now, "sent": sent, "failed_attempts": failed})


def run_once(*, worker: str | None = None, limit: int = 20, channel: str | None = None) -> Counts:
    """One round of the worker: up to `limit` messages (of one channel, if given), each
    leased just before it is sent; each is tried at most once a round. Returns counts."""
    worker = worker or default_worker_name()
    counts = {"sent": 0, "retry": 0, "failed": 0, "lost": 0}
    tried: list[int] = []
    for _ in range(limit):
        token, messages = claim(limit=1, channel=channel, exclude=tried)
        if not messages:
            break
        tried.append(messages[0].pk)
        counts[deliver(messages[0], token, worker=worker)] += 1
    counts["failed"] += expire_stale(channel=channel)
    beat(worker, sent=counts["sent"], failed=counts["retry"] + counts["failed"])
    return counts


def serve(*, worker: str, channel: str | None = None, limit: int = 20, interval: float = 1.0,
          stop: threading.Event | None = None, report: Callable[[Counts], object] | None = None) -> None:
    """Run rounds until `stop` is set: the body of `doorstep deliver` for one channel (or
    both, in turn, when channel is None). Never returns on an error: a database that is
    locked or away (SQLite busy past its timeout, a PostgreSQL restart) or a bad row is
    logged, waited out (0.5 s, doubling, at most DB_BACKOFF_CAP) and tried again with a
    fresh connection if the old one is broken. `report(counts)` is told of each round."""
    stop = stop or threading.Event()
    errors = 0
    while not stop.is_set():
        _tidy_connection()  # a long-lived loop must not keep a dead or stale connection
        try:
            counts = run_once(worker=worker, limit=limit, channel=channel)
        except Exception:  # noqa: BLE001 - the worker must outlive any one failure; it is logged loudly
            errors += 1
            wait = min(DB_BACKOFF_CAP, 0.5 * 2 ** (errors - 1))
            logger.exception("Delivery worker %s: round failed (%s in a row); trying again in %.1f s", worker, errors, wait)
            _tidy_connection()
            stop.wait(wait)
            continue
        if errors:
            logger.warning("Delivery worker %s: working again after %s failed rounds", worker, errors)
        errors = 0
        if report:
            report(counts)
        if not any(counts.values()):
            stop.wait(interval)


def _tidy_connection() -> None:
    """close_old_connections(): drop this thread's connection if it is broken (a server
    restart) or old; a merely busy SQLite connection is kept. Not inside a caller's
    transaction (a test's), which is not ours to end. Closing a dead connection can itself
    fail; the next round reconnects anyway."""
    if connection.in_atomic_block:
        return
    try:
        close_old_connections()
    except Exception:  # noqa: BLE001 - see the docstring
        logger.warning("Delivery: could not close a broken database connection", exc_info=True)


def serve_channels(*, worker: str, channels: Iterable[str] = SENT_CHANNELS, limit: int = 20, interval: float = 1.0,
                   stop: threading.Event | None = None, report: Callable[[Counts], object] | None = None) -> None:
    """serve() each channel in its own thread, with its own database connection, so that a
    provider hanging for its whole timeout on every text never delays an email. A thread
    that dies all the same is started again. Returns when `stop` is set and every thread
    has finished its current message."""
    stop = stop or threading.Event()

    def start(channel: str) -> threading.Thread:
        thread = threading.Thread(
            target=_serve_in_thread, name=f"deliver-{channel}", daemon=True,
            kwargs=dict(worker=f"{worker} {channel}", channel=channel, limit=limit, interval=interval, stop=stop,
                        report=report),
        )
        thread.start()
        return thread

    threads = {channel: start(channel) for channel in channels}
    while any(thread.is_alive() for thread in threads.values()):
        for channel, thread in threads.items():
            thread.join(0.5)  # short joins: the main thread must stay free to take SIGTERM
            if not thread.is_alive() and not stop.is_set():
                logger.error("Delivery worker %s: the %s thread stopped; starting it again", worker, channel)
                stop.wait(1)  # not in a tight loop if it dies at once again
                threads[channel] = start(channel)


def _serve_in_thread(**kwargs: Any) -> None:
    try:
        serve(**kwargs)
    finally:
        connection.close()  # the thread's own connection
