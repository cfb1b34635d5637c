"""School days: weekdays on which the school is not closed (SchoolClosure). Reports fall due
and follow-up visits are proposed in school days, so that a visit on the Friday before
half-term is not "overdue" on the Tuesday of the holiday.

Only the questions about days live here, at the ground floor, for every app to ask. Recording
and removing closures (a permission, an audit entry) is the school's calendar in
policies.calendar."""
import datetime

from .models import SchoolClosure


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
