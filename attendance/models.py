"""Attendance marks, the 2024 code set and the arithmetic on it.

The codes and their statistical meanings follow the School Attendance (Pupil Registration)
(England) Regulations 2024; docs/attendance.md ("The codes") lists them and explains the choices (Q and Y1-Y7 as not possible sessions is the
MIS vendors' reading, not DfE's own sentence, which we could not consult)."""
from __future__ import annotations

import calendar
import datetime
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.conf import settings
from django.db import connection, models
from django.db.models import Count, F, Q, QuerySet
from django.db.models.expressions import RawSQL

from pupils.models import Pupil

if TYPE_CHECKING:
    from schools.models import School

# Statistical meaning of each mark (2024 code set); see docs/attendance.md.
PRESENT, AEA, AUTHORISED, UNAUTHORISED, NOT_POSSIBLE = "present", "aea", "authorised", "unauthorised", "not_possible"
MEANINGS = {
    PRESENT: "Present",
    AEA: "Approved educational activity (counts as attendance)",
    AUTHORISED: "Authorised absence",
    UNAUTHORISED: "Unauthorised absence",
    NOT_POSSIBLE: "Not a possible session",
}
CODE_SET = "2024"
# The 2024 regulations and the revised guidance took effect on this day.
CODE_SET_STARTS = datetime.date(2024, 8, 19)


@dataclass(frozen=True)
class Code:
    code: str
    meaning: str
    description: str
    withdrawn: bool = False
    replaced_by: str = ""


_CODES = [
    Code("/", PRESENT, "Present in the morning session"),
    Code("\\", PRESENT, "Present in the afternoon session"),
    Code("L", PRESENT, "Late: arrived after the register began but before it closed"),
    Code("K", AEA, "Attending education arranged by the local authority"),
    Code("V", AEA, "Educational visit or trip supervised by the school"),
    Code("P", AEA, "Approved sporting activity"),
    Code("W", AEA, "Work experience"),
    Code("B", AEA, "Other approved, supervised educational activity off site (not remote learning)"),
    Code("D", NOT_POSSIBLE, "Dual registered: attending the other school"),
    Code("C1", AUTHORISED, "Leave for a regulated performance or regulated employment abroad"),
    Code("M", AUTHORISED, "Leave for a medical or dental appointment"),
    Code("J1", AUTHORISED, "Leave for an interview for employment or a place at another institution"),
    Code("S", AUTHORISED, "Study leave"),
    Code("X", NOT_POSSIBLE, "Not of compulsory school age and not required to attend"),
    Code("C2", AUTHORISED, "Leave for a temporary part-time timetable"),
    Code("C", AUTHORISED, "Leave in exceptional circumstances"),
    Code("T", AUTHORISED, "Parent travelling for occupational purposes"),
    Code("R", AUTHORISED, "Religious observance"),
    Code("I", AUTHORISED, "Illness (not a medical or dental appointment)"),
    Code("E", AUTHORISED, "Suspended or excluded, no alternative provision"),
    Code("Q", NOT_POSSIBLE, "Unable to attend: the local authority has not made access arrangements"),
    Code("Y1", NOT_POSSIBLE, "Unable to attend: transport normally provided is not available"),
    Code("Y2", NOT_POSSIBLE, "Unable to attend: widespread travel disruption"),
    Code("Y3", NOT_POSSIBLE, "Unable to attend: part of the school premises closed"),
    Code("Y4", NOT_POSSIBLE, "Unable to attend: whole school site unexpectedly closed"),
    Code("Y5", NOT_POSSIBLE, "Unable to attend: in criminal justice detention"),
    Code("Y6", NOT_POSSIBLE, "Unable to attend: public health guidance or law"),
    Code("Y7", NOT_POSSIBLE, "Unable to attend: any other unavoidable cause"),
    Code("G", UNAUTHORISED, "Holiday not granted by the school"),
    Code("N", UNAUTHORISED, "Reason for absence not yet established"),
    Code("O", UNAUTHORISED, "Absent in other or unknown circumstances"),
    Code("U", UNAUTHORISED, "Arrived after the register closed"),
    Code("Z", NOT_POSSIBLE, "Prospective pupil not on the admission register"),
    Code("#", NOT_POSSIBLE, "Planned whole or partial school closure"),
    # Withdrawn in August 2024: accepted only on marks dated before CODE_SET_STARTS.
    Code("H", AUTHORISED, "Holiday agreed by the school (withdrawn in 2024)", withdrawn=True, replaced_by="C or G"),
    Code("J", AEA, "Interview (withdrawn in 2024)", withdrawn=True, replaced_by="J1"),
    Code("Y", NOT_POSSIBLE, "Unable to attend: exceptional circumstances (withdrawn in 2024)", withdrawn=True,
         replaced_by="Y1 to Y7"),
    Code("F", AUTHORISED, "Extended family holiday agreed (withdrawn in 2013)", withdrawn=True, replaced_by="C or G"),
]
CODE_INFO = {c.code: c for c in _CODES}
# code -> statistical meaning; the name other apps import.
CODES = {c.code: c.meaning for c in _CODES}
WITHDRAWN = {c.code for c in _CODES if c.withdrawn}
CODES_BY_MEANING = {m: [c.code for c in _CODES if c.meaning == m] for m in MEANINGS}
# The national penalty-notice framework counts these (research §1.4).
PENALTY_CODES = ["G", "N", "O", "U"]
PENALTY_SESSIONS, PENALTY_WEEKS = 10, 10
# Sessions on which the school did not meet: a week with only these is not a school week.
CLOSURE_CODES = ["#", "Y4"]


