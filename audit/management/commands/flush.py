"""Django's flush, allowed to empty the audit table (audit.guard).

Flushing the whole database is what the test runner does between transactional tests and
what an operator does to start again from nothing; either way it is everything or nothing,
so the audit guard lets it through rather than leaving a half-emptied database."""
from django.core.management.commands.flush import Command as FlushCommand

from audit.guard import allow_purge


class Command(FlushCommand):
    def handle(self, **options):
        with allow_purge(using=options["database"]):
            return super().handle(**options)
