"""The office board's and the headteacher's alerts page's data (the pages are
safety/alerts/views.py). Nothing here changes state: the pages act through safety.alerting
and safety.recording.

Least privilege on the board. The board is often on a screen in a busy office, and the
office needs to know which visit is which and whom to call, not about the child:
- the pupil is shown as initials and year group ("A.B., Year 4"), enough to tell two
  visits apart on the phone with the staff; the full name is dropped from the rows before
  they reach the template. The address is on the police card, which is audited;
- nothing about safeguarding: no "any concerns?" answers, no concern text, no notes;
- staff names and mobiles are shown, because the office must call them.
"""
from __future__ import annotations

import datetime
import hashlib
import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.db.models import Min, Prefetch, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from notify import services as notify
from notify.models import Channel, Message
from people.access import staff_records
from people.models import StaffMember
from people.permissions import can
from safety.alerts.models import Alert
from safety.checkins.models import VisitEvent, Watch, WatchStaff
from safety.readiness.services import open_drills
from visits.models import Visit, VisitStaff

from .journey import raised_by
from .watchdog import heartbeat_is_stale, last_heartbeat, watchdog_is_stale

State = Visit.State

# A scheduled visit nobody has started joins the office board this long before its start or
# its first deadline, whichever is sooner: when the board would call its deadline "due soon".
UNSTARTED_SHOWN_BEFORE = datetime.timedelta(minutes=5)


def under_way(school_ids, now=None):
    """The watches the office board shows: every visit under way, and every scheduled visit
    nobody has started once it is due (or overdue, or in alarm). Scheduled visits days ahead
    are watched too, but are not on the board yet."""
    now = now or timezone.now()
    soon = now + UNSTARTED_SHOWN_BEFORE
    shown = (~Q(visit__state=State.SCHEDULED) | ~Q(status=Watch.Status.OK)
             | Q(visit__starts_at__lte=soon) | Q(due_at__lte=soon))
    return (Watch.objects.filter(school__in=school_ids).exclude(status=Watch.Status.SAFE).filter(shown)
            .select_related("visit", "visit__pupil"))


def _teams(school_ids, watch_ids: list[int] | None = None) -> dict[int, list[dict[str, Any]]]:
    """The people on each watch not yet safe (or on these watches), by watch id, from one query
    joined on the watch: not prefetch_related's list of every watch's id, which grows with the
    visits (on SQLite, 2,000 visits made it "Expression tree is too large"). Plain values, not
    model instances: with 1,000 visits under way, building 4,000 instances was most of the
    board's time."""
    teams: dict[int, list[dict[str, Any]]] = {}
    of = WatchStaff.objects.filter(watch__school__in=school_ids)
    of = of.exclude(watch__status=Watch.Status.SAFE) if watch_ids is None else of.filter(watch_id__in=watch_ids)
    people = of.order_by("pk").values_list("watch_id", "staff_id", "staff__full_name", "staff__mobile",
                                           "left_home_at", "back_safe_at")
    for watch_id, staff_id, name, mobile, left_home_at, back_safe_at in people:
        teams.setdefault(watch_id, []).append({"id": staff_id, "name": name, "mobile": mobile,
                                               "left_home_at": left_home_at, "back_safe_at": back_safe_at})
    return teams


BOARD_COLUMNS = ("pk", "status", "next_kind", "what", "due_at", "alert_at", "clause", "outcome", "last_check_in_at",
                 "last_location", "visit_id", "visit__school_id", "visit__state", "visit__starts_at", "visit__ends_at",
                 "visit__pupil__first_name", "visit__pupil__last_name", "visit__pupil__year_group")
URGENCY = {Watch.Status.ALARM: 0, Watch.Status.OVERDUE: 1}
DUE_SOON = datetime.timedelta(minutes=5)


def board(school_ids, now=None) -> dict:
    """Every visit under way at these schools, most urgent first: alarm, overdue, due soon, fine;
    and whether the watchdog is running (the JSON API's board)."""
    now = now or timezone.now()
    last = last_heartbeat()
    return {"now": now, "watchdog": {"last_beat_at": last, "stale": heartbeat_is_stale(last, now)},
            "visits": _rows(school_ids, now)}


