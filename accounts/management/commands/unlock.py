"""doorstep unlock USERNAME: lift a sign-in lock-out before its 30 minutes are up (after
checking with the person that it was them), and say so in the audit trail."""
from axes.utils import reset
from django.core.management.base import BaseCommand

from audit.actions import Action
from audit.services import record

from ...signals import _named_user, school_of_user


class Command(BaseCommand):
    help = "Lift the sign-in lock-out of a username (every address it was locked from)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        removed = reset(username=username)
        user = _named_user(username)
        record(actor=None, school=school_of_user(user), action=Action.SIGNIN_UNLOCKED, obj=user,
               summary=f"Sign-in lock-out of “{username}” lifted from the command line",
               data={"username": username, "attempts_removed": removed})
        self.stdout.write(f"Unlocked “{username}” ({removed} locked address{'es' if removed != 1 else ''} cleared).")