class AttendanceMarkQuerySet(models.QuerySet["AttendanceMark"]):
    """Every way Django writes marks also notes the school's weeks they fall in (MarkedWeek),
    so that school_weeks() reads a few dozen weeks instead of every mark. Deleting marks needs
    nothing: MarkedWeek may hold more weeks than have school marks, never fewer, and
    school_weeks() checks each one it uses."""

    def bulk_create(self, objs: Iterable[AttendanceMark], batch_size: int | None = None,
                    ignore_conflicts: bool = False, update_conflicts: bool = False,
                    update_fields: Collection[str] | None = None, unique_fields: Collection[str] | None = None,
                    ) -> list[AttendanceMark]:
        made = super().bulk_create(objs, batch_size=batch_size, ignore_conflicts=ignore_conflicts,
                                   update_conflicts=update_conflicts, update_fields=update_fields,
                                   unique_fields=unique_fields)
        MarkedWeek.note_marks(made)
        return made

    def update(self, **kwargs: Any) -> int:
        # A mark moved to another day, or given a code that is not a closure, may make a week
        # a school week; a code changed to a closure is found out by school_weeks() itself.
        moved = {"date", "pupil", "pupil_id", "code"} & set(kwargs)
        ids = list(self.values_list("pk", flat=True)) if moved else []
        changed = super().update(**kwargs)
        for first in range(0, len(ids), _IDS_CHUNK):
            MarkedWeek.note_marks(AttendanceMark.objects.filter(pk__in=ids[first:first + _IDS_CHUNK])
                                  .only("pupil_id", "date", "session", "code"))
        return changed


class AttendanceMark(models.Model):
    class Session(models.TextChoices):
        AM = "AM", "Morning"
        PM = "PM", "Afternoon"

    # No index of its own on pupil, nor on (pupil, date): the unique index below starts with
    # both, serves every look-up by pupil and by pupil and date, and a million-mark import
    # keeps one index up to date instead of three.
    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.CASCADE, related_name="attendance_marks",
                              db_index=False)
    date = models.DateField()
    session = models.CharField(max_length=2, choices=Session.choices)
    code = models.CharField(max_length=3)

    objects = AttendanceMarkQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pupil", "date", "session"], name="one_mark_per_session")]

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        MarkedWeek.note_marks([self])

    @property
    def meaning(self) -> str | None:
        return CODES.get(self.code)


# One mark as written, (pupil id, day, session): found again through the marks' unique index.
Witness = tuple[int, datetime.date, str]