def _rows(school_ids, now: datetime.datetime, stamp: BoardStamp | None = None) -> list[dict[str, Any]]:
    """board()'s visits: one row each, most urgent first. With the stamp read just before, a
    watch whose own stamps have not moved since this process last read it is not read again
    (_watches)."""
    alerts_by_visit: dict[int, list[Alert]] = {}
    open_alerts = list(Alert.objects.filter(school__in=school_ids).exclude(state=Alert.State.RESOLVED)
                       .select_related("owner", "event__staff", "event__recorded_by").order_by("raised_at"))
    Alert.keep_contact_events(open_alerts)
    for alert in open_alerts:
        alerts_by_visit.setdefault(alert.visit_id, []).append(alert)
    rows = []
    for watch, team, digest in _watches(school_ids, now, stamp):
        status, due_at = watch["status"], watch["due_at"]
        if status in URGENCY:
            urgency, rank = status, URGENCY[status]
        elif due_at is not None and due_at - now <= DUE_SOON:
            urgency, rank = "due_soon", 2
        else:
            urgency, rank = "fine", 3
        action = ""
        if watch["next_kind"] == "office_call_due" and due_at is not None and due_at <= now + DUE_SOON and team:
            lead = team[0]
            action = f"Call {lead['name']} now on {lead['mobile'] or 'their mobile'}"
        visit_id = watch["visit_id"]
        rows.append({
            # Initials and year only, as on the board page: enough to tell two visits apart
            # (the module docstring says why the office needs no more here).
            "visit_id": visit_id, "school_id": watch["visit__school_id"], "visit_state": watch["visit__state"],
            "pupil": pupil_label(watch["visit__pupil__first_name"], watch["visit__pupil__last_name"],
                                 watch["visit__pupil__year_group"]),
            "starts_at": watch["visit__starts_at"], "ends_at": watch["visit__ends_at"], "status": status,
            "urgency": urgency, "next_kind": watch["next_kind"] or None, "what": watch["what"], "due_at": due_at,
            "alert_at": watch["alert_at"], "clause": watch["clause"], "outcome": watch["outcome"] or None,
            "action": action, "last_check_in_at": watch["last_check_in_at"], "last_location": watch["last_location"],
            "staff": team,
            "alerts": [_alert_row(a) for a in alerts_by_visit.get(visit_id, [])],
            "_rank": (rank, due_at or watch["visit__ends_at"]),
            **({"_read": digest} if digest else {}),
        })
    rows.sort(key=lambda r: r.pop("_rank"))
    return rows


@dataclass
class _Kept:
    """A watch's row as read (its columns and its team), under the stamps it was read with."""

    key: tuple[list[str], str]
    read_at: datetime.datetime
    watch: dict[str, Any]
    team: list[dict[str, Any]]
    digest: str  # of the watch and the team: board_context's row_key starts from it


# Watches read by this process, by id (the most recent KEEP): with 1,000 visits under way, one
# check-in changes one row, and reading the other 999 again was half the time of the list.
KEEP = 5000
_kept: OrderedDict[int, _Kept] = OrderedDict()
_kept_lock = threading.Lock()
# Past this many rows to read, one query for the whole board beats a list of ids (and keeps
# SQLite's statements short).
READ_ALL_FROM = 200


def forget_kept_rows() -> None:
    """Drop every row kept by _watches. For a database whose ids are used again for other rows
    (a test rolled back, a copy restored under a running process): the stamps alone would
    still tell them apart to the microsecond, but not under a test's frozen clock."""
    with _kept_lock:
        _kept.clear()


Read = tuple[dict[str, Any], list[dict[str, Any]], str]


