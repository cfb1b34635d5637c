"""The retention schedule: for each kind of record Doorstep keeps, how long by default, counted
from what, and on whose authority. A school may change the number of years (RetentionRule);
what the period is counted from is fixed here, because it is what the sources say.

Each period names its source (docs/security.md, "The default schedule"). Where no published
period was found, the period is a "Doorstep default", chosen to err on keeping, and says so."""
import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    key: str
    label: str          # what is removed, as a DPO would say it
    years: int          # the default period
    counted_from: str   # what the period is counted from
    source: str         # where the period comes from
    personal_anchor: bool = False  # counted from a date of birth: the audit text leaves it out


SCHEDULES = {s.key: s for s in [
    Schedule("messages", "Sent or failed message (SMS, email, in-app) and its delivery log", 1,
             "the day it was written",
             "Doorstep default: a delivery log, not a record of the visit (the visit's events and alerts are); "
             "one year covers any complaint about a message. Messages still waiting to be sent are never removed."),
    Schedule("import_runs", "Attendance import run (file name, counts, who imported it)", 6,
             "the day of the import",
             "Doorstep default: kept as long as the register entries it wrote (6 years, below)."),
    Schedule("attendance", "A pupil's attendance marks", 6,
             "the date of the pupil's last entry in the register",
             "School Attendance (Pupil Registration) (England) Regulations 2024: every register entry kept "
             "for at least 6 years."),
    Schedule("concerns", "Safeguarding concern", 25,
             "the pupil's date of birth",
             "IRMS Schools Toolkit: child-protection file, date of birth + 25 years, then review. "
             "Some trusts keep 50 years because of the IICSA retention order: "
             "change the years for your school.", personal_anchor=True),
    Schedule("visits", "Home visit with its check-ins, alerts, reports, agreements and letters", 25,
             "the pupil's date of birth",
             "Doorstep default: no published period for home-visit records was found, so they "
             "are kept as part of the child-protection and pupil file, date of birth + 25 years, "
             "until your data protection officer says otherwise.", personal_anchor=True),
    Schedule("pupils", "Pupil record with contacts, household notes, risk assessments, referral cases and "
             "agreements, letters and chronology notes not tied to a visit", 25,
             "the pupil's date of birth",
             "IRMS Schools Toolkit: pupil file kept by the last school, date of birth + 25 years "
             "(the same as the child-protection file until your data protection officer confirms). "
             "Held while any visit or concern about the pupil is kept.", personal_anchor=True),
    Schedule("audit", "Audit trail entry", 25,
             "the day it was written",
             "Doorstep default: at least as long as any record it can describe is kept by default (a pupil's "
             "records go at date of birth + 25 years, and no entry about a child is older than the child). An "
             "entry about a record that is still kept is held with it. Removed only by the records clean-up, "
             "never by hand."),
]}

# The order removals run in: what points at a record goes before the record.
ORDER = ["messages", "import_runs", "attendance", "concerns", "visits", "pupils", "audit"]

# Not removed by the retention command, and why (docs/security.md repeats this).
NOT_REMOVED = {
    "staff": "Staff records (register, DBS checks, training, vehicles) follow the school's HR retention; leavers are "
             "made inactive, not removed, so their visits and check-ins still say who was there.",
}


def add_years(day: datetime.date, years: int) -> datetime.date:
    """The same day `years` later; 29 February becomes 1 March (never earlier than a full period)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return datetime.date(day.year + years, 3, 1)


def latest_anchor(today: datetime.date, years: int) -> datetime.date:
    """A date on or after every anchor whose period has ended by `today` (a safe filter for queries;
    the exact due date is computed per record with add_years)."""
    try:
        return today.replace(year=today.year - years) + datetime.timedelta(days=1)
    except ValueError:  # today is 29 February
        return datetime.date(today.year - years, 3, 1)
