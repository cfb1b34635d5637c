"""Telling people things: the one way other apps put a message in front of a member of staff.

    from notify.services import notify

    with transaction.atomic():
        alert = Alert.objects.create(...)
        notify(
            recipients,                     # StaffMember rows of `school`
            kind="alert.overdue",           # what caused it; shown in the inbox and the log
            subject="Visit overdue",        # short; no pupil name or address
            body="Sam has not checked in. Call them now.",
            link=f"/board/alerts/{alert.pk}/",   # into Doorstep; made absolute for SMS/email
            school=school,
            alert=alert,                    # optional; stored as alert_id (no cross-app FK)
            idempotency_key=f"alert:{alert.pk}:step:{n}",
        )

`notify()` only writes rows, so call it inside the transaction of the change that causes
it: if that rolls back, no message exists; if it commits, the messages will go out (at
least once) even if this process dies the next moment. For each recipient it writes one
row per channel the person can receive: in-app always (delivered at once: the board and
the inbox read it from the table), SMS if they have a mobile, email if they have an
address. The worker (`doorstep deliver`, notify/delivery.py) sends SMS and email.

(idempotency_key, recipient, channel) is unique: calling again with the same key writes
nothing new and returns the rows already written, so a retrying watchdog is harmless.

Nothing that names a pupil or their home may leave the school (default rule, and the
policies' confidentiality clauses). When a subject, body or link contains the name, first
address line or postcode of any pupil of the school, the text and email copies go out in a
fixed wording instead ("Alert for your school. Open Doorstep now." and the link), and the
in-app copy keeps the caller's words: it is read inside Doorstep by the school's own staff.
`notify()` never refuses a message for its wording: a pupil who shares a name with a member
of staff ("Ann Smith", "Mary Ann Smith") must never stop an alarm being raised. A message
sent in the fixed wording is reported loudly instead: an error in the log, an entry in the
audit trail and a warning on the office board (`reworded_recent()`).
"""
from __future__ import annotations

import datetime
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Field, Max, Model, Q, QuerySet
from django.utils import timezone

from audit.actions import Action
from audit.services import record
from core import bulk
from pupils.models import Pupil

from .models import Channel, DeliveryHeartbeat, Message

if TYPE_CHECKING:
    from people.models import StaffMember
    from schools.models import School

# (field, "name" | "address" | "postcode", pupil record id): a pupil's detail found in a text.
Found = list[tuple[str, str, int]]

logger = logging.getLogger("notify")


def _max_length(field: Field[Any, Any]) -> int:
    assert field.max_length is not None, field.name  # a CharField always has one
    return field.max_length


SUBJECT_MAX = _max_length(Message._meta.get_field("subject"))
KEY_MAX = _max_length(Message._meta.get_field("idempotency_key"))


# ----------------------------------------------------------------------------- pupil details

_NON_WORD = re.compile(r"[\W_]+")
_CACHE_SECONDS = 60
# school id -> (pupil count and highest id when read, when read, the phrases)
_phrases_cache: dict[int, tuple[tuple[int, int | None], datetime.datetime, Phrases]] = {}


def _normal(text: str) -> str:
    """Lower case, punctuation and runs of spaces folded to one space, padded with spaces
    so that a phrase matches only as whole words: "Brown, Ava" -> " brown ava "."""
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


class Phrases(list[tuple[str, str, int]]):
    """(phrase, what, pupil id) in order, with a lookup {phrase: (first position, what, pupil
    id)} and the longest phrase's word count, so that a text is checked by looking up each run
    of its words rather than by testing every phrase of the school against it."""

    def __init__(self, phrases: list[tuple[str, str, int]]) -> None:
        super().__init__(phrases)
        self.lookup: dict[str, tuple[int, str, int]] = {}
        for position, (phrase, what, pk) in enumerate(phrases):
            self.lookup.setdefault(phrase, (position, what, pk))
        self.longest = max((p.count(" ") - 1 for p, _, _ in phrases), default=0)

    def first_in(self, normal: str) -> tuple[str, int] | None:
        """(what, pupil id) of the first phrase (in order) that `normal` (a _normal() text)
        contains as whole words, as `phrase in normal` tested phrase by phrase would find it."""
        words = normal.split()
        best: tuple[int, str, int] | None = None
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + self.longest) + 1):
                hit = self.lookup.get(" " + " ".join(words[start:end]) + " ")
                if hit is not None and (best is None or hit[0] < best[0]):
                    best = hit
        return (best[1], best[2]) if best is not None else None