def _watches(school_ids, now: datetime.datetime, stamp: BoardStamp | None) -> list[Read]:
    """The board's watches (under_way()), each with its team, as plain values: only the columns
    the board shows (with 1,000 visits, building model instances was most of its time).

    With `stamp` (board_stamp(), read just before): a watch kept from an earlier read is used
    again while its key (the watch's, its visit's and its pupil's change stamps, and a digest
    of its school's staff: BoardStamp.watches) is the one it was read under, and for at most STAMP_TRUSTED_FOR, the same
    backstop as the list's own tag. The stamps are read before the rows, so a row changed in
    between is kept under its old stamps and read again next time: never the other way round.
    A watch's alerts are never kept (_rows reads them every time). Each comes with a digest of
    the watch and its team (with a stamp; "" without)."""
    shown = under_way(school_ids, now)
    if stamp is None:
        teams = _teams(school_ids)
        return [(w, teams.get(w["pk"], []), "") for w in shown.values(*BOARD_COLUMNS)]
    found: dict[int, Read] = {}
    ids = list(shown.values_list("pk", flat=True))
    missing = []
    with _kept_lock:
        for pk in ids:
            kept = _kept.get(pk)
            if (kept is not None and pk in stamp.watches and kept.key == stamp.watches[pk]
                    and kept.read_at <= now < kept.read_at + STAMP_TRUSTED_FOR):
                found[pk] = (kept.watch, kept.team, kept.digest)
                _kept.move_to_end(pk)
            else:
                missing.append(pk)
    if missing:
        read_all = len(missing) > READ_ALL_FROM
        teams = _teams(school_ids) if read_all else _teams(school_ids, missing)
        fresh = (shown if read_all else Watch.objects.filter(pk__in=missing)).values(*BOARD_COLUMNS)
        pairs = [(w, teams.get(w["pk"], [])) for w in fresh]
        with _kept_lock:
            for watch, team in pairs:
                pk = watch["pk"]
                digest = _digest((watch, team))
                found[pk] = (watch, team, digest)
                if pk in stamp.watches:  # not one begun since the stamp was read: it has no stamps yet
                    _kept[pk] = _Kept(stamp.watches[pk], now, watch, team, digest)
                    _kept.move_to_end(pk)
            while len(_kept) > KEEP:
                _kept.popitem(last=False)
    # A watch that left the board between the two reads is not drawn (as it was not before).
    return [found[pk] for pk in ids if pk in found]


def _alert_row(alert):
    event = alert.event
    return {"id": alert.pk, "kind": alert.kind, "state": alert.state, "raised_at": alert.raised_at,
            "raised_by": raised_by(alert.kind, event.staff.full_name if event and event.staff is not None else None,
                                   event.recorded_by.full_name if event else None),
            "step": alert.step, "steps": len(alert.ladder), "step_due_at": alert.step_due_at,
            "red": alert.is_red, "owner": alert.owner.full_name if alert.owner_id else None,
            "contact_at": alert.contact_at, "contact": alert.contact_words, "missed": alert.missed or None}


URGENCY_LABELS = {"alarm": "Alarm", "overdue": "Overdue", "due_soon": "Due soon", "fine": "Fine"}
# The row's values that follow from its watch, visit, pupil and team alone (as read by
# _watches), never from the time, its alerts or the school: the rest are digested as they are.
FROM_THE_WATCH = frozenset({
    "visit_id", "school_id", "visit_state", "starts_at", "ends_at", "status", "next_kind", "what", "due_at",
    "alert_at", "clause", "outcome", "last_check_in_at", "last_location", "staff", "pupil_label", "not_started"})
KIND_LABELS = dict(Alert.Kind.choices)
REVIEW_DAYS = 30


def board_staff(user, action="board.view"):
    """The user's staff records (one per school) allowed `action`."""
    return [s for s in staff_records(user) if can(s, action)]


def staff_at(user, school_id, action):
    """The user's staff record at this school if it may do `action`, else None."""
    for s in board_staff(user, action):
        if s.school_id == school_id:
            return s
    return None


def pupil_label(first_name, last_name, year_group):
    initials = "".join(f"{p[0].upper()}." for p in (first_name, last_name) if p)
    year = {"N": "Nursery", "R": "Reception"}.get(year_group, f"Year {year_group}")
    return f"{initials}, {year}"


