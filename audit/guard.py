"""The database's own guard on the audit trail (docs/security.md, "Audit").

Doorstep's code never updates or deletes an audit entry (audit.models refuses it for a row,
a queryset and the admin). Behind that, the database refuses too, so that a slip in some
future code, a management shell or a raw SQL statement cannot rewrite history:

- PostgreSQL: a trigger refuses every UPDATE, and every DELETE unless the transaction has
  set `doorstep.audit_purge = on` (SET LOCAL: it ends with the transaction).
- SQLite: two triggers do the same; the DELETE one asks the SQL function
  `doorstep_audit_purge_allowed()`, which Doorstep registers on its own connections and which
  answers yes only inside `allow_purge()`. Any other program opening the file (the sqlite3
  shell) has no such function, so its DELETE fails too.

Deleting audit entries is allowed in exactly two places, each inside `allow_purge()`:
`load_demo --reset` (the demo's own entries) and the retention command (entries past their
retention period, which writes an entry saying what it removed). The test database's flush
(between transactional tests) also uses it. UPDATE is never allowed.
"""
import threading
from contextlib import contextmanager

from django.db import connection, connections, transaction

_state = threading.local()

PG_SETTING = "doorstep.audit_purge"
SQLITE_FUNCTION = "doorstep_audit_purge_allowed"


def purge_allowed():
    return getattr(_state, "allowed", False)


@contextmanager
def allow_purge(using=None):
    """Let this transaction delete audit entries (and nothing else: updates stay refused)."""
    conn = connections[using] if using else connection
    with transaction.atomic(using=conn.alias):
        previous = purge_allowed()
        _state.allowed = True
        try:
            if conn.vendor == "postgresql":
                with conn.cursor() as cursor:
                    cursor.execute("SELECT set_config(%s, 'on', true)", [PG_SETTING])
            yield
            # On an error the savepoint's rollback undoes the setting; on success the
            # surrounding transaction goes on, so switch it off again here.
            if conn.vendor == "postgresql" and not previous:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT set_config(%s, 'off', true)", [PG_SETTING])
        finally:
            _state.allowed = previous


def register_sqlite_function(sender, connection, **kwargs):
    """connection_created handler: give Doorstep's SQLite connections the purge check."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 0, lambda: 1 if purge_allowed() else 0,
                                              deterministic=False)


TABLE = "audit_auditentry"

SQLITE_INSTALL = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'The audit trail is append-only: entries are never changed.'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON {TABLE}
        WHEN NOT {SQLITE_FUNCTION}()
        BEGIN SELECT RAISE(ABORT, 'The audit trail is append-only: entries are never deleted.'); END""",
]
SQLITE_REMOVE = ["DROP TRIGGER IF EXISTS audit_entry_no_update", "DROP TRIGGER IF EXISTS audit_entry_no_delete"]

PG_INSTALL = [
    f"""CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('{PG_SETTING}', true) = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = 'The audit trail is append-only: ' || TG_OP || ' refused.';
        END $$ LANGUAGE plpgsql""",
    f"""CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()""",
]
PG_REMOVE = [f"DROP TRIGGER IF EXISTS audit_entry_append_only ON {TABLE}",
             "DROP FUNCTION IF EXISTS audit_entry_append_only()"]


def installed_sql(vendor):
    return {"sqlite": SQLITE_INSTALL, "postgresql": PG_INSTALL}.get(vendor, [])


def removed_sql(vendor):
    return {"sqlite": SQLITE_REMOVE, "postgresql": PG_REMOVE}.get(vendor, [])


def trigger_names(conn=None):
    """The guard triggers present on the audit table (for the tests and `check`)."""
    conn = conn or connection
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
        elif conn.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [TABLE])
        else:
            return set()
        return {row[0] for row in cursor.fetchall()}


def reinstall_if_missing(sender=None, using="default", **kwargs):
    """post_migrate: SQLite drops a table's triggers when a migration rebuilds the table, so
    put the guard back after every migrate (a no-op when it is there)."""
    conn = connections[using]
    if TABLE not in conn.introspection.table_names():
        return
    expected = {"sqlite": {"audit_entry_no_update", "audit_entry_no_delete"},
                "postgresql": {"audit_entry_append_only"}}.get(conn.vendor, set())
    if expected - trigger_names(conn):
        with conn.cursor() as cursor:
            for statement in removed_sql(conn.vendor) + installed_sql(conn.vendor):
                cursor.execute(statement)