class MarkedWeek(models.Model):
    """A week (its Monday) in which a school has, or once had, at least one mark of any code,
    with one mark of it that was not a closure when written (its witness), if any was.

    school_weeks() reads these instead of every mark of the last 60 weeks (a DISTINCT over a
    million marks at a big school, with no index on the date). Every write of a mark notes its
    week: AttendanceMark's save, bulk_create and update, the importer's own INSERT / COPY
    (attendance.importer), and migration 0004 for the marks already held. Nothing is taken
    away when a mark is deleted or its code changed: school_weeks() looks the witness up
    (one look-up in the unique index), and only when it is gone or now a closure asks the
    marks themselves whether the week still has a school mark."""

    # No index of its own on school: the unique index below starts with it.
    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="+", db_index=False)
    monday = models.DateField()
    # Not a foreign key: a pupil removed (retention) only makes the look-up miss.
    witness_pupil = models.IntegerField(null=True)
    witness_date = models.DateField(null=True)
    witness_session = models.CharField(max_length=2, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["school", "monday"], name="one_marked_week_per_school")]

    @classmethod
    def note(cls, school_id: int, weeks: dict[datetime.date, Witness | None]) -> None:
        """Note these weeks (Mondays) at this school, each with a mark of it that is not a
        closure, or None when only closures were written. A week already noted takes the new
        witness (any school mark will do) and keeps its own when given None."""
        witnessed = [MarkedWeek(school_id=school_id, monday=week, witness_pupil=w[0], witness_date=w[1],
                                witness_session=w[2]) for week, w in sorted(weeks.items()) if w is not None]
        MarkedWeek.objects.bulk_create(witnessed, update_conflicts=True, unique_fields=["school", "monday"],
                                       update_fields=["witness_pupil", "witness_date", "witness_session"])
        MarkedWeek.objects.bulk_create([MarkedWeek(school_id=school_id, monday=week)
                                        for week, w in sorted(weeks.items()) if w is None], ignore_conflicts=True)

    @classmethod
    def note_marks(cls, marks: Iterable[AttendanceMark]) -> None:
        """Note the weeks of these marks, each at its pupil's school."""
        weeks_of_pupil: dict[int, dict[datetime.date, Witness | None]] = {}
        for mark in marks:
            day = mark.date
            if isinstance(day, datetime.datetime):
                day = day.date()
            elif not isinstance(day, datetime.date):  # a date given as text ("2026-03-09") is saved as one
                day = datetime.date.fromisoformat(str(day))
            weeks = weeks_of_pupil.setdefault(mark.pupil_id, {})
            week = monday(day)
            if weeks.get(week) is None:
                weeks[week] = None if mark.code in CLOSURE_CODES else (mark.pupil_id, day, mark.session)
        if not weeks_of_pupil:
            return
        by_school: dict[int, dict[datetime.date, Witness | None]] = {}
        pupil_ids = sorted(weeks_of_pupil)
        for first in range(0, len(pupil_ids), _IDS_CHUNK):
            schools = Pupil.objects.filter(pk__in=pupil_ids[first:first + _IDS_CHUNK]).values_list("pk", "school_id")
            for pupil_id, school_id in schools:
                weeks = by_school.setdefault(school_id, {})
                for week, witness in weeks_of_pupil[pupil_id].items():
                    if weeks.get(week) is None:
                        weeks[week] = witness
        for school_id, weeks in by_school.items():
            cls.note(school_id, weeks)


class Summary(TypedDict):
    """A pupil's attendance over a span: sessions by meaning, and what they add up to."""

    possible: int
    attended: int
    present: int
    aea: int
    authorised: int
    unauthorised: int
    missed: int
    not_possible: int
    percent: float | None       # of possible sessions attended; None when none was possible
    persistent: bool
    severe: bool
    code_set: str


def percent_of(attended: int, possible: int) -> float | None:
    """Attendance as shown: per cent of possible sessions, to one decimal place."""
    return round(100 * attended / possible, 1) if possible else None


def _summary(present: int, aea: int, authorised: int, unauthorised: int, not_possible: int = 0) -> Summary:
    possible = present + aea + authorised + unauthorised
    attended = present + aea
    missed = authorised + unauthorised
    return {
        "possible": possible,
        "attended": attended,
        "present": present,
        "aea": aea,
        "authorised": authorised,
        "unauthorised": unauthorised,
        "missed": missed,
        "not_possible": not_possible,
        "percent": percent_of(attended, possible),
        # Absent for 10 % / 50 % or more of possible sessions; exactly 90.0 % attendance is
        # persistent absence, and severe absence is part of persistent absence (research §1.3).
        "persistent": bool(possible) and missed * 10 >= possible,
        "severe": bool(possible) and missed * 2 >= possible,
        "code_set": CODE_SET,
    }


def attendance_summary(marks: Iterable[str]) -> Summary:
    """Counts and percentage for an iterable of codes. Sessions that are not possible are left out."""
    counts = {PRESENT: 0, AEA: 0, AUTHORISED: 0, UNAUTHORISED: 0, NOT_POSSIBLE: 0}
    for code in marks:
        counts[CODES[code]] += 1
    return _summary(counts[PRESENT], counts[AEA], counts[AUTHORISED], counts[UNAUTHORISED], counts[NOT_POSSIBLE])