def board_context(staff_list, now=None, stamp: BoardStamp | None = None) -> dict:
    """The board for these staff records' schools: rows most urgent first, the newest open
    alert (for the sound), and the loud warnings (watchdog stopped, messages not going out),
    as read with `stamp` (board_stamp(), read first when not given). `fresh_until` is the
    first moment time alone would change what the list shows."""
    now = now or timezone.now()
    if stamp is None:
        stamp = board_stamp(staff_list, now)
    warnings = stamp.warnings
    rows = _rows([s.school_id for s in staff_list], now, stamp)
    schools = warnings["schools"]
    latest_open = 0
    unacknowledged = False
    for row in rows:
        # Initials and year only (board() made the label; least privilege: the module docstring).
        row["pupil_label"] = row.pop("pupil", "")
        # A scheduled visit nobody has started is on the board once it is due (under_way()).
        row["not_started"] = row["visit_state"] == Visit.State.SCHEDULED
        row["school_name"] = schools[row["school_id"]].name if row["school_id"] in schools else ""
        row["urgency_label"] = URGENCY_LABELS.get(row["urgency"], row["urgency"])
        # Past its time but inside the grace before the alert, a check-in is late, not "due soon"
        # (the row's own countdown says "2:10 min late" beside the label).
        if row["urgency"] == "due_soon" and row["due_at"] is not None and row["due_at"] <= now:
            row["urgency_label"] = "Late"
        row["call_now"] = row["staff"][0] if row["action"] and row["staff"] else None
        # Only where it is shown (a visit not started): every value in the row is in its digest,
        # and a start time passing on a visit under way changes nothing on screen.
        row["starts_later"] = row["not_started"] and row["starts_at"] > now
        for alert in row["alerts"]:
            alert["label"] = KIND_LABELS.get(alert["kind"], alert["kind"])
            latest_open = max(latest_open, alert["id"])
            if alert["state"] == Alert.State.OPEN and alert["contact_at"] is None:
                unacknowledged = True
    for row in rows:
        # What the row's HTML is kept under (alerts/templatetags/board_rows.py): a digest of
        # every value it shows, so a row is rendered again as soon as anything in it changes.
        # The values taken from the watch and its team alone are in the digest _watches made
        # of those as read (pickling each whole row was a tenth of the list's time).
        watch_digest = row.pop("_read", "")
        row["row_key"] = _digest((watch_digest, {k: v for k, v in row.items() if k not in FROM_THE_WATCH})
                                 if watch_digest else row)
    # Everything the list of visits shows but the clock ("Updated at"), in one digest: the
    # page sends it back (If-None-Match) and an unchanged board is answered "304 Not Modified",
    # with nothing drawn and nothing sent.
    version = _digest(([row["row_key"] for row in rows], latest_open, unacknowledged, warnings["version"]))
    return {
        "now": now,
        "rows": rows,
        "counts": {key: sum(1 for r in rows if r["urgency"] == key) for key in URGENCY_LABELS},
        "latest_alert_id": latest_open,
        "unacknowledged": unacknowledged,
        **{key: value for key, value in warnings.items() if key != "version"},
        "version": version,
        "fresh_until": _fresh_until(rows, stamp.joins, now),
    }


# However long the rows' times say the list stays the same, an unchanged board's cheap answer
# (board_stamp) is trusted for at most this long before the list is read and drawn again.
STAMP_TRUSTED_FOR = datetime.timedelta(minutes=5)


def _fresh_until(rows: list[dict[str, Any]], joins: datetime.datetime | None,
                 now: datetime.datetime) -> datetime.datetime:
    """The first moment after `now` at which time alone changes the list: a deadline coming
    within DUE_SOON (the row turns "due soon", and an office call "call now") or passing (it
    turns "late"), a visit not started reaching its start time, or a scheduled visit joining
    the board (`joins`: _next_to_join()). Every comparison with `now` in _rows() and
    board_context() has its moment here."""
    moments = [now + STAMP_TRUSTED_FOR]
    for row in rows:
        if row["due_at"] is not None:
            moments.extend(t for t in (row["due_at"] - DUE_SOON, row["due_at"]) if t > now)
        if row["starts_later"]:
            moments.append(row["starts_at"])
    if joins is not None:
        moments.append(joins)
    return min(moments)


