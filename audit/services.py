"""Writing the audit trail: who did what, when and why.

Everything that changes a visit (and anything else worth answering for later) calls
`record()` inside the same transaction as the change, so the trail and the data cannot
disagree: if the change rolls back, so does its entry."""
import json
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from core import bulk

from .actions import Action
from .models import AuditEntry


def _max_length(name: str) -> int:
    field = AuditEntry._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None, name
    return field.max_length


SUMMARY_LENGTH = _max_length("summary")
USER_AGENT_LENGTH = _max_length("user_agent")


def actor_of(actor) -> tuple[Any, str]:
    """(user, display name) for a StaffMember, a User or None (Doorstep itself)."""
    if actor is None:
        return None, "Doorstep"
    if isinstance(actor, get_user_model()):
        return actor, (actor.get_full_name() or actor.get_username())
    # A StaffMember: the person's name on the register is what a headteacher recognises.
    user = getattr(actor, "user", None)
    name = getattr(actor, "full_name", "") or (user.get_full_name() or user.get_username() if user else str(actor))
    return user, name


def _school_of(obj):
    if obj is None:
        return None
    # Known by its label rather than imported: schools sits above audit and writes to it.
    if isinstance(obj, models.Model) and obj._meta.label == "schools.School":
        return obj
    return getattr(obj, "school", None)


def _object_ref(obj):
    if obj is None:
        return "", ""
    if isinstance(obj, models.Model):
        return obj._meta.label_lower, str(obj.pk)  # e.g. "visits.visit", "42"
    return type(obj).__name__.lower(), str(getattr(obj, "pk", "") or "")


def client_ip(request):
    """The address the request came from. Behind a proxy, the proxy is expected to set
    REMOTE_ADDR (e.g. gunicorn's forwarded_allow_ips); X-Forwarded-For is not trusted here."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request):
    if request is None:
        return ""
    return (request.META.get("HTTP_USER_AGENT") or "")[:USER_AGENT_LENGTH]


def _jsonable(data):
    # Dates, decimals and UUIDs become strings now, so what is stored is what is read back.
    return json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))


class UnknownAction(ValueError):
    """An action that is not in audit.actions.Action: the trail would hold a word nobody can read."""


def registered(action: str) -> Action:
    """The registry's member for `action`, or UnknownAction naming it."""
    try:
        return Action(action)
    except ValueError:
        raise UnknownAction(
            f"{action!r} is not an audit action: add it, with its sentence, to audit.actions.Action"
        ) from None


def record(*, actor, school, action: Action, obj, summary, reason="", data=None, request=None) -> AuditEntry:
    """Append one entry to the audit trail and return it.

    actor    a StaffMember, a User, or None when Doorstep acts by itself
    school   the school the entry belongs to (defaults to obj.school)
    action   a member of audit.actions.Action, e.g. Action.VISIT_APPROVED; anything else is
             refused (UnknownAction)
    obj      the model instance acted on
    summary  one line for a headteacher; reason: the person's own words, if any
    data     anything else worth keeping (e.g. the findings at that moment); stored as JSON
    """
    entry = build(actor=actor, school=school, action=action, obj=obj, summary=summary, reason=reason, data=data,
                  request=request)
    # Written by an INSERT made once (core.bulk): every change writes one, a check-in among them.
    bulk.insert_one(entry)
    return entry


def build(*, actor, school, action: Action, obj, summary, reason="", data=None, request=None) -> AuditEntry:
    """The entry record() would write, unsaved: for code that writes many in one INSERT
    (bulk_create) inside the transaction of the changes they record."""
    action = registered(action)
    user, name = actor_of(actor)
    object_type, object_id = _object_ref(obj)
    return AuditEntry(
        school=school if school is not None else _school_of(obj),
        at=timezone.now(),
        actor=user,
        actor_name=name[:200],
        action=action.value,
        object_type=object_type,
        object_id=object_id,
        summary=_short(summary),
        reason=reason or "",
        data=_jsonable(data),
        ip_address=client_ip(request),
        user_agent=user_agent(request),
    )


def record_many(*, actor, school_id: int | None, action: Action, object_type: str,
                entries: Iterable[tuple[object, str, dict[str, Any]]]) -> int:
    """Append many entries alike (the same actor, school, action and kind of object), each
    given as (object id, summary, data), in one write inside the caller's transaction: the
    referral scan's cases, an import's changed marks. Plain rows, not instances: a big school's
    scan writes thousands, and making each an instance cost more than writing it. The fields
    are those record() fills; `data` must hold plain JSON values already (record() turns dates
    and decimals into text; here the database write refuses them, loudly)."""
    user, name = actor_of(actor)
    alike = {"school_id": school_id, "at": timezone.now(), "actor_id": user.pk if user is not None else None,
             "actor_name": name[:200], "action": registered(action).value, "object_type": object_type}
    return bulk.insert_rows(AuditEntry, [{"object_id": str(object_id), "summary": _short(summary), "data": data}
                                         for object_id, summary, data in entries], alike=alike)


def _short(summary: str) -> str:
    return summary if len(summary) <= SUMMARY_LENGTH else summary[: SUMMARY_LENGTH - 1] + "…"


def _request_actor(request):
    staff = getattr(request, "staff", None)
    if staff is not None:
        return staff
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def record_read(request, obj, what, *, action: Action | None = None, actor=None, school=None,
                data=None) -> AuditEntry:
    """Note that someone looked at (or exported) something sensitive: a pupil's details, a
    concern, a report, the police card, an export, a subject access pack (docs/security.md, "Audit").

    `what` is a short noun phrase ("pupil details", "police card", "chronology CSV"); `action`
    says what kind of look it was (Action.PUPIL_VIEWED); a look at nothing in particular is
    Action.READ."""
    if action is None:
        if obj is not None:
            raise TypeError(f"record_read() of {what!r} needs its action, e.g. Action.PUPIL_VIEWED")
        action = Action.READ
    return record(
        actor=actor or _request_actor(request), school=school, obj=obj,
        action=action,
        summary=f"Viewed {what}" + (f": {obj}" if obj is not None and not isinstance(obj, str) else ""),
        data={"what": what, "path": request.get_full_path() if request is not None else "", **(data or {})},
        request=request,
    )


def record_read_once(request, obj, what, *, action: Action, since, data=None, actor=None) -> AuditEntry | None:
    """record_read(), unless this person's read of `obj` under `action` is already on the
    trail since `since`: for a page a person comes back to after every button they press
    (the phone's visit page), the trail should say that they saw it, not how often."""
    user, _ = actor_of(actor or _request_actor(request))
    object_type, object_id = _object_ref(obj)
    if AuditEntry.objects.filter(object_type=object_type, object_id=object_id, action=action,
                                 actor=user, at__gte=since).exists():
        return None
    return record_read(request, obj, what, action=action, data=data, actor=actor)


def record_read_today(request, obj, what, *, action: Action, data=None, actor=None) -> AuditEntry | None:
    """A sensitive page a person opens again and again in a day (a visit, a list, the staff
    register): one entry per person, record and day says who saw it, when and from where,
    without a row for every glance."""
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return record_read_once(request, obj, what, action=action, since=start_of_day, data=data, actor=actor)


def history(obj):
    """The entries about one object, newest first."""
    object_type, object_id = _object_ref(obj)
    return AuditEntry.objects.filter(object_type=object_type, object_id=object_id)