def _meaning_counts() -> dict[str, Count]:
    return {m: Count("id", filter=Q(code__in=codes)) for m, codes in CODES_BY_MEANING.items()}


def summaries(marks: QuerySet[AttendanceMark], start: datetime.date, end: datetime.date) -> dict[int, Summary]:
    """{pupil_id: summary} for the marks queryset between start and end (both inclusive),
    counted by the database in one grouped query."""
    rows = (
        marks.filter(date__gte=start, date__lte=end)
        .order_by()
        .values("pupil_id")
        .annotate(**_meaning_counts())
    )
    # One count per meaning, named by the meaning: annotate(**...) hides the names from the types.
    counted = cast(Iterable[dict[str, int]], rows)
    return {r["pupil_id"]: _summary(r[PRESENT], r[AEA], r[AUTHORISED], r[UNAUTHORISED], r[NOT_POSSIBLE]) for r in counted}


# Marks or pupils whose weeks or schools MarkedWeek.note_marks() reads at once: well inside
# SQLite's limit on the values one query may carry.
_IDS_CHUNK = 5000


def below_ids(marks: QuerySet[AttendanceMark], start: datetime.date, end: datetime.date, percent: int) -> list[int]:
    """The ids, in order, of the pupils whose attendance between start and end is below
    `percent` (as below() says). The database applies the threshold (GROUP BY ... HAVING): a
    school of 50,000 pupils sends back the few thousand below it. The two counts are named only
    in HAVING, not also selected: selected as well, SQLite counted each twice (about a third
    slower in our runs)."""
    attended = CODES_BY_MEANING[PRESENT] + CODES_BY_MEANING[AEA]
    possible = attended + CODES_BY_MEANING[AUTHORISED] + CODES_BY_MEANING[UNAUTHORISED]
    low = (
        marks.filter(date__gte=start, date__lte=end)
        .order_by()
        .values("pupil_id")
        # attended * 100 < percent * possible, as below(): no rounding, and a pupil with no
        # possible session (0 < 0) is never below.
        .alias(attended100=Count("id", filter=Q(code__in=attended)) * 100,
               possible_percent=Count("id", filter=Q(code__in=possible)) * percent)
        .filter(attended100__lt=F("possible_percent"))
        .values_list("pupil_id", flat=True)
    )
    return sorted(low)


@dataclass(frozen=True)
class CaseFigures:
    """What a referral case keeps of a pupil's window (ReferralCase's figures), and the pupil's
    G/N/O/U sessions in the rolling 10 school weeks."""

    attended: int
    authorised: int
    unauthorised: int
    penalty: int

    @property
    def possible(self) -> int:
        return self.attended + self.authorised + self.unauthorised

    @property
    def percent(self) -> float | None:
        return percent_of(self.attended, self.possible)


def case_figures(ids: list[int], start: datetime.date, end: datetime.date,
                 penalty_span: tuple[datetime.date, datetime.date] | None) -> dict[int, CaseFigures]:
    """{pupil_id: CaseFigures between start and end} of these pupils (those with marks in the
    window), counted through the unique index that starts with the pupil, in one query. Only
    the four counts a case keeps, and no join to the pupils (the ids are already the school's,
    from below_ids()): a third cheaper than every meaning's count."""
    lo, hi = (min(start, penalty_span[0]), max(end, penalty_span[1])) if penalty_span else (start, end)
    # The window's own dates, when the penalty span reaches further back than the window.
    inside = Q() if (lo, hi) == (start, end) else Q(date__gte=start, date__lte=end)
    counts = {
        "attended": Count("id", filter=Q(code__in=CODES_BY_MEANING[PRESENT] + CODES_BY_MEANING[AEA]) & inside),
        "authorised": Count("id", filter=Q(code__in=CODES_BY_MEANING[AUTHORISED]) & inside),
        "unauthorised": Count("id", filter=Q(code__in=CODES_BY_MEANING[UNAUTHORISED]) & inside),
    }
    if penalty_span is not None:
        counts["penalty"] = Count("id", filter=Q(code__in=PENALTY_CODES, date__gte=penalty_span[0],
                                                 date__lte=penalty_span[1]))
    found: dict[int, CaseFigures] = {}
    rows = (
        AttendanceMark.objects.filter(pupil_id__in=_id_list(ids), date__gte=lo, date__lte=hi)
        .order_by()
        .values("pupil_id")
        .annotate(**counts)
    )
    for r in cast(Iterable[dict[str, int]], rows):
        found[r["pupil_id"]] = CaseFigures(r["attended"], r["authorised"], r["unauthorised"], r.get("penalty", 0))
    return found