def _next_to_join(school_ids, now: datetime.datetime) -> datetime.datetime | None:
    """When the next scheduled visit not yet on the board joins it (under_way()'s rule, so
    always after `now`), or None."""
    soon = now + UNSTARTED_SHOWN_BEFORE
    first = (Watch.objects.filter(school__in=school_ids, visit__state=State.SCHEDULED, status=Watch.Status.OK,
                                  visit__starts_at__gt=soon)
             .filter(Q(due_at__isnull=True) | Q(due_at__gt=soon))
             .aggregate(starts=Min("visit__starts_at"), due=Min("due_at")))
    times = [t - UNSTARTED_SHOWN_BEFORE for t in (first["starts"], first["due"]) if t is not None]
    return min(times) if times else None


def _warnings(staff_list, now: datetime.datetime) -> dict[str, Any]:
    """What the board says above its rows: the watchdog or the delivery worker stopped, texts
    and emails delayed, reworded or failed, test alarms sounding; with `version`, a digest of
    all of it as shown (a heartbeat's time only counts while it is shown, stale). Small
    queries whose size follows the messages, never the visits under way."""
    school_ids = [s.school_id for s in staff_list]
    schools = {s.school_id: s.school for s in staff_list}
    failed: list[Message] = []
    delayed: list[Message] = []
    reworded: list[Message] = []
    for school in schools.values():
        failed.extend(notify.failed_recent(school)[:20])
        delayed.extend(notify.delayed(school)[:50])
        reworded.extend(notify.reworded_recent(school)[:50])
    last_delivery = notify.last_delivery_run()
    delivery_stale = notify.delivery_stale_after(last_delivery)
    drills = open_drills(school_ids, now)
    delayed_groups = _delayed_by_channel(delayed)
    reworded_lines = _reworded_by_message(reworded)
    last_beat = last_heartbeat()
    stale = heartbeat_is_stale(last_beat, now)
    multi_school = len(schools) > 1
    version = _digest((
        multi_school, sorted((pk, school.name) for pk, school in schools.items()) if multi_school else None,
        stale, (last_beat, timezone.localdate(now)) if stale else None,
        delivery_stale, last_delivery if delivery_stale else None, delayed_groups, reworded_lines,
        [(m.pk, m.failed_at, m.subject, m.channel, m.recipient.full_name) for m in failed], drills))
    return {
        "watchdog": {"last_beat_at": last_beat, "stale": stale},
        "failed_messages": failed,
        "delayed": delayed_groups,
        "reworded": reworded_lines,
        "delivery_stale": delivery_stale,
        "last_delivery": last_delivery,
        "multi_school": multi_school,
        "schools": schools,
        # Test alarms sounding (alerts/_drills.html): never alerts, never in the counts above.
        "drills": drills,
        "version": version,
    }


@dataclass(frozen=True)
class BoardStamp:
    """board_stamp()'s answer: the digest, and what it read that the board itself draws (the
    warnings above the rows, when the next scheduled visit joins), so neither is read twice;
    and each watch's key, its own stamps and a digest of its school's staff, by which a row
    read before is used again (_watches)."""

    digest: str
    warnings: dict[str, Any]
    joins: datetime.datetime | None
    watches: dict[int, tuple[list[str], str]]