def _pupil_phrases(school: School) -> Phrases:
    """(phrase, what, pupil id) for every pupil of the school: the name both ways round,
    the first address line, the postcode with and without its space. Plain substring
    tests on normalised text: cheap enough to run inside every alert's transaction.

    Building this for a school of a thousand pupils takes tens of milliseconds, inside the
    alert's transaction; so it is kept per process for a minute, dropped at once when this
    process saves or deletes a pupil (forget_school), and rebuilt when another process adds
    or removes one (the stamp: count and newest id).

    A pupil who shares a name with a member of staff is not left out: a staff name that
    contains a pupil's ("Mary Ann Smith", "Ann Smith") still reads as the pupil's name to
    whoever sees the text, so such a message goes out in the fixed wording, and it is never
    refused (notify())."""
    return _pupil_phrases_of([school.pk])[school.pk]


def _pupil_phrases_of(school_ids: Iterable[int]) -> dict[int, Phrases]:
    """_pupil_phrases() of several schools, their stamps read in one query (a watchdog's
    batch of alerts spans many schools)."""
    ids = list(school_ids)
    stamps: dict[int, tuple[int, int | None]] = {pk: (0, None) for pk in ids}
    counted = Pupil.objects.filter(school__in=ids).order_by().values("school").annotate(n=Count("pk"), m=Max("pk"))
    for row in counted:
        stamps[row["school"]] = (row["n"], row["m"])
    now = timezone.now()
    found: dict[int, Phrases] = {}
    for pk, stamp in stamps.items():
        cached = _phrases_cache.get(pk)
        if cached and cached[0] == stamp and (now - cached[1]).total_seconds() < _CACHE_SECONDS:
            found[pk] = cached[2]
            continue
        phrases: list[tuple[str, str, int]] = []
        pupils = Pupil.objects.filter(school=pk)
        for pupil, first, last, line1, postcode in pupils.values_list("pk", "first_name", "last_name", "address_line1",
                                                                      "postcode"):
            phrases += [(_normal(f"{first} {last}"), "name", pupil), (_normal(f"{last} {first}"), "name", pupil)]
            if len(line1.strip()) > 2:
                phrases.append((_normal(line1), "address", pupil))
            compact = "".join(postcode.split())
            if len(compact) >= 5:  # outward code + the 3-character inward code, spaced or not
                phrases += [(_normal(compact), "postcode", pupil),
                            (_normal(f"{compact[:-3]} {compact[-3:]}"), "postcode", pupil)]
        found[pk] = Phrases([p for p in phrases if p[0].strip()])
        _phrases_cache[pk] = (stamp, now, found[pk])
    return found