def _id_list(ids: list[int]) -> RawSQL:
    """Thousands of ids as one value, for `__in`: one array (PostgreSQL) or one JSON list
    (SQLite), not a placeholder each, which capped a query at a few thousand ids and made
    Django prepare each id in turn (a tenth of the referral scan's own work)."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [[int(i) for i in ids]])
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps([int(i) for i in ids])])


def summary_for(pupil: Pupil, start: datetime.date, end: datetime.date) -> Summary:
    """One pupil's summary between start and end inclusive (empty counts if no marks)."""
    return summaries(AttendanceMark.objects.filter(pupil=pupil), start, end).get(pupil.pk) or _summary(0, 0, 0, 0)


def below(summary: Summary, percent: float) -> bool:
    """Is attendance strictly below `percent`? Exact arithmetic, no rounding: 90 % is not below 90."""
    return bool(summary["possible"]) and summary["attended"] * 100 < percent * summary["possible"]


def months_before(day: datetime.date, months: int) -> datetime.date:
    """The same day of the month `months` earlier (clamped to the month's end). The window
    [months_before(d, 3) + 1 day, d] is "the last three months" up to and including d."""
    month = day.month - 1 - months
    year = day.year + month // 12
    month = month % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window(end: datetime.date, months: int) -> tuple[datetime.date, datetime.date]:
    """(start, end) of the `months` up to and including `end`."""
    return months_before(end, months) + datetime.timedelta(days=1), end


# --- school weeks and the penalty-notice indicator ------------------------------------------

def monday(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def weeks_of(days: dict[datetime.date, Witness | None]) -> dict[datetime.date, Witness | None]:
    """{Monday: a witness of one of its days, or None when none of them has one}."""
    weeks: dict[datetime.date, Witness | None] = {}
    for day, witness in days.items():
        if weeks.get(monday(day)) is None:
            weeks[monday(day)] = witness
    return weeks


def school_weeks(school: School, until: datetime.date, count: int = PENALTY_WEEKS,
                 lookback_weeks: int = 60) -> list[datetime.date]:
    """The Mondays of the last `count` school weeks up to `until`, oldest first. A school week
    is a Monday-to-Sunday week in which the school recorded at least one mark other than a
    closure code (see docs/attendance.md): weeks of holiday have no marks and do not count.

    The weeks with marks come from MarkedWeek (a few dozen rows); each, newest first, is then
    checked until `count` are found: its witness (a mark that was not a closure) looked up in
    the marks' unique index, one look-up a week. Only a week whose witness is gone or changed,
    or that has none (closures only), asks the marks for any school mark in it."""
    since = monday(until) - datetime.timedelta(weeks=lookback_weeks)
    noted = (
        MarkedWeek.objects.filter(school=school, monday__gte=since, monday__lte=until)
        .order_by("-monday")
        .values_list("monday", "witness_pupil", "witness_date", "witness_session")
    )
    school_marks = AttendanceMark.objects.exclude(code__in=CLOSURE_CODES)
    weeks: list[datetime.date] = []
    for week, pupil, day, session in list(noted):
        last = min(week + datetime.timedelta(days=6), until)
        witnessed = (pupil is not None and day is not None and day <= last
                     and school_marks.filter(pupil_id=pupil, date=day, session=session).exists())
        # Without a witness (gone, now a closure, after `until`, or never one), the marks
        # themselves say; on PostgreSQL that may read the whole table, so it is kept rare.
        if witnessed or school_marks.filter(pupil__school=school, date__gte=week, date__lte=last).exists():
            weeks.append(week)
            if len(weeks) == count:
                break
    return weeks[::-1]


def penalty_window(school: School, until: datetime.date) -> tuple[datetime.date, datetime.date] | None:
    """(start, end) of the rolling 10 school weeks ending with the week of `until`, or None
    when the school has no marks."""
    weeks = school_weeks(school, until)
    if not weeks:
        return None
    return weeks[0], until


def penalty_counts(school: School, until: datetime.date, pupils: Iterable[Pupil] | Iterable[int] | None = None,
                   span: tuple[datetime.date, datetime.date] | None = None,
                   ) -> tuple[dict[int, int], tuple[datetime.date, datetime.date] | None]:
    """{pupil_id: unauthorised G/N/O/U sessions in the rolling 10 school weeks to `until`}.
    `span`: penalty_window(school, until), when the caller has it already."""
    span = span or penalty_window(school, until)
    if span is None:
        return {}, None
    marks = AttendanceMark.objects.filter(pupil__school=school, date__gte=span[0], date__lte=span[1], code__in=PENALTY_CODES)
    if pupils is not None:
        marks = marks.filter(pupil__in=pupils)
    rows = marks.order_by().values("pupil_id").annotate(n=Count("id"))
    return {r["pupil_id"]: r["n"] for r in rows}, span


# --- importing ----------------------------------------------------------------------------------

class ImportMapping(models.Model):
    """Which columns of a school's MIS export hold what. Saved per school by name; the built-in
    SIMS-style mapping (attendance.importer.BUILTIN_MAPPINGS) needs no row."""

    class PupilKey(models.TextChoices):
        UPN = "upn", "UPN"
        ADMISSION_NUMBER = "admission_number", "Admission number"

    school = models.ForeignKey("schools.School", on_delete=models.CASCADE, related_name="import_mappings")
    name = models.CharField(max_length=60)
    pupil_key = models.CharField(max_length=20, choices=PupilKey.choices, default=PupilKey.UPN)
    pupil_column = models.CharField(max_length=100)
    date_column = models.CharField(max_length=100)
    date_format = models.CharField(max_length=30, default="%d/%m/%Y",
                                   help_text="strftime codes, e.g. %d/%m/%Y for 09/09/2024 or %Y-%m-%d for 2024-09-09")
    session_column = models.CharField(max_length=100)
    mark_column = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["school", "name"], name="unique_mapping_name_per_school")]

    def __str__(self) -> str:
        return self.name