def board_stamp(staff_list, now=None) -> BoardStamp:
    """A digest of everything the list of visits is drawn from, read cheaply: each watch not
    yet safe with its visit's and pupil's change stamps (a check-in, an alert raised, a
    deadline or a check-out rewrites the watch; an edit to the visit, its team or the pupil
    stamps those: core.stamps); the open alerts' state, step, owner and word from the staff;
    the schools' staff with their change stamps (names and mobiles, also of whoever raised
    or took on an alert); the next scheduled visit to join; and the warnings above the rows.
    Equal stamps, and a moment before the list's
    `fresh_until`: the same list. Read it before the board itself, so that a change made in
    between makes the next stamp differ.

    Each row's own value, never a table's newest: a transaction that took its time or id
    before another but commits after it leaves the newest unchanged, and its change would go
    unseen (safety.live's wake-up stamp can afford that, as the list is read whenever it moves;
    a 304 cannot). The rows are read as a few plain columns, not built into the board's rows."""
    now = now or timezone.now()
    school_ids = [s.school_id for s in staff_list]
    warnings = _warnings(staff_list, now)
    joins = _next_to_join(school_ids, now)
    # The stamps as the database writes them (text): compared, never shown, so not worth
    # making into times (that was most of this read with a thousand visits under way).
    watches = list(Watch.objects.filter(school__in=school_ids).exclude(status=Watch.Status.SAFE).order_by("pk")
                   .values_list("pk", "school_id", _text("updated_at"), _text("visit__updated_at"),
                                _text("visit__pupil__updated_at")))
    people: dict[int, list[tuple[int, str]]] = {}
    for pk, school_id, stamped in (StaffMember.objects.filter(school__in=school_ids).order_by("pk")
                                   .values_list("pk", "school_id", _text("updated_at"))):
        people.setdefault(school_id, []).append((pk, stamped))
    staff = {school_id: _digest(stamps) for school_id, stamps in people.items()}
    shown = (
        watches,
        list(Alert.objects.filter(school__in=school_ids).exclude(state=Alert.State.RESOLVED).order_by("pk")
             .values_list("pk", "state", "step", "step_due_at", "owner_id", "acknowledged_at", "contact_at")),
        sorted(staff.items()),
        joins,
        warnings["version"],
    )
    # Each watch's key for the rows kept (_watches): its own stamps and its school's staff.
    keys = {pk: (stamps, staff.get(school_id, "")) for pk, school_id, *stamps in watches}
    return BoardStamp(_digest(shown), warnings, joins, keys)


def _text(field: str) -> Cast:
    return Cast(field, output_field=TextField())


def _digest(value: Any) -> str:
    """A short digest of plain data (dicts, lists, strings, numbers, times). Pickled, not
    repr()'d: twice as fast, and the board digests every row on every fetch. Equal data built
    the same way gives equal bytes; the rare miss only means a row is drawn again."""
    return hashlib.blake2b(pickle.dumps(value, protocol=5), digest_size=16).hexdigest()


def _delayed_by_channel(messages) -> list[dict]:
    """Texts, emails and the ladder's phone calls not made within half a minute, by channel,
    for the board's warning: whom to phone (once per person), since when, and how many tries."""
    groups = []
    for channel, label in ((Channel.SMS, "Texts"), (Channel.VOICE, "Phone calls"), (Channel.EMAIL, "Emails")):
        waiting = [m for m in messages if m.channel == channel]
        if not waiting:
            continue
        people: dict[int, dict[str, Any]] = {}
        for m in waiting:
            people.setdefault(m.recipient_id, {"name": m.recipient.full_name, "mobile": m.recipient.mobile,
                                               "since": m.created_at, "tries": 0, "count": 0})
            person = people[m.recipient_id]
            person["tries"] = max(person["tries"], m.attempts)
            person["count"] += 1
        groups.append({"channel": channel, "label": label, "since": min(m.created_at for m in waiting),
                       "count": len(waiting), "people": list(people.values()),
                       "tried": any(m.attempts for m in waiting)})
    return groups


def _reworded_by_message(messages) -> list[dict]:
    """Messages whose texts and emails went out in the fixed wording, one line per message
    (not per person): when, which kind, who got them. Never the original words: those may
    hold a pupil's name, and the board shows only initials."""
    by_key: dict[str, dict[str, Any]] = {}
    for m in messages:
        entry = by_key.setdefault(m.idempotency_key, {"at": m.created_at, "kind": _kind_label(m.kind), "people": []})
        if m.recipient.full_name not in entry["people"]:
            entry["people"].append(m.recipient.full_name)
    return list(by_key.values())


def _kind_label(kind: str) -> str:
    if kind.startswith("alert."):
        return f"{KIND_LABELS.get(kind.removeprefix('alert.'), 'Doorstep')} alert"
    return {"checkin.reminder": "Check-in reminder", "visit.abandoned": "Abandoned visit"}.get(kind, "Message")


