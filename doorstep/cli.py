"""The `doorstep` console command for operators.

    doorstep policy check FILE
    doorstep policy show NAME|FILE [--json]
    doorstep policy gaps NAME|FILE
    doorstep policy evaluate --policy NAME|FILE PLAN.json
    doorstep <any Django management command>   (migrate, load_demo, start, ...)
"""
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "policy":
        # Pure policy commands need no database or Django settings.
        from policy_engine.cli import main as policy_main

        return policy_main(argv[1:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "doorstep.settings")
    # Django only once its settings module is named, and never for the policy commands above.
    from django.core.management import execute_from_command_line

    execute_from_command_line(["doorstep", *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
