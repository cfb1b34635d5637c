"""Writing many new rows of one model at once, when nobody needs their ids back.

QuerySet.bulk_create builds its INSERT through the SQL compiler, which asks every field of every
row for its database value (pre_save, get_db_prep_save, a placeholder each): for the watchdog's
bursts (ten messages, a step and two audit entries an alert, hundreds of alerts a transaction)
that was about half of the time an alert took to raise. Here the question is asked once a
column: values the database drivers take as they are (text, whole numbers, true/false, a
foreign key's id) go straight into the database (SQLite: one executemany of an INSERT;
PostgreSQL: COPY); dates, times and JSON still go through the
field's own conversion, so the rows written are the rows bulk_create would write (tested
field by field on both databases). No signals are sent and no ids are set on the objects, as
with bulk_create on a backend that cannot return them."""
import datetime
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models, router

# Fields whose Python value is already what both SQLite and PostgreSQL store.
_AS_THEY_ARE = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def _column_value(field: models.Field[Any, Any], connection: Any) -> Callable[[models.Model], Any]:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda obj: field.get_db_prep_save(field.pre_save(obj, add=True), connection)
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    attname = field.attname
    if isinstance(target, _AS_THEY_ARE):
        return lambda obj: getattr(obj, attname)
    if isinstance(field, models.DateTimeField):
        # An aware time (all of Doorstep's) needs only the backend's own step; anything else
        # (a naive time, a date) takes the field's whole path and its warnings.
        adapt = connection.ops.adapt_datetimefield_value

        def moment(obj: models.Model) -> Any:
            value = getattr(obj, attname)
            if value is None or (isinstance(value, datetime.datetime) and value.tzinfo is not None):
                return adapt(value)
            return field.get_db_prep_save(value, connection)
        return moment
    return lambda obj: field.get_db_prep_save(getattr(obj, attname), connection)


def insert_new(model: type[models.Model], objs: Sequence[models.Model]) -> int:
    """INSERT `objs` (new, unsaved instances of `model`) in one executemany on the caller's
    transaction; returns how many. Every concrete field is written except an automatic id."""
    if not objs:
        return 0
    connection = connections[router.db_for_write(model)]
    columns = [(f, f.column) for f in model._meta.concrete_fields
               if f.column is not None and not isinstance(f, models.AutoField)]
    getters = [_column_value(f, connection) for f, _ in columns]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(c) for _, c in columns)
    rows = [tuple(get(obj) for get in getters) for obj in objs]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: no statement text to build and parse for thousands of parameters (a
            # multi-row INSERT spent most of its time there), each row sent as it is made.
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})", rows)
    return len(rows)
