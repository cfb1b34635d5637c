"""Changing the staff register on Doorstep's pages (people/views.py): a person's details and
roles, their DBS checks, training and vehicles. Each change checks `staff.edit` (the
headteacher and business manager by default), is made under a lock on the person's record,
and writes one audit entry naming who changed what, from what to what (before → after)."""
from __future__ import annotations

import datetime
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest

from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed

from .models import ROLE_LABELS, ROLES, DbsCheck, StaffMember, StaffRole, Training, Vehicle
from .permissions import can

DETAIL_FIELDS = ("full_name", "job_title", "mobile", "email", "appearance", "trained_home_visitor")
ROW_MODELS: dict[str, type[models.Model]] = {"dbs": DbsCheck, "training": Training, "vehicle": Vehicle}
ROW_FIELDS = {
    "dbs": ("level", "barred_list_checked", "certificate_number", "issued_on", "update_service"),
    "training": ("course", "completed_on", "expires_on"),
    "vehicle": ("make", "model", "colour", "registration", "insurance_expires_on", "business_use_cover", "active"),
}
ROW_ACTIONS = {
    "dbs": (Action.STAFF_DBSCHECK_ADDED, Action.STAFF_DBSCHECK_CHANGED, Action.STAFF_DBSCHECK_REMOVED),
    "training": (Action.STAFF_TRAINING_ADDED, Action.STAFF_TRAINING_CHANGED, Action.STAFF_TRAINING_REMOVED),
    "vehicle": (Action.STAFF_VEHICLE_ADDED, Action.STAFF_VEHICLE_CHANGED, Action.STAFF_VEHICLE_REMOVED),
}
ROW_WORDS = {"dbs": "DBS check", "training": "training", "vehicle": "vehicle"}


def _require(by: StaffMember, staff: StaffMember) -> None:
    if not (by.active and by.school_id == staff.school_id and can(by, "staff.edit", staff)):
        raise NotAllowed("Only the school's headteacher or business manager may change the staff register.")


def _shown(instance: models.Model, name: str) -> str:
    """A field's value as a headteacher reads it in the audit trail."""
    value = getattr(instance, name)
    display = getattr(instance, f"get_{name}_display", None)
    if display is not None:
        return str(display())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.date):
        return value.strftime("%-d %b %Y")
    return "" if value is None else str(value)


# How each field is named in the audit trail's before → after.
LABELS = {"full_name": "name", "job_title": "job title", "mobile": "mobile", "email": "email",
          "appearance": "appearance", "trained_home_visitor": "trained home visitor", "roles": "roles",
          "level": "level", "barred_list_checked": "barred list checked", "certificate_number": "certificate number",
          "issued_on": "issued", "update_service": "update service", "course": "course", "completed_on": "completed",
          "expires_on": "expires", "make": "make", "model": "model", "colour": "colour", "registration": "registration",
          "insurance_expires_on": "insurance expires", "business_use_cover": "business use cover",
          "active": "still used"}


def _label(instance: models.Model, name: str) -> str:
    return LABELS.get(name, name)


def _changes(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    return {k: [before.get(k, ""), after.get(k, "")] for k in after if before.get(k, "") != after.get(k, "")}


def _describe(instance: models.Model, changes: dict[str, list[str]]) -> str:
    return "; ".join(f"{_label(instance, k)}: {b or '(none)'} → {a or '(none)'}"
                     for k, (b, a) in changes.items())


def _locked(staff: StaffMember) -> StaffMember:
    return StaffMember.objects.select_for_update(of=("self",)).select_related("school").get(pk=staff.pk)


def change_details(staff: StaffMember, data: dict[str, Any], roles: list[str], *, by: StaffMember,
                   request: HttpRequest | None = None) -> dict[str, list[str]]:
    """Set the person's details and roles. Returns what changed (field: [before, after]);
    nothing is written when nothing changed. Raises ValidationError for bad values."""
    _require(by, staff)
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"Unknown roles: {unknown}")
    with transaction.atomic():
        staff = _locked(staff)
        before = {name: _shown(staff, name) for name in DETAIL_FIELDS}
        before["roles"] = ", ".join(ROLE_LABELS[r] for r in sorted(staff.role_names))
        for name in DETAIL_FIELDS:
            if name in data:
                setattr(staff, name, data[name])
        staff.full_clean(exclude=["user", "school"])
        after = {name: _shown(staff, name) for name in DETAIL_FIELDS}
        after["roles"] = ", ".join(ROLE_LABELS[r] for r in sorted(set(roles)))
        changes = _changes(before, after)
        if not changes:
            return {}
        staff.save()
        StaffRole.objects.filter(staff=staff).exclude(role__in=roles).delete()
        for role in set(roles) - set(staff.role_names):
            StaffRole.objects.get_or_create(staff=staff, role=role)
        record(actor=by, school=staff.school, action=Action.STAFF_CHANGED, obj=staff, request=request,
               summary=f"Changed {staff.full_name}'s record: {_describe(staff, changes)}",
               data={"changes": changes})
    return changes


def save_row(staff: StaffMember, kind: str, data: dict[str, Any], *, row_id: int | None = None, by: StaffMember,
             request: HttpRequest | None = None) -> models.Model:
    """Add (row_id None) or change a DBS check, training record or vehicle of `staff`."""
    _require(by, staff)
    model = ROW_MODELS[kind]
    added_action, changed_action, _ = ROW_ACTIONS[kind]
    with transaction.atomic():
        staff = _locked(staff)
        instance: Any = model(staff=staff) if row_id is None else model._default_manager.get(pk=row_id, staff=staff)
        before = {} if row_id is None else {n: _shown(instance, n) for n in ROW_FIELDS[kind]}
        for name in ROW_FIELDS[kind]:
            if name in data:
                setattr(instance, name, data[name])
        instance.full_clean(exclude=["staff"])
        after = {n: _shown(instance, n) for n in ROW_FIELDS[kind]}
        changes = _changes(before, after)
        if row_id is not None and not changes:
            return instance
        instance.save()
        what = ROW_WORDS[kind]
        record(actor=by, school=staff.school, action=added_action if row_id is None else changed_action, obj=staff,
               request=request,
               summary=(f"Added a {what} to {staff.full_name}'s record: " if row_id is None
                        else f"Changed a {what} on {staff.full_name}'s record: ") + _describe(instance, changes),
               data={"row": instance.pk, "kind": kind, "changes": changes})
    return instance


def remove_row(staff: StaffMember, kind: str, row_id: int, *, by: StaffMember, request: HttpRequest | None = None) -> None:
    _require(by, staff)
    model = ROW_MODELS[kind]
    with transaction.atomic():
        staff = _locked(staff)
        instance: Any = model._default_manager.get(pk=row_id, staff=staff)
        before = {n: _shown(instance, n) for n in ROW_FIELDS[kind]}
        instance.delete()
        removed_action = ROW_ACTIONS[kind][2]
        record(actor=by, school=staff.school, action=removed_action, obj=staff, request=request,
               summary=f"Removed a {ROW_WORDS[kind]} from {staff.full_name}'s record: "
                       + "; ".join(f"{_label(instance, k)}: {v}" for k, v in before.items() if v),
               data={"row": row_id, "kind": kind, "changes": {k: [v, ""] for k, v in before.items()}})
