"""Give a school a new version of its policy.

    doorstep set_policy --school "Coteford Junior School" coteford
    doorstep set_policy --school "Coteford Junior School" ./our-policy.toml

The file is validated first; on any error nothing changes. Visits already approved keep the
version they were approved under; they are re-checked against the new one and the headteacher
is told of any it would now block, as when the policy is published on the policy page
(visits.policy_change; docs/policy-format.md). Reading, validating and storing a version is
policies.services; this command finds the school and reports.
"""
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from policies.services import PolicyRejected, read_policy_source, store_policy, validate_policy
from schools.models import School
from visits.policy_change import recheck_after_publishing


def find_school(name: str) -> School:
    matches = list(School.objects.filter(name__iexact=name.strip()))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = "; ".join(School.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No school called {name!r} (schools: {known})")
    raise CommandError(f"More than one school is called {name!r}; rename one first")


class Command(BaseCommand):
    help = "Validate a policy file (or preset) and store it as a school's new policy version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", required=True, help="The school's name, as Doorstep shows it")
        parser.add_argument("policy", help="A preset name (coteford, potton, priory, willows, st-hughs) or a .toml file")

    def handle(self, *args: Any, school: str, policy: str, **options: Any) -> None:
        try:
            source_name, text = read_policy_source(policy)
            loaded = validate_policy(source_name, text)
        except PolicyRejected as exc:
            raise CommandError(str(exc)) from exc
        target = find_school(school)
        stored = store_policy(target, source_name, text)
        self.stdout.write(self.style.SUCCESS(f"{target}: policy version {stored.version} is now {loaded.name} ({source_name})"))
        blocked = recheck_after_publishing(None, stored)
        if blocked:
            self.stdout.write(self.style.WARNING(
                f"{len(blocked)} visit(s) already approved would not be allowed under it; the headteacher has been told: "
                + ", ".join(f"visit {t.visit.pk}" for t in blocked)))
