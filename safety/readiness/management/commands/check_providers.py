"""`doorstep check_providers`: ask each text and email service whether it would take a
message (nothing is sent), keep the answers for the readiness panel, and end any test alarm
nobody ended. Run by `doorstep daily`; a service that does not answer is printed on stderr
and logged as an error, but is not a failure of the job (the check itself worked)."""
from typing import Any

from django.core.management.base import BaseCommand

from safety.readiness.probes import NAMES
from safety.readiness.services import end_lapsed_drills, run_checks


class Command(BaseCommand):
    help = "Check that the text and email services answer (nothing is sent), for the readiness panel."

    def handle(self, *args: Any, **options: Any) -> None:
        end_lapsed_drills()
        rows = run_checks()
        if not rows:
            self.stderr.write("check_providers: texts and emails only go to the log: no service is set up")
        for row in rows:
            line = f"check_providers: {NAMES[row.provider]}: {row.detail}"
            if row.balance is not None:
                line += f" Credit left: {row.balance:,.2f} {row.currency}"
            (self.stdout if row.ok else self.stderr).write(line)