def _with_team(alerts):
    """The alerts, each with .team: the staff on its visit, the lead first (as visit_staff)."""
    team = Prefetch("visit__assignments", queryset=VisitStaff.objects.select_related("staff").order_by("-lead", "id"))
    alerts = list(alerts.prefetch_related(team))
    Alert.keep_contact_events(alerts)
    for alert in alerts:
        alert.team = [a.staff for a in alert.visit.assignments.all()]
    return alerts


def review_context(staff, now=None) -> dict:
    """The headteacher's page: open alerts, recently closed ones with their reasons, and the
    written reasons visits were cancelled, abandoned or closed as not seen."""
    now = now or timezone.now()
    since = now - datetime.timedelta(days=REVIEW_DAYS)
    base = (Alert.objects.filter(school=staff.school_id)
            .select_related("visit", "visit__pupil", "owner", "resolved_by"))
    abandoned = (VisitEvent.objects.filter(school=staff.school_id, type=VisitEvent.Type.ABANDONED, at__gte=since)
                 .select_related("visit", "visit__pupil", "recorded_by").order_by("-at"))
    not_seen = (VisitEvent.objects.filter(school=staff.school_id, type=VisitEvent.Type.NOT_SEEN, at__gte=since)
                .select_related("visit", "visit__pupil", "recorded_by").order_by("-at"))
    cancelled = (Visit.objects.filter(school=staff.school_id, state=Visit.State.CANCELLED, updated_at__gte=since)
                 .select_related("pupil").order_by("-updated_at"))
    return {
        "open_alerts": _with_team(base.exclude(state=Alert.State.RESOLVED).order_by("raised_at")),
        "closed_alerts": base.filter(state=Alert.State.RESOLVED, resolved_at__gte=since).order_by("-resolved_at"),
        "abandoned": abandoned,
        "not_seen": not_seen,
        "cancelled": cancelled,
        "days": REVIEW_DAYS,
    }


def home_tile(staff) -> dict:
    """The home page's tile for the office and leaders: how many visits are under way, how
    many alerts are open, and whether the watchdog is running."""
    visits = under_way([staff.school_id])
    return {
        "under_way": visits.count(),
        "overdue": visits.exclude(status="ok").count(),
        "open_alerts": Alert.objects.filter(school=staff.school_id).exclude(state=Alert.State.RESOLVED).count(),
        "watchdog_stale": watchdog_is_stale(),
    }


def alarms(staff_list, now=None) -> dict:
    """The alarm strip at the top of the board, drawn before the long list of visits: every
    alert not yet resolved (who, what, since when, which step, who took it on), from two
    small queries whose size follows the open alerts, never the visits under way. An alert
    still open and with no word from the staff is `unacknowledged`: the page sounds the alarm
    while any is on screen."""
    now = now or timezone.now()
    school_ids = [s.school_id for s in staff_list]
    schools = {s.school_id: s.school for s in staff_list}
    open_alerts = Alert.objects.filter(school__in=school_ids).exclude(state=Alert.State.RESOLVED)
    teams: dict[int, list[Any]] = {}
    for assignment in (VisitStaff.objects.filter(visit__in=open_alerts.values("visit_id"))
                       .select_related("staff").order_by("-lead", "id")):
        teams.setdefault(assignment.visit_id, []).append(assignment.staff)
    rows = []
    alerts = list(open_alerts.select_related("visit__pupil", "owner", "event__staff", "event__recorded_by")
                  .order_by("raised_at"))
    Alert.keep_contact_events(alerts)
    for alert in alerts:
        pupil = alert.visit.pupil
        team = teams.get(alert.visit_id, [])
        rows.append({
            **_alert_row(alert), "label": KIND_LABELS.get(alert.kind, alert.kind), "visit_id": alert.visit_id,
            "pupil_label": pupil_label(pupil.first_name, pupil.last_name, pupil.year_group),
            "team": [{"name": p.full_name, "mobile": p.mobile} for p in team],
            "school_name": schools[alert.school_id].name if alert.school_id in schools else "",
            "unacknowledged": alert.state == Alert.State.OPEN and alert.contact_at is None,
        })
    return {"now": now, "alarms": rows, "alarm_count": sum(1 for r in rows if r["unacknowledged"]),
            "multi_school": len(schools) > 1}
