"""Give a school a new version of its policy.

    doorstep set_policy --school "Coteford Junior School" coteford
    doorstep set_policy --school "Coteford Junior School" ./our-policy.toml

The file is validated first; on any error nothing changes. Visits already approved keep the
version they were approved under.
"""
import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.actions import Action
from audit.services import record
from policies.models import SchoolPolicy
from policy_engine import Policy
from policy_engine.schema import PRESET_DIR
from schools.models import School


def read_policy_source(name_or_path):
    """(source_name, toml_text) for a preset name or a policy file path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        if not path.is_file():
            raise CommandError(f"{name_or_path}: no such policy file")
        try:
            return path.name, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{name_or_path}: cannot read the policy file ({exc})") from exc
    preset = PRESET_DIR / f"{name_or_path}.toml"
    if not preset.is_file():
        known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.toml"))) or "none installed"
        raise CommandError(f"{name_or_path}: not a policy file and not a preset (presets: {known})")
    return name_or_path, preset.read_text(encoding="utf-8")


def validate_policy(source_name, text):
    """Parse with the policy engine; a PolicyError names the file and the key."""
    try:
        return Policy.from_toml(text, source=source_name)
    except ValueError as exc:  # PolicyError is a ValueError
        message = str(exc)
        if source_name not in message:
            message = f"{source_name}: {message}"
        raise CommandError(f"Policy not changed. {message}") from exc


def find_school(name):
    matches = list(School.objects.filter(name__iexact=name.strip()))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = "; ".join(School.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No school called {name!r} (schools: {known})")
    raise CommandError(f"More than one school is called {name!r}; rename one first")


def store_policy(school, source_name, text, created_by=None, via="the command line"):
    """A new SchoolPolicy version for the school (versions are never edited), written to the
    school's audit trail in the same transaction: the policy decides who may go where, so a
    change of policy is a change like any other, whoever made it and however."""
    with transaction.atomic():
        # Lock the school row so two operators cannot both take the same version number.
        type(school).objects.select_for_update().get(pk=school.pk)
        latest = school.policy_versions.order_by("-version").values_list("version", flat=True).first() or 0
        stored = SchoolPolicy.objects.create(
            school=school, version=latest + 1, source_name=source_name, toml_text=text, created_by=created_by
        )
        record(actor=created_by, school=school, action=Action.POLICY_ADOPTED, obj=stored,
               summary=f"Policy version {stored.version} adopted from {source_name} ({via})",
               data={"version": stored.version, "source": source_name, "via": via,
                     "operator": getpass.getuser() if created_by is None else ""})
        return stored


class Command(BaseCommand):
    help = "Validate a policy file (or preset) and store it as a school's new policy version."

    def add_arguments(self, parser):
        parser.add_argument("--school", required=True, help="The school's name, as Doorstep shows it")
        parser.add_argument("policy", help="A preset name (coteford, potton, priory, willows, st-hughs) or a .toml file")

    def handle(self, *args, school, policy, **options):
        source_name, text = read_policy_source(policy)
        loaded = validate_policy(source_name, text)
        target = find_school(school)
        stored = store_policy(target, source_name, text)
        name = getattr(loaded, "name", "") or source_name
        self.stdout.write(self.style.SUCCESS(f"{target}: policy version {stored.version} is now {name} ({source_name})"))
