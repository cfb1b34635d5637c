"""Write docs/permissions.md from the code (people.permissions and permission_places)."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from doorstep.permission_places import render

DEFAULT_PATH = Path(settings.BASE_DIR) / "docs" / "permissions.md"


class Command(BaseCommand):
    help = "Write the permission matrix (docs/permissions.md) from the code; --check only compares."

    def add_arguments(self, parser):
        parser.add_argument("--output", default=str(DEFAULT_PATH), help="where to write (default docs/permissions.md)")
        parser.add_argument("--check", action="store_true", help="fail if the file differs from the code")

    def handle(self, *args, output, check=False, **options):
        text = render()
        path = Path(output)
        if check:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                raise CommandError(f"{path} does not match the code: run `doorstep permissions_doc`.")
            self.stdout.write(f"{path} matches the code.")
            return
        path.write_text(text, encoding="utf-8")
        self.stdout.write(f"Wrote {path}.")
