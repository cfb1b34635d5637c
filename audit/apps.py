from django.apps import AppConfig
from django.db import connections
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate

from .guard import register_sqlite_function, reinstall_if_missing


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self):
        connection_created.connect(register_sqlite_function, dispatch_uid="doorstep-audit-guard")
        post_migrate.connect(reinstall_if_missing, sender=self, dispatch_uid="doorstep-audit-guard-reinstall")
        for conn in connections.all(initialized_only=True):  # any opened before this ran
            if conn.connection is not None:
                register_sqlite_function(None, conn)
