"""Readiness and test alarms: what the readiness panel shows, the provider checks behind its
"Check now" button and the daily job, and the drill (a test alarm run through the whole path:
the office board sounds, the person testing gets a text and an email).

A drill is never an alert. It is a Drill row, not an Alert: it raises nothing in the
watchdog's ladder, appears in no alert count, review, report or audit search of alerts, and
its messages (kind "drill") carry no alert id. The office board shows it in a banner of its
own (safety.board.board_context calls open_drills()).

Every change here (starting and ending a drill, Doorstep ending one nobody ended, a check
someone asked for) checks the role, writes the audit trail in the same transaction and is
safe when two people press the button at once: a school has at most one drill open (a
unique constraint), and ending one is a conditional UPDATE, so two presses end it once."""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed
from core.text import and_list
from notify.models import Channel, DeliveryHeartbeat, Message
from notify.providers import SMS_PROVIDERS
from notify.services import delivery_is_stale, last_delivery_run, notify
from people.models import StaffMember
from people.permissions import HELPERS, VISITORS, can
from safety import live
from safety.watchdog import last_heartbeat, watchdog_is_stale
from schools.models import School

from .models import Drill, ProviderCheck
from .probes import NAMES, ProbeResult, probes_to_run, run_probes, sends_email_by_smtp

log = logging.getLogger("doorstep.readiness")

# A drill nobody ends stops sounding on the board after this long, and is recorded as ended
# without an acknowledgement: the board must not train the office to ignore its alarm.
DRILL_SOUNDS_FOR = datetime.timedelta(minutes=30)
CHECKS_KEPT = datetime.timedelta(days=90)
# The daily job checks once a day; a last check older than this means it has stopped.
CHECK_STALE_AFTER = datetime.timedelta(hours=26)
# Below this much Twilio credit (in the account's currency) the panel warns.
LOW_CREDIT = Decimal("10")
# Delivery workers not heard from for this long are gone, not stopped: not listed.
WORKER_FORGOTTEN_AFTER = datetime.timedelta(days=7)
DELIVERY_STALE_SECONDS = 30

ROLES_WORDS = "the headteacher, the deputy, the DSL, the business manager or the office"


# ----------------------------------------------------------------------------- times in words

