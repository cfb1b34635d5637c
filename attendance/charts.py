"""The weekly attendance chart: figures per school week, and the geometry of an inline SVG
drawn on the server (no JavaScript), used on the pupil page and in the referral pack."""
from __future__ import annotations

import datetime
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .models import AEA, AUTHORISED, CODES, PRESENT, UNAUTHORISED, monday

if TYPE_CHECKING:
    from pupils.models import Pupil

# What the chart template reads: figures and SVG coordinates, keyed by name.
ChartData = dict[str, Any]

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 64, 14, 44  # room for the axis labels, the threshold label and the event marks


def weekly(pupil: Pupil, end: datetime.date | None = None,
           weeks: int = 20) -> tuple[list[ChartData], datetime.date, datetime.date]:
    """[{week, possible, attended, percent}] for each of the last `weeks` Monday-to-Sunday
    weeks up to `end` that had a possible session."""
    end = end or timezone.localdate()
    start = monday(end) - datetime.timedelta(weeks=weeks - 1)
    counts: defaultdict[datetime.date, list[int]] = defaultdict(lambda: [0, 0])
    for day, code in pupil.attendance_marks.filter(date__gte=start, date__lte=end).values_list("date", "code"):
        meaning = CODES.get(code)
        if meaning in (PRESENT, AEA, AUTHORISED, UNAUTHORISED):
            c = counts[monday(day)]
            c[0] += 1
            c[1] += meaning in (PRESENT, AEA)
    return [
        {"week": week, "possible": p, "attended": a, "percent": round(100 * a / p, 1)}
        for week, (p, a) in sorted(counts.items())
    ], start, end


def events(pupil: Pupil, start: datetime.date, end: datetime.date) -> list[ChartData]:
    """Things to mark on the chart: visits, and the agreements made and letters sent (the
    reports app's rows, reached through the pupil so that attendance need not import it)."""
    found: list[ChartData] = []
    for visit in pupil.visits.filter(starts_at__date__gte=start, starts_at__date__lte=end).order_by("starts_at"):
        found.append({"kind": "visit", "day": timezone.localdate(visit.starts_at),
                      "label": f"Visit ({visit.get_state_display().lower()})"})
    for a in pupil.agreements.filter(made_at__date__gte=start, made_at__date__lte=end):
        found.append({"kind": "agreement", "day": timezone.localdate(a.made_at), "label": f"Agreement ({a.get_status_display().lower()})"})
    for letter in pupil.letters.filter(sent_at__date__gte=start, sent_at__date__lte=end):
        found.append({"kind": "letter", "day": timezone.localdate(letter.sent_at), "label": "Letter sent"})
    return sorted(found, key=lambda e: e["day"])


def chart(pupil: Pupil, threshold_percent: float | None = None, end: datetime.date | None = None, weeks: int = 20,
          width: int = WIDTH, height: int = HEIGHT, variant: str = "wide") -> ChartData:
    """Everything _chart.html needs, with SVG coordinates worked out here. A phone gets its
    own narrower drawing (fewer weeks) so that its labels stay readable when scaled down."""
    points, start, end = weekly(pupil, end, weeks)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    first = monday(start)

    def x_of(day: datetime.date) -> float:
        offset = (monday(day) - first).days / 7
        return round(LEFT + (offset + 0.5) * plot_w / weeks, 1)

    def y_of(percent: float) -> float:
        return round(TOP + plot_h * (1 - percent / 100), 1)

    for p in points:
        p["x"], p["y"] = x_of(p["week"]), y_of(p["percent"])
        p["below"] = threshold_percent is not None and p["percent"] < threshold_percent
    marks = events(pupil, start, end)
    symbol_y = {"visit": height - 22, "agreement": height - 14, "letter": height - 6}
    for e in marks:
        e["x"], e["y"] = x_of(e["day"]), symbol_y[e["kind"]]
    months: list[ChartData] = []
    day = first
    while day <= end:
        if day.day <= 7 and day > first:
            months.append({"x": x_of(day), "label": day.strftime("%b")})
        day += datetime.timedelta(days=7)
    return {
        "variant": variant, "width": width, "height": height, "left": LEFT, "right": width - RIGHT, "label_x": width - RIGHT + 5, "top": TOP, "bottom": TOP + plot_h,
        "points": points, "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "gridlines": [{"y": y_of(v), "label": f"{v}%"} for v in (0, 25, 50, 75, 100)],
        "threshold": threshold_percent, "threshold_y": y_of(threshold_percent) if threshold_percent else None,
        "events": marks, "months": months, "start": start, "end": end, "weeks": weeks,
        "kinds": sorted({e["kind"] for e in marks}),
    }


def charts(pupil: Pupil, threshold_percent: float | None = None, end: datetime.date | None = None) -> list[ChartData]:
    """The phone and desk drawings of the same chart; CSS shows the one that fits."""
    return [chart(pupil, threshold_percent, end, weeks=10, width=340, height=250, variant="narrow"),
            chart(pupil, threshold_percent, end, weeks=20, width=WIDTH, height=HEIGHT, variant="wide")]
