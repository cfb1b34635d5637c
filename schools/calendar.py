"""School days: weekdays on which the school is not closed (SchoolClosure). Reports fall due
and follow-up visits are proposed in school days, so that a visit on the Friday before
half-term is not "overdue" on the Tuesday of the holiday.

Changes to the closures go through add_closure() and remove_closure(): each checks the
permission (calendar.manage), validates, and writes its audit entry in one transaction."""
import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from audit import services as audit

from .models import SchoolClosure
from .permissions import can

LONGEST_CLOSURE_DAYS = 70  # longer than any school holiday (the summer is about six weeks)


def add_school_days(school, day: datetime.date, n: int) -> datetime.date:
    """The n-th school day after `day`: weekdays, skipping the school's closures. One query,
    read lazily: closures are walked in order of their first day, so back-to-back closures
    (a holiday, then an INSET day) are all skipped however long the run."""
    closures = iter(SchoolClosure.objects.filter(school=school, last_day__gt=day).order_by("first_day", "last_day")
                    .values_list("first_day", "last_day"))
    current = next(closures, None)  # the earliest-starting closure not yet over
    while n > 0:
        day += datetime.timedelta(days=1)
        while current is not None and current[1] < day:
            current = next(closures, None)
        if day.weekday() < 5 and not (current is not None and current[0] <= day):
            n -= 1
    return day


def closure_on(school, day: datetime.date):
    """The school's closure covering `day`, or None."""
    return SchoolClosure.objects.filter(school=school, first_day__lte=day, last_day__gte=day).first()


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
        audit.record(actor=by, school=by.school, action="calendar.closure_added", obj=closure, request=request,
                     summary=f"School closed: {closure}",
                     data={"first_day": first_day, "last_day": last_day, "label": label})
    return closure


def remove_closure(by, closure, *, request=None):
    if not can(by, "calendar.manage", closure):
        raise PermissionDenied("Only the headteacher, the business manager or the office can change the school's term dates.")
    with transaction.atomic():
        audit.record(actor=by, school=closure.school, action="calendar.closure_removed", obj=closure, request=request,
                     summary=f"Closure removed: {closure}",
                     data={"first_day": closure.first_day, "last_day": closure.last_day, "label": closure.label})
        closure.delete()