def said_when(moment: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """'today at 10:42', 'yesterday at 16:05', 'Monday at 09:00', '3 Nov 2026 at 10:42'."""
    now = now or timezone.now()
    local = timezone.localtime(moment)
    days = (timezone.localtime(now).date() - local.date()).days
    clock = f"{local:%H:%M}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"yesterday at {clock}"
    if 1 < days < 7:
        return f"{local:%A} at {clock}"
    return f"{local.day} {local:%b %Y} at {clock}"


def said_ago(moment: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """'4 seconds ago', '3 minutes ago', '2 hours ago (today at 08:40)', or said_when()."""
    now = now or timezone.now()
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return said_when(moment, now)
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds} seconds ago"
    if seconds < 3600:
        minutes = seconds // 60
        return f"{minutes} minute{'' if minutes == 1 else 's'} ago"
    if seconds < 6 * 3600:
        hours = seconds // 3600
        return f"{hours} hour{'' if hours == 1 else 's'} ago ({said_when(moment, now)})"
    return said_when(moment, now)


def said_duration(delta: datetime.timedelta) -> str:
    """'42 seconds', '3 minutes 5 seconds', '1 hour 2 minutes'."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        rest = f" {seconds} second{'' if seconds == 1 else 's'}" if seconds else ""
        return f"{minutes} minute{'' if minutes == 1 else 's'}{rest}"
    hours, minutes = divmod(minutes, 60)
    rest = f" {minutes} minute{'' if minutes == 1 else 's'}" if minutes else ""
    return f"{hours} hour{'' if hours == 1 else 's'}{rest}"


# ----------------------------------------------------------------------------- drills

def _refuse_unless_allowed(staff: StaffMember, drill: Drill | None = None) -> None:
    if not can(staff, "readiness.drill", drill):
        raise NotAllowed(f"Only {ROLES_WORDS} can run or end a test alarm at this school.")


def end_lapsed_drills(now: datetime.datetime | None = None, school_id: int | None = None) -> int:
    """End the drills nobody ended within DRILL_SOUNDS_FOR, as ended then and not
    acknowledged (the readiness panel says so). Returns how many."""
    now = now or timezone.now()
    lapsed = Drill.objects.filter(ended_at__isnull=True, started_at__lte=now - DRILL_SOUNDS_FOR)
    if school_id is not None:
        lapsed = lapsed.filter(school_id=school_id)
    ended = 0
    for drill in lapsed.select_related("started_by"):
        with transaction.atomic():
            ends_at = drill.started_at + DRILL_SOUNDS_FOR
            if not Drill.objects.filter(pk=drill.pk, ended_at__isnull=True).update(ended_at=ends_at):
                continue  # someone ended it meanwhile
            record(actor=None, school=drill.school, action=Action.DRILL_LAPSED, obj=drill,
                   summary=f"Nobody ended the test alarm {drill.started_by.full_name} started "
                           f"{said_when(drill.started_at, now)}; it stopped sounding after "
                           f"{said_duration(DRILL_SOUNDS_FOR)}")
            live.changed(drill.school_id)
            ended += 1
    return ended


def start_drill(staff: StaffMember, *, request: HttpRequest | None = None,
                now: datetime.datetime | None = None) -> Drill:
    """Start a test alarm at the person's school: the board sounds it, and the person (only)
    gets a text and an email saying it is a TEST. Refuses (NotAllowed) someone whose role may
    not, or a second drill while one is open."""
    _refuse_unless_allowed(staff)
    now = now or timezone.now()
    end_lapsed_drills(now, school_id=staff.school_id)
    school = staff.school
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a twin started at the same moment must not spoil ours
                drill = Drill.objects.create(school=school, started_by=staff, started_at=now)
        except IntegrityError:
            raise NotAllowed("A test alarm is already running at this school: end it on the office board "
                             "before starting another.") from None
        at = f"{timezone.localtime(now):%H:%M}"
        notify(
            [staff], kind="drill", school=school, idempotency_key=drill.idempotency_key,
            subject="TEST ALARM: this is a drill",
            body=f"This is a TEST of Doorstep's alarm, started by {staff.full_name} at {at}. Nobody is in danger. "
                 "The office board is sounding the test alarm: end the test there.",
            link=reverse("alerts:board"),
        )
        record(actor=staff, school=school, action=Action.DRILL_STARTED, obj=drill,
               summary=f"{staff.full_name} started a test alarm at {at} (a drill, not a real alert)",
               request=request)
        live.changed(school.pk)  # open boards look again at commit (safety/live.py)
    log.info("Test alarm %s started at school %s by staff %s", drill.pk, school.pk, staff.pk)
    return drill


def end_drill(drill: Drill, *, by: StaffMember, request: HttpRequest | None = None,
              now: datetime.datetime | None = None) -> bool:
    """'End the test': record who acknowledged the drill and when. True if this call ended
    it; False if it had already ended (someone else pressed first): nothing is changed then."""
    _refuse_unless_allowed(by, drill)
    now = now or timezone.now()
    with transaction.atomic():
        changed = Drill.objects.filter(pk=drill.pk, ended_at__isnull=True).update(
            acknowledged_by=by, acknowledged_at=now, ended_at=now)
        if changed:
            took = said_duration(now - drill.started_at)
            record(actor=by, school=drill.school, action=Action.DRILL_ENDED, obj=drill,
                   summary=f"{by.full_name} ended the test alarm {took} after it started", request=request)
            live.changed(drill.school_id)
    drill.refresh_from_db()
    return bool(changed)


def open_drills(school_ids: list[int], now: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """The drills the office board sounds: open, and started within DRILL_SOUNDS_FOR."""
    now = now or timezone.now()
    drills = (Drill.objects.filter(school__in=school_ids, ended_at__isnull=True,
                                   started_at__gt=now - DRILL_SOUNDS_FOR)
              .select_related("started_by", "school").order_by("started_at"))
    return [{"id": d.pk, "school_id": d.school_id, "school_name": d.school.name,
             "started_by": d.started_by.full_name, "started_at": d.started_at} for d in drills]


CHANNEL_WORDS = {Channel.SMS: "The text", Channel.EMAIL: "The email"}
PROVIDER_WORDS = {"twilio": "Twilio", "notify": "GOV.UK Notify", "console": "the log (no text provider is set up)"}


def _message_words(message: Message, now: datetime.datetime) -> tuple[bool, str]:
    what = CHANNEL_WORDS.get(Channel(message.channel), "The message")
    if message.status == Message.Status.SENT:
        if message.channel == Channel.SMS:
            via = PROVIDER_WORDS.get(message.provider, message.provider)
            if message.provider == "console":
                return False, f"{what} only went to {via}, {said_when(message.sent_at or now, now)}."
            return True, f"{what} reached {via} {said_when(message.sent_at or now, now)}."
        if not sends_email_by_smtp():
            return False, f"{what} only went to the log (no mail server is set up)."
        return True, f"{what} reached the mail server {said_when(message.sent_at or now, now)}."
    if message.status == Message.Status.FAILED:
        return False, f"{what} could not be sent: {message.last_error or 'Doorstep gave up on it'}."
    tries = f", tried {message.attempts} time{'' if message.attempts == 1 else 's'}" if message.attempts else ""
    error = f" ({message.last_error})" if message.last_error else ""
    return False, f"{what} has not gone yet{tries}{error}."


def drill_summary(drill: Drill, now: datetime.datetime | None = None) -> dict[str, Any]:
    """What the readiness panel says about one drill, in words."""
    now = now or timezone.now()
    lapsed = drill.ended_at is None and drill.started_at <= now - DRILL_SOUNDS_FOR
    open_ = drill.ended_at is None and not lapsed
    messages = list(Message.objects.filter(idempotency_key=drill.idempotency_key, recipient=drill.started_by_id)
                    .exclude(channel=Channel.IN_APP).order_by("channel"))
    lines = [_message_words(m, now) for m in messages]
    starter = drill.started_by
    if not any(m.channel == Channel.SMS for m in messages):
        lines.append((False, f"No text was sent: {starter.full_name} has no mobile on record."))
    if not any(m.channel == Channel.EMAIL for m in messages):
        lines.append((False, f"No email was sent: {starter.full_name} has no email address on record."))
    if drill.acknowledged_at is not None:
        answered = (f"Ended by {drill.acknowledged_by.full_name if drill.acknowledged_by else 'someone'} "
                    f"{said_duration(drill.acknowledged_at - drill.started_at)} after it started.")
    elif open_:
        answered = f"Still sounding on the office board ({said_duration(now - drill.started_at)} so far)."
    else:
        answered = (f"Nobody ended it: it stopped sounding on its own after {said_duration(DRILL_SOUNDS_FOR)}. "
                    "Check that the office board is open, with its sound on.")
    return {
        "id": drill.pk, "open": open_, "acknowledged": drill.acknowledged_at is not None,
        "started": said_when(drill.started_at, now), "started_at": drill.started_at,
        "started_by": starter.full_name, "answered": answered, "messages": lines,
        "reached": bool(messages) and all(ok for ok, _ in lines),
    }


# ----------------------------------------------------------------------------- provider checks

def run_checks(*, by: StaffMember | None = None, request: HttpRequest | None = None) -> list[ProviderCheck]:
    """Ask every provider this installation sends through whether it would take a message
    (safety/readiness/probes.py: side by side, short timeouts, one's outage never stops the
    others), and keep the answers. `by`: who pressed "Check now" (None: the daily job)."""
    results: list[ProbeResult] = run_probes(probes_to_run())
    now = timezone.now()
    rows = [ProviderCheck(provider=r.provider, ok=r.ok, detail=r.detail[:500], balance=r.balance,
                          currency=r.currency, checked_at=now, checked_by=by) for r in results]
    for r in results:
        if not r.ok:
            log.error("Provider check: %s is not ready: %s", r.provider, r.detail)
    with transaction.atomic():
        ProviderCheck.objects.bulk_create(rows)
        ProviderCheck.objects.filter(checked_at__lt=now - CHECKS_KEPT).delete()
        if by is not None:
            said = and_list(f"{NAMES[r.provider]} {'answered' if r.ok else 'did not'}" for r in results)
            record(actor=by, school=by.school, action=Action.PROVIDERS_CHECKED, obj=by.school,
                   summary=f"{by.full_name} checked the text and email services: {said or 'none is set up'}",
                   data={"results": [{"provider": r.provider, "ok": r.ok} for r in results]}, request=request)
    return rows


@dataclass
class SetupNote:
    ok: bool
    text: str


def setup_notes() -> list[SetupNote]:
    """How texts and emails are set up to leave Doorstep, said plainly; a note with ok=False
    is something that stops them reaching people."""
    notes = []
    listed = list(getattr(settings, "DOORSTEP_SMS_PROVIDERS", []))
    real = [n for n in listed if n in SMS_PROVIDERS and n != "console" and SMS_PROVIDERS[n].configured()]
    for name in listed:
        if name not in SMS_PROVIDERS:
            notes.append(SetupNote(False, f"“{name}” is named as a text provider, but Doorstep does not know it."))
        elif name != "console" and not SMS_PROVIDERS[name].configured():
            notes.append(SetupNote(False, f"{PROVIDER_WORDS[name]} is named as a text provider, but its account "
                                          "details are missing, so texts skip it."))
    if real:
        order = " then ".join(PROVIDER_WORDS[n] for n in real)
        notes.insert(0, SetupNote(True, f"Text messages go through {order}"
                                        f"{' (the second if the first fails)' if len(real) > 1 else ''}."))
    else:
        notes.insert(0, SetupNote(False, "Text messages only go to the log: no text provider is set up."))
    if sends_email_by_smtp():
        notes.append(SetupNote(True, f"Emails go through the mail server at {settings.EMAIL_HOST}:{settings.EMAIL_PORT}."))
    else:
        notes.append(SetupNote(False, "Emails only go to the log: no mail server is set up."))
    return notes


def _checker(check: ProviderCheck, school: School | None) -> str:
    """Who pressed "Check now": a name only to that person's own school (providers serve
    the whole installation, its staff do not)."""
    if check.checked_by is None:
        return "the daily check"
    if school is not None and check.checked_by.school_id != school.pk:
        return "someone at another school"
    return check.checked_by.full_name


def latest_checks(now: datetime.datetime | None = None, school: School | None = None) -> list[dict[str, Any]]:
    """The newest check of each provider this installation sends through, in words."""
    now = now or timezone.now()
    found = []
    for name in probes_to_run():
        check = ProviderCheck.objects.filter(provider=name).select_related("checked_by").first()
        entry: dict[str, Any] = {"provider": name, "name": NAMES[name], "check": check}
        if check is None:
            entry.update(ok=None, words="Not checked yet: press “Check now”.", when="", stale=False, low=False)
        else:
            entry.update(
                ok=check.ok, words=check.detail, when=said_ago(check.checked_at, now),
                by=_checker(check, school),
                stale=now - check.checked_at > CHECK_STALE_AFTER,
                low=check.balance is not None and check.balance < LOW_CREDIT,
                credit=f"{check.balance:,.2f} {check.currency}".strip() if check.balance is not None else "",
            )
        found.append(entry)
    return found


# ----------------------------------------------------------------------------- heartbeats and people

def _channel_of(worker: str) -> str:
    """A delivery worker's heartbeat name ends with its channel ('host:1234 sms'); one that
    sends every channel has none."""
    last = worker.rsplit(" ", 1)[-1]
    return {"sms": "Texts", "email": "Emails", "voice": "Phone calls"}.get(last, "Texts, emails and phone calls")


def heartbeats(now: datetime.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    beat = last_heartbeat()
    workers = []
    for hb in DeliveryHeartbeat.objects.filter(last_run__gte=now - WORKER_FORGOTTEN_AFTER).order_by("worker"):
        stale = (now - hb.last_run).total_seconds() > DELIVERY_STALE_SECONDS
        workers.append({"name": hb.worker, "channel": _channel_of(hb.worker), "stale": stale,
                        "when": said_ago(hb.last_run, now)})
    last_run = last_delivery_run()
    return {
        "watchdog": {"stale": watchdog_is_stale(now), "when": said_ago(beat, now) if beat else ""},
        "delivery": {"stale": delivery_is_stale(DELIVERY_STALE_SECONDS), "when": said_ago(last_run, now) if last_run else "",
                     "workers": workers},
    }


def _have(names: list[str]) -> str:
    return "has" if len(names) == 1 else "have"


def _get(names: list[str]) -> str:
    return "gets" if len(names) == 1 else "get"


def people_gaps(school: School | int) -> dict[str, Any]:
    """What would stop an alert reaching a person: visiting staff without their PINs (or a
    mobile the office can ring), and the people alerts go to without a mobile or an email."""
    staff = list(StaffMember.objects.filter(school=school, active=True).prefetch_related("roles").order_by("full_name"))
    visitors = [s for s in staff if s.has_role(*VISITORS)]
    helpers = [s for s in staff if s.has_role(*HELPERS)]
    no_pins = [s.full_name for s in visitors if not s.has_pins]
    unreachable = [s.full_name for s in visitors if not s.mobile]
    no_contact = [s.full_name for s in helpers if not s.mobile and not s.email]
    no_mobile = [s.full_name for s in helpers if not s.mobile and s.email]
    gaps: list[str] = []
    if no_pins:
        gaps.append(f"{and_list(no_pins)} {_have(no_pins)} not set their check-in PINs, so cannot give the duress "
                    "PIN on a visit.")
    if unreachable:
        gaps.append(f"{and_list(unreachable)} {_have(unreachable)} no mobile on record: the office cannot ring "
                    "them on a visit.")
    if no_contact:
        gaps.append(f"{and_list(no_contact)} {_get(no_contact)} alerts, but {_have(no_contact)} no mobile or email "
                    "on record: alerts reach them only when Doorstep is open.")
    if no_mobile:
        gaps.append(f"{and_list(no_mobile)} {_get(no_mobile)} alerts, but {_have(no_mobile)} no mobile on record: "
                    "no text reaches them.")
    return {
        "visitors": len(visitors), "with_pins": sum(1 for s in visitors if s.has_pins),
        "helpers": len(helpers), "helpers_with_mobile": sum(1 for s in helpers if s.mobile),
        "gaps": gaps,
    }


def readiness(school: School, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Everything the readiness panel shows for one school. Reads only stored answers: it
    never waits on a provider."""
    now = now or timezone.now()
    last = Drill.objects.filter(school=school).select_related("started_by", "acknowledged_by").first()
    checks = latest_checks(now, school)
    notes = setup_notes()
    beats = heartbeats(now)
    people = people_gaps(school)
    problems = (sum(1 for n in notes if not n.ok) + sum(1 for c in checks if c["ok"] is False or c.get("stale"))
                + int(beats["watchdog"]["stale"]) + int(beats["delivery"]["stale"]) + len(people["gaps"]))
    return {
        "now": now, "heartbeats": beats, "setup": notes, "checks": checks,
        "last_drill": drill_summary(last, now) if last else None, "people": people,
        "problems": problems, "checked_once": any(c["check"] for c in checks),
    }

