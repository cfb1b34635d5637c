"""List, and with --apply remove, the records whose retention period has ended.

    doorstep retention                              what is due in every school (a dry run: nothing changes)
    doorstep retention --school "Coteford Junior School"
    doorstep retention --apply                      remove it; one audit entry per record removed
                                                    (and one for all the audit entries removed)
    doorstep retention --schedule                   the periods in force for each school, with their sources
    doorstep retention --school 100001 --set concerns=50 --reason "IICSA retention order"

Periods and their sources: retention/rules.py and docs/security.md."""
import datetime
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from attendance.management.commands._school import find_school
from retention import services
from retention.rules import NOT_REMOVED, ORDER, SCHEDULES
from schools.models import School


def _years(n: int) -> str:
    return f"{n} year{'' if n == 1 else 's'}"


class Command(BaseCommand):
    help = "List what is due under each school's retention schedule; --apply removes it (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", help="One school (name, URN or id); default every school")
        parser.add_argument("--apply", action="store_true", help="Remove what is listed (default: only list it)")
        parser.add_argument("--today", help="Work out what is due as on this date (YYYY-MM-DD); for checking ahead")
        parser.add_argument("--schedule", action="store_true", help="Show the periods in force and their sources")
        parser.add_argument("--set", metavar="TYPE=YEARS", action="append", default=[],
                            help=f"Change a period for --school; TYPE is one of {', '.join(SCHEDULES)}")
        parser.add_argument("--reason", default="", help="Why the period is changed (kept in the audit trail)")

    def handle(self, *args: Any, school: str | None, apply: bool, today: str | None, schedule: bool, set: list[str],
               reason: str, **options: Any) -> None:
        schools = [find_school(school)] if school else list(School.objects.order_by("name"))
        if set:
            if not school:
                raise CommandError("--set needs --school: periods are set per school.")
            self.set_rules(schools[0], set, reason)
            return
        try:
            day = datetime.date.fromisoformat(today) if today else None
        except ValueError:
            raise CommandError(f"--today {today!r} is not a date; write it as YYYY-MM-DD.") from None
        if apply and day and day > datetime.date.today():
            raise CommandError("--apply with a --today in the future would remove records before they are due.")
        if schedule:
            self.show_schedule(schools)
            return
        total = held = 0
        for s in schools:
            found = services.apply(s, day) if apply else services.plan(s, day)
            items = [d for key in ORDER for d in found[key]]
            if not items:
                continue
            self.stdout.write(f"{s.name}:")
            for key in ORDER:
                if key == "audit" and found[key]:
                    # Audit entries can be many: one line for the lot.
                    due = [d for d in found[key] if not d.held_by]
                    kept = len(found[key]) - len(due)
                    verb = "removed" if apply else "due"
                    span = f" (#{due[0].pk}–#{due[-1].pk}, due by {max(d.due_on for d in due).isoformat()})" if due else ""
                    self.stdout.write(f"  {verb:<7} audit: {len(due)} entries{span}; {kept} HELD: the record "
                                      "each describes is still kept")
                    total += len(due)
                    held += kept
                    continue
                for d in found[key]:
                    verb = "HELD" if d.held_by else ("removed" if apply else "due")
                    extra = f" ({d.what})" if d.what else ""
                    why = f": {d.held_by}" if d.held_by else ""
                    self.stdout.write(f"  {verb:<7} {key} #{d.pk}{extra}, due {d.due_on.isoformat()} "
                                      f"({_years(d.years)} from {SCHEDULES[key].counted_from}){why}")
                    total += not d.held_by
                    held += bool(d.held_by)
        if apply:
            self.stdout.write(self.style.SUCCESS(f"Removed {total} record(s); {held} held. Each removal is in the audit trail."))
        else:
            self.stdout.write(f"{total} record(s) due, {held} held. Nothing was changed; run with --apply to remove them.")

    def show_schedule(self, schools: Iterable[School]) -> None:
        for s in schools:
            years = services.years_for(s)
            self.stdout.write(f"{s.name}:")
            for key in ORDER:
                sched = SCHEDULES[key]
                own = "" if years[key] == sched.years else f" (school's own; default {sched.years})"
                self.stdout.write(f"  {key:<12} {_years(years[key])} from {sched.counted_from}{own}")
                self.stdout.write(f"               {sched.source}")
        self.stdout.write("Not removed by this command:")
        for key, why in NOT_REMOVED.items():
            self.stdout.write(f"  {key}: {why}")

    def set_rules(self, school: School, pairs: Iterable[str], reason: str) -> None:
        for pair in pairs:
            key, _, value = pair.partition("=")
            if not value.strip().isdigit():
                raise CommandError(f"--set {pair!r}: write TYPE=YEARS, e.g. concerns=50.")
            try:
                services.set_rule(school, key.strip(), int(value), actor=None, reason=reason)
            except ValidationError as exc:
                raise CommandError("; ".join(m for ms in exc.message_dict.values() for m in ms)) from None
            self.stdout.write(f"{school.name}: {key.strip()} kept for {_years(int(value))}.")
