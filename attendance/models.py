from django.db import models

# Statistical meaning of each mark (2024 code set); see docs/attendance.md.
PRESENT, AEA, AUTHORISED, UNAUTHORISED, NOT_POSSIBLE = "present", "aea", "authorised", "unauthorised", "not_possible"

CODES = {
    "/": PRESENT, "\\": PRESENT, "L": PRESENT,
    "K": AEA, "V": AEA, "P": AEA, "W": AEA, "B": AEA,
    "C1": AUTHORISED, "M": AUTHORISED, "J1": AUTHORISED, "S": AUTHORISED, "C2": AUTHORISED, "C": AUTHORISED,
    "T": AUTHORISED, "R": AUTHORISED, "I": AUTHORISED, "E": AUTHORISED,
    "G": UNAUTHORISED, "N": UNAUTHORISED, "O": UNAUTHORISED, "U": UNAUTHORISED,
    "D": NOT_POSSIBLE, "X": NOT_POSSIBLE, "Q": NOT_POSSIBLE, "Z": NOT_POSSIBLE, "#": NOT_POSSIBLE,
    **{f"Y{n}": NOT_POSSIBLE for n in range(1, 8)},
    # Withdrawn in August 2024, still found in older data.
    "H": AUTHORISED, "J": AEA, "Y": NOT_POSSIBLE, "F": AUTHORISED,
}


class AttendanceMark(models.Model):
    class Session(models.TextChoices):
        AM = "AM", "Morning"
        PM = "PM", "Afternoon"

    pupil = models.ForeignKey("pupils.Pupil", on_delete=models.CASCADE, related_name="attendance_marks")
    date = models.DateField()
    session = models.CharField(max_length=2, choices=Session.choices)
    code = models.CharField(max_length=3)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pupil", "date", "session"], name="one_mark_per_session")]
        indexes = [models.Index(fields=["pupil", "date"])]

    @property
    def meaning(self):
        return CODES.get(self.code)


def attendance_summary(marks):
    """Counts and percentage for an iterable of codes. Sessions that are not possible are left out."""
    counts = {PRESENT: 0, AEA: 0, AUTHORISED: 0, UNAUTHORISED: 0, NOT_POSSIBLE: 0}
    for code in marks:
        counts[CODES[code]] += 1
    possible = counts[PRESENT] + counts[AEA] + counts[AUTHORISED] + counts[UNAUTHORISED]
    attended = counts[PRESENT] + counts[AEA]
    percent = round(100 * attended / possible, 1) if possible else None
    return {
        "possible": possible,
        "attended": attended,
        "authorised": counts[AUTHORISED],
        "unauthorised": counts[UNAUTHORISED],
        "missed": counts[AUTHORISED] + counts[UNAUTHORISED],
        "percent": percent,
    }