def forget_school(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """Signal receiver (see NotifyConfig.ready): a pupil changed."""
    school_id = getattr(instance, "school_id", None)
    if school_id is not None:
        _phrases_cache.pop(school_id, None)


def pupil_details_in(school: School, **texts: str) -> Found:
    """What in the named texts (subject=..., body=..., link=...) reads as a pupil's details:
    (field, "name" | "address" | "postcode", pupil record id), at most one per field. Empty
    when the texts may leave the school as they are."""
    return _found_in(_pupil_phrases(school), texts)


def _found_in(phrases: Phrases, texts: dict[str, str]) -> Found:
    found: Found = []
    for field, text in texts.items():
        if not text:
            continue
        hit = phrases.first_in(_normal(text))
        if hit is not None:
            found.append((field, *hit))
    return found


# ----------------------------------------------------------------------------- writing messages

# What a text or email says when the caller's words cannot leave the school. Fixed, so that
# nothing a caller writes can put a pupil's details into it; the link says where to look.
SAFE_WORDING = {
    "alert": ("Alert for your school", "Open Doorstep now."),
    "other": ("Message from your school", "Open Doorstep to read it."),
}
SAFE_LINK = "/notify/"  # the person's own messages, where the in-app copy is


def safe_wording(kind: str) -> tuple[str, str]:
    """(subject, body) of the fixed wording for a message of this kind."""
    return SAFE_WORDING["alert" if kind.startswith("alert.") else "other"]


def _describe(found: Found) -> str:
    """'a pupil's name in the subject; a pupil's postcode in the body': no pupil in it."""
    return "; ".join(f"a pupil's {what} in the {field}" for field, what, _ in found)[:200]


def _report_reworded(school: School, kind: str, idempotency_key: str, found: Found, rows: list[Message]) -> None:
    """Loudly: an error in the log, an audit entry, and (through the rows' `reworded`) a
    warning on the office board. Names the pupil record, never the pupil."""
    reason = _describe(found)
    logger.error(
        "Message %r (%s) went out by text and email in the fixed wording: %s (pupil records %s)",
        idempotency_key, kind, reason, ", ".join(sorted({str(pk) for _, _, pk in found})),
    )
    record(
        actor=None, school=school, action=Action.MESSAGE_REWORDED, obj=rows[0],
        summary="Texts and emails went out saying only to open Doorstep: their words read as "
                f"{_describe(found)}",
        reason=reason,
        data={"kind": kind, "idempotency_key": idempotency_key, "found": [list(f) for f in found],
              "messages": [m.pk for m in rows]},
    )


def _channels_for(staff: StaffMember, *, ring: bool = False) -> list[tuple[str, str]]:
    channels: list[tuple[str, str]] = [(Channel.IN_APP, "")]
    if staff.mobile:
        channels.append((Channel.SMS, staff.mobile.strip()))
    if staff.email:
        channels.append((Channel.EMAIL, staff.email.strip()))
    if ring and staff.mobile:
        channels.append((Channel.VOICE, staff.mobile.strip()))
    return channels


def safe_call_words(school: School) -> str:
    """What a phone call says when the caller's words for it read as a pupil's details."""
    return f"Doorstep alert from {school.name}. Open Doorstep now."


def notify(recipients: Iterable[StaffMember], *, kind: str, subject: str, body: str, link: str = "", school: School,
           alert: int | Model | None = None, idempotency_key: str,
           channels: Iterable[str] | None = None, spoken: str = "") -> list[Message]:
    """Write the outbox rows for a message to each recipient; see the module docstring.
    `channels` keeps only those channels (e.g. [Channel.SMS] for the answer to a text a
    member of staff sent in: safety.texts); by default every channel the person can receive.

    `spoken`, when given, also rings each recipient who has a mobile: a phone-call (voice)
    row whose words are `spoken` (checked for pupils' details as the text is), with a random
    `call_token` for the address Twilio calls back with the key pressed (hooks/voice.py).

    Returns every row for this key and these recipients, new or already written.
    Recipients who have left (inactive) are skipped: they are no longer on the staff.
    Raises ValueError for a recipient of another school, an empty or over-long subject,
    body or key: mistakes in the calling code. Never for pupil details in the text: then
    the text and email copies use the fixed wording, and that is reported (module docstring)."""
    notice = Notice(recipients=list(recipients), kind=kind, subject=subject, body=body, link=link, school=school,
                    alert=alert, idempotency_key=idempotency_key, channels=channels, spoken=spoken)
    wanted, found = notice.rows(timezone.now())
    if not wanted:
        return []
    people = list({m.recipient_id: m.recipient for m in wanted}.values())
    # Two queries in the usual case (what exists for this key, then one INSERT of the rest)
    # rather than a look-up, a savepoint and an insert per row: an alert writes six or more
    # rows inside the watchdog's transaction, and that was half of each alert's cost
    # (docs/benchmarks.md).
    # atomic() here joins the caller's transaction (as a savepoint) when there is one,
    # and makes one otherwise, so a half-written set of messages cannot be committed.
    with transaction.atomic():
        existing = _existing(idempotency_key, people)
        new = [m for m in wanted if (m.recipient_id, m.channel) not in existing]
        if new:
            try:
                with transaction.atomic():  # a savepoint: a concurrent twin must not spoil the caller's transaction
                    Message.objects.bulk_create(new)
            except IntegrityError:
                # Another process wrote some of these rows for the same key meanwhile: keep
                # theirs, add the rest (the unique constraint makes this safe to repeat).
                with transaction.atomic():
                    Message.objects.bulk_create(new, ignore_conflicts=True)
                existing = _existing(idempotency_key, people)
                rows = [existing[(m.recipient_id, m.channel)] for m in wanted if (m.recipient_id, m.channel) in existing]
                reworded = [m for m in rows if m.reworded]
                if reworded:
                    _report_reworded(school, kind, idempotency_key, found, reworded)
                return rows
            reworded = [m for m in new if m.reworded]
            if reworded:
                _report_reworded(school, kind, idempotency_key, found, reworded)
        made = {(m.recipient_id, m.channel): m for m in new}
    return [existing.get((m.recipient_id, m.channel)) or made[(m.recipient_id, m.channel)] for m in wanted]


@dataclass
class Notice:
    """One call's worth of notify(): the same arguments, so that many can be written at once
    (notify_new)."""

    recipients: list[StaffMember]
    kind: str
    subject: str
    body: str
    school: School
    idempotency_key: str
    link: str = ""
    alert: int | Model | None = None
    channels: Iterable[str] | None = None
    spoken: str = ""

    def rows(self, now: datetime.datetime, phrases: Phrases | None = None) -> tuple[list[Message], Found]:
        """The unsaved outbox rows, one per recipient and channel, with the pupil-details
        check applied, and what that check found. Raises ValueError as notify() does.
        `phrases`: the school's pupil phrases, when the caller has just read them."""
        kind, subject, body, link, school = self.kind, self.subject, self.body, self.link, self.school
        if not self.idempotency_key or len(self.idempotency_key) > KEY_MAX:
            raise ValueError(f"notify(): idempotency_key must be 1 to {KEY_MAX} characters, got {self.idempotency_key!r}.")
        if not subject or len(subject) > SUBJECT_MAX:
            raise ValueError(f"notify(): subject must be 1 to {SUBJECT_MAX} characters (got {len(subject or '')}).")
        if not body or not body.strip():
            raise ValueError("notify(): body is empty; say what happened.")
        if not kind:
            raise ValueError("notify(): kind is required, e.g. 'alert.overdue'.")
        phrases = phrases if phrases is not None else _pupil_phrases(school)
        found = _found_in(phrases, {"subject": subject, "body": body, "link": link})
        outside = dict(subject=subject, body=body, link=link, reworded="")
        if found:
            safe_subject, safe_body = safe_wording(kind)
            safe_link = SAFE_LINK if any(field == "link" for field, _, _ in found) else link
            outside = dict(subject=safe_subject, body=safe_body, link=safe_link, reworded=_describe(found))
        spoken = self.spoken.strip()
        found_spoken = _found_in(phrases, {"call": spoken}) if spoken else []
        call = dict(outside, body=spoken)
        if found_spoken:
            call.update(body=safe_call_words(school), reworded=_describe(found_spoken))
            found = found + found_spoken
        alert_id = self.alert if isinstance(self.alert, int) or self.alert is None else self.alert.pk

        people: list[StaffMember] = []
        for staff in self.recipients:
            if staff.school_id != school.pk:
                raise ValueError(f"notify(): {staff} is on the staff of another school, not {school}.")
            if staff.active:
                people.append(staff)
        only = None if self.channels is None else set(self.channels)
        rows: list[Message] = []
        for staff in people:
            for channel, address in _channels_for(staff, ring=bool(spoken)):
                if only is not None and channel not in only:
                    continue
                fields: dict[str, Any] = dict(
                    idempotency_key=self.idempotency_key, recipient=staff, channel=channel, school=school, kind=kind,
                    alert_id=alert_id, to_address=address, created_at=now, next_attempt_at=now,
                )
                if channel == Channel.IN_APP:
                    # In-app delivery is the row itself: the board and the inbox read it. It
                    # stays in the school, so it keeps the caller's words.
                    fields.update(subject=subject, body=body, link=link,
                                  status=Message.Status.SENT, sent_at=now, provider="in_app")
                elif channel == Channel.VOICE:
                    fields.update(call, call_token=secrets.token_urlsafe(24))
                else:
                    fields.update(outside)
                rows.append(Message(**fields))
        return rows, found


def notify_new(notices: Sequence[Notice]) -> list[Message]:
    """notify() for many messages at once, in one INSERT, for keys nobody can have used yet
    (the first step of alerts created in the same transaction): a burst of missed deadlines
    tells hundreds of alerts a second this way. A key already used is a mistake of the caller:
    the unique constraint refuses it (IntegrityError) and nothing is written. Call it inside
    the caller's transaction, as notify()."""
    now = timezone.now()
    phrases = _pupil_phrases_of({notice.school.pk for notice in notices})
    prepared = [(notice, *notice.rows(now, phrases[notice.school.pk])) for notice in notices]
    rows = [m for _, made, _ in prepared for m in made]
    with transaction.atomic():
        bulk.insert_new(Message, rows)
        for notice, made, found in prepared:
            reworded = [m for m in made if m.reworded]
            if reworded:
                _report_reworded(notice.school, notice.kind, notice.idempotency_key, found, reworded)
    return rows


def _existing(idempotency_key: str, people: Iterable[StaffMember]) -> dict[tuple[int, str], Message]:
    rows = Message.objects.filter(idempotency_key=idempotency_key, recipient__in=[p.pk for p in people])
    return {(m.recipient_id, m.channel): m for m in rows}


# ----------------------------------------------------------------------------- in-app inbox

def inbox(staff: StaffMember, *, unread_only: bool = False) -> QuerySet[Message]:
    """The person's in-app messages, newest first."""
    messages = Message.objects.in_app_for(staff)
    return messages.filter(read_at__isnull=True) if unread_only else messages


def unread_count(staff: StaffMember) -> int:
    return Message.objects.in_app_for(staff).filter(read_at__isnull=True).count()


def settle(school: School, *, kind: str, link: str) -> int:
    """The in-app messages asking for something now done (a letter approved and sent) marked
    read for everyone they went to: left unread, they go on asking. The caller's audit entry
    records the count. Returns how many changed."""
    return Message.objects.filter(school=school, channel=Channel.IN_APP, kind=kind, link=link,
                                  read_at__isnull=True).update(read_at=timezone.now())


def read_about(staff: StaffMember, link: str) -> int:
    """This person's unread in-app messages pointing at `link` marked read: they have opened what
    the message announced (a concern), so it no longer asks them to. Only their own rows; the
    caller's audit entry records the count. Returns how many changed."""
    return Message.objects.in_app_for(staff).filter(link=link, read_at__isnull=True).update(read_at=timezone.now())


def mark_read(staff: StaffMember, message: Message | None = None) -> int:
    """Mark one of the person's own in-app messages read (or all of them, with no message).
    Nobody can mark someone else's message read: the row must be theirs. Returns how many
    changed; writes one audit entry if any did."""
    unread = Message.objects.in_app_for(staff).filter(read_at__isnull=True)
    if message is not None:
        if message.recipient_id != staff.pk or message.channel != Channel.IN_APP:
            raise PermissionError("You can only mark your own messages read.")
        unread = unread.filter(pk=message.pk)
    with transaction.atomic():
        changed = unread.update(read_at=timezone.now())
        if changed:
            record(
                actor=staff, school=staff.school, action=Action.MESSAGE_READ, obj=message or staff,
                summary=f"{staff.full_name} read {changed} message{'s' if changed != 1 else ''}",
            )
    return changed


# ----------------------------------------------------------------------------- for the office board

def failed_recent(school: School, *, hours: int = 24) -> QuerySet[Message]:
    """Messages of this school that Doorstep gave up on in the last `hours`: the board
    shows them so that nobody believes a text went out when it did not."""
    since = timezone.now() - datetime.timedelta(hours=hours)
    return (
        Message.objects.filter(school=school, status=Message.Status.FAILED, failed_at__gte=since)
        .select_related("recipient").order_by("-failed_at")
    )


DELAY_WARNING_SECONDS = 30  # a text or email normally goes within a second or two of being written


def delayed(school: School, *, seconds: int = DELAY_WARNING_SECONDS) -> QuerySet[Message]:
    """Texts and emails of this school still not sent `seconds` after they were written: a
    provider failing or refusing, or no worker running for that channel. The board names
    these people well inside a minute, long before DOORSTEP_DELIVERY_MAX_AGE gives up on
    them, so that the office phones them instead of believing a text went."""
    since = timezone.now() - datetime.timedelta(seconds=seconds)
    return (
        Message.objects.filter(school=school, status=Message.Status.PENDING, created_at__lte=since)
        .exclude(channel=Channel.IN_APP).select_related("recipient").order_by("created_at", "id")
    )


def reworded_recent(school: School, *, hours: int = 24) -> QuerySet[Message]:
    """Texts and emails of this school that went out in the fixed wording in the last
    `hours` because the caller's words read as a pupil's details (notify())."""
    since = timezone.now() - datetime.timedelta(hours=hours)
    return (
        Message.objects.filter(school=school, created_at__gte=since).exclude(reworded="")
        .exclude(channel=Channel.IN_APP).select_related("recipient").order_by("-created_at", "-id")
    )


def pending_count(school: School) -> int:
    return Message.objects.filter(school=school, status=Message.Status.PENDING).count()


def messages_for_alert(alert_id: int) -> QuerySet[Message]:
    return Message.objects.filter(alert_id=alert_id).select_related("recipient").order_by("created_at", "id")


def last_delivery_run() -> datetime.datetime | None:
    """When a delivery worker last went round its loop (None if one never has)."""
    last: datetime.datetime | None = DeliveryHeartbeat.objects.aggregate(last=Max("last_run"))["last"]
    return last


def delivery_is_stale(seconds: int = 30) -> bool:
    """True when no delivery worker has run for `seconds`: email and SMS are not going out."""
    return delivery_stale_after(last_delivery_run(), seconds)


def delivery_stale_after(last: datetime.datetime | None, seconds: int = 30) -> bool:
    """delivery_is_stale() for a last run the caller has just read (last_delivery_run())."""
    return last is None or timezone.now() - last > datetime.timedelta(seconds=seconds)


# ----------------------------------------------------------------------------- phone calls

def call_by_token(token: str) -> Message | None:
    """The phone-call row whose call-back address carries this token (hooks/voice.py), or None."""
    if not token:
        return None
    return (Message.objects.filter(channel=Channel.VOICE, call_token=token)
            .select_related("recipient", "school").first())


def cancel_calls(alert_id: int) -> int:
    """Calls of this alert not yet placed are not needed once someone has taken the alert on:
    marked cancelled (not failed: nothing went wrong), so nobody else's phone rings for it.
    A call a worker is placing at this moment is left to finish. Call it inside the
    transaction that takes the alert on. Returns how many were cancelled."""
    now = timezone.now()
    return (Message.objects.filter(alert_id=alert_id, channel=Channel.VOICE, status=Message.Status.PENDING)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
            .update(status=Message.Status.CANCELLED, last_error="The alert was taken on before this call was placed.",
                    lease_token=None, lease_expires_at=None))
