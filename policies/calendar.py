"""The school's calendar: recording and removing its holidays and closures, which school days
(schools.calendar) then skip. Each change checks the permission (calendar.manage), validates,
and writes its audit entry in one transaction."""
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from audit import services as audit
from audit.actions import Action
from people.permissions import can
from schools.models import SchoolClosure

LONGEST_CLOSURE_DAYS = 70  # longer than any school holiday (the summer is about six weeks)


def add_closure(by, *, first_day, last_day, label, request=None) -> SchoolClosure:
    """Record a closure of `by`'s school. ValidationError names the field that is wrong."""
    if not can(by, "calendar.manage"):
        raise PermissionDenied("Only the headteacher, the business manager or the office can change the school's term dates.")
    label = (label or "").strip()
    errors = {}
    if not label:
        errors["label"] = "Say what the closure is, for example \"Christmas holidays\"."
    if first_day and last_day:
        if last_day < first_day:
            errors["last_day"] = "The last day is before the first day."
        elif (last_day - first_day).days + 1 > LONGEST_CLOSURE_DAYS:
            errors["last_day"] = (f"A closure of {(last_day - first_day).days + 1} days is longer than any school "
                                  f"holiday ({LONGEST_CLOSURE_DAYS} days at most): check the dates.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        closure = SchoolClosure.objects.create(school=by.school, first_day=first_day, last_day=last_day, label=label,
                                               added_by=by)
        audit.record(actor=by, school=by.school, action=Action.CALENDAR_CLOSURE_ADDED, obj=closure, request=request,
                     summary=f"School closed: {closure}",
                     data={"first_day": first_day, "last_day": last_day, "label": label})
    return closure


def remove_closure(by, closure, *, request=None):
    if not can(by, "calendar.manage", closure):
        raise PermissionDenied("Only the headteacher, the business manager or the office can change the school's term dates.")
    with transaction.atomic():
        audit.record(actor=by, school=closure.school, action=Action.CALENDAR_CLOSURE_REMOVED, obj=closure, request=request,
                     summary=f"Closure removed: {closure}",
                     data={"first_day": closure.first_day, "last_day": closure.last_day, "label": closure.label})
        closure.delete()
