"""The demo school's year: approximate English school holidays, and the school days between."""

import datetime

# English school holidays, approximate, good enough for a demo: (label, a day in its first
# week as (month, day), weeks). Each runs Monday to Friday, in school-year order from September.
HOLIDAYS = [
    ("October half-term", (10, 26), 1),
    ("Christmas holidays", (12, 21), 2),
    ("February half-term", (2, 15), 1),
    ("Easter holidays", (3, 29), 2),
    ("May half-term", (5, 31), 1),
    ("Summer holidays", (7, 22), 6),
]


def school_year_closures(year):
    """(label, first day, last day) of the demo holidays in the school year from September `year`."""
    closures = []
    for label, (month, day), weeks in HOLIDAYS:
        anchor = datetime.date(year if month >= 9 else year + 1, month, day)
        first = anchor - datetime.timedelta(days=anchor.weekday())  # its Monday
        closures.append((label, first, first + datetime.timedelta(weeks=weeks, days=-3)))  # to a Friday
    return closures


def school_year_of(day):
    return day.year if day.month >= 9 else day.year - 1


def school_days(start, end):
    """Weekdays from start up to (not including) end, leaving out the demo's school holidays."""
    closed = [(first, last) for year in range(school_year_of(start), school_year_of(end) + 1)
              for _, first, last in school_year_closures(year)]
    day = start
    while day < end:
        if day.weekday() < 5 and not any(first <= day <= last for first, last in closed):
            yield day
        day += datetime.timedelta(days=1)