class ImportRun(models.Model):
    """One successful import: who, when, which file and what it changed. A failed import
    writes nothing, so it leaves no run behind."""

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="attendance_imports")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    by_name = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()
    file_name = models.CharField(max_length=255)
    mapping = models.CharField(max_length=60)
    rows = models.PositiveIntegerField()
    created = models.PositiveIntegerField()
    updated = models.PositiveIntegerField()
    unchanged = models.PositiveIntegerField()
    skipped = models.PositiveIntegerField(default=0, help_text="Rows with no mark yet (blank or '-')")
    first_date = models.DateField(null=True)
    last_date = models.DateField(null=True)
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.at:%d %b %Y %H:%M})"


# --- referrals ----------------------------------------------------------------------------------

class ReferralCase(models.Model):
    """A pupil whose attendance crossed the school's referral threshold. Doorstep only opens
    the case; a person decides whether to refer, and does the referring themselves."""

    class State(models.TextChoices):
        OPEN = "open", "Waiting for a decision"
        REFERRED = "referred", "Referred"
        NOT_REFERRED = "not_referred", "Not referred"

    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="referral_cases")
    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.PROTECT, related_name="referral_cases")
    # No index of its own: cases are always looked for within a school (its key's index), and
    # each index is one more write for every case a big school's first scan opens.
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    opened_on = models.DateField()
    # The figures that opened the case, kept as they were (the live figures change daily).
    window_start = models.DateField()
    window_end = models.DateField()
    possible = models.PositiveIntegerField()
    attended = models.PositiveIntegerField()
    authorised = models.PositiveIntegerField()
    unauthorised = models.PositiveIntegerField()
    percent = models.DecimalField(max_digits=4, decimal_places=1)
    threshold_percent = models.PositiveSmallIntegerField()
    clause = models.CharField(max_length=40)
    code_set = models.CharField(max_length=10, default=CODE_SET)
    penalty_sessions = models.PositiveSmallIntegerField(default=0, help_text="G/N/O/U sessions in the rolling 10 school weeks")

    decided_by = models.ForeignKey("people.StaffMember", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    referred_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="Who it was referred to and how, or why not")
    # Set by the scan when attendance is back at or above the threshold after a decision,
    # so that falling below again opens a new case instead of being hidden by the old one.
    cleared_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["opened_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pupil"], condition=Q(cleared_on__isnull=True),
                                    name="one_live_referral_case_per_pupil"),
        ]

    def __str__(self) -> str:
        return f"Referral case for {self.pupil} opened {self.opened_on:%d %b %Y}"

    @property
    def penalty_indicator(self) -> bool:
        return self.penalty_sessions >= PENALTY_SESSIONS
