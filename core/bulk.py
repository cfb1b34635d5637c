"""Writing rows without the ORM building each statement: many new rows of one model at once
(insert_new, or insert_rows from plain mappings), or the one row a check-in writes at a time
(insert_one, update_columns).

QuerySet.bulk_create builds its INSERT through the SQL compiler, which asks every field of every
row for its database value (pre_save, get_db_prep_save, a placeholder each): for the watchdog's
bursts (ten messages, a step and two audit entries an alert, hundreds of alerts a transaction)
that was about half of the time an alert took to raise. Here the question is asked once a
column: values the database drivers take as they are (text, whole numbers, true/false, a
foreign key's id) go straight into the database (SQLite: one executemany of an INSERT;
PostgreSQL: COPY); plain times, dates, decimals and JSON take only the backend's own step, and
anything else the field's whole conversion, so the rows written are the rows bulk_create would
write (tested field by field on both databases). No signals are sent, as with bulk_create."""
import datetime
import decimal
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import DatabaseError, connections, models, router
from django.utils import timezone

# Fields whose Python value is already what both SQLite and PostgreSQL store.
_AS_THEY_ARE = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def _to_db(field: models.Field[Any, Any], connection: Any) -> Callable[[Any], Any]:
    """A column's value as the database driver takes it, as the field's get_db_prep_save gives it."""
    if isinstance(field, models.DateTimeField):
        # An aware time (all of Doorstep's) needs only the backend's own step; anything else
        # (a naive time, a date) takes the field's whole path and its warnings.
        adapt = connection.ops.adapt_datetimefield_value

        def moment(value: Any) -> Any:
            if value is None or (isinstance(value, datetime.datetime) and value.tzinfo is not None):
                return adapt(value)
            return field.get_db_prep_save(value, connection)
        return moment
    if isinstance(field, models.DateField):
        adapt_date = connection.ops.adapt_datefield_value

        def day(value: Any) -> Any:
            if value is None or type(value) is datetime.date:
                return adapt_date(value)
            return field.get_db_prep_save(value, connection)
        return day
    if isinstance(field, models.DecimalField):
        adapt_decimal = connection.ops.adapt_decimalfield_value
        digits, places = field.max_digits, field.decimal_places

        def number(value: Any) -> Any:
            if isinstance(value, decimal.Decimal) and value.is_finite():
                return adapt_decimal(value, digits, places)
            return field.get_db_prep_save(value, connection)
        return number
    if isinstance(field, models.JSONField):
        adapt_json, encoder = connection.ops.adapt_json_value, field.encoder

        def document(value: Any) -> Any:
            if value is None:  # SQL NULL, as the field's own get_db_prep_save gives
                return None
            if isinstance(value, (dict, list, str, int, float, bool)):
                return adapt_json(value, encoder)
            return field.get_db_prep_save(value, connection)
        return document
    return lambda value: field.get_db_prep_save(value, connection)


def _as_it_is(field: models.Field[Any, Any]) -> bool:
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    return isinstance(target, _AS_THEY_ARE)


def _column_value(field: models.Field[Any, Any], connection: Any) -> Callable[[models.Model], Any]:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda obj: field.get_db_prep_save(field.pre_save(obj, add=True), connection)
    attname = field.attname
    if _as_it_is(field):
        return lambda obj: getattr(obj, attname)
    convert = _to_db(field, connection)
    return lambda obj: convert(getattr(obj, attname))


def _columns(model: type[models.Model], connection: Any) -> list[tuple[models.Field[Any, Any], str]]:
    return [(f, f.column) for f in model._meta.concrete_fields
            if f.column is not None and not isinstance(f, models.AutoField)]


def insert_new(model: type[models.Model], objs: Sequence[models.Model]) -> int:
    """INSERT `objs` (new, unsaved instances of `model`) in one executemany on the caller's
    transaction; returns how many. Every concrete field is written except an automatic id."""
    if not objs:
        return 0
    connection = connections[router.db_for_write(model)]
    columns = _columns(model, connection)
    getters = [_column_value(f, connection) for f, _ in columns]
    return _write(model, connection, columns, [tuple(get(obj) for get in getters) for obj in objs])


def insert_rows(model: type[models.Model], rows: Sequence[Mapping[str, Any]], *,
                alike: Mapping[str, Any] | None = None) -> int:
    """insert_new() for rows given as {attname: value} rather than as instances, for the thousands
    of rows one pass writes (the referral scan's cases and their audit entries), where making each
    a model instance cost more than writing it. `alike` holds what every row shares (the school,
    the day, the moment of the write), given and converted once; each row gives the same columns
    as the first, and a column given by neither takes its field's default, worked out once for
    the whole call (an automatic time: now)."""
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    columns = _columns(model, connection)
    alike = alike or {}
    own = rows[0].keys()
    unknown = (own | alike.keys()) - {f.attname for f, _ in columns}
    twice = own & alike.keys()
    if unknown or twice:
        raise ValueError(f"{model.__name__} rows: {', '.join(sorted(unknown))} not a column of it"
                         if unknown else f"{model.__name__} rows: {', '.join(sorted(twice))} given in each row and as alike")
    unlike = next((n for n, row in enumerate(rows, 1) if row.keys() != own), None)
    if unlike is not None:
        raise ValueError(f"{model.__name__} row {unlike} gives {', '.join(sorted(rows[unlike - 1]))}; "
                         f"the first gave {', '.join(sorted(own))}")
    # The rows' own columns first, each row's values taken in one step; then the shared ones.
    varying = [(f, c) for f, c in columns if f.attname in own]
    shared = [(f, c) for f, c in columns if f.attname not in own]
    fixed = tuple(_shared_value(f, alike, connection) for f, _ in shared)
    take = operator.itemgetter(*(f.attname for f, _ in varying))
    converts = [(i, _to_db(f, connection)) for i, (f, _) in enumerate(varying) if not _as_it_is(f)]
    one = len(varying) == 1

    def values(row: Mapping[str, Any]) -> tuple[Any, ...]:
        found = [take(row)] if one else list(take(row))
        for i, convert in converts:
            found[i] = convert(found[i])
        return tuple(found) + fixed

    return _write(model, connection, varying + shared, [values(row) for row in rows])


def _shared_value(field: models.Field[Any, Any], alike: Mapping[str, Any], connection: Any) -> Any:
    if field.attname in alike:
        value = alike[field.attname]
    elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        value = timezone.now()
    else:
        value = field.get_default()
    return value if _as_it_is(field) else _to_db(field, connection)(value)


def _write(model: type[models.Model], connection: Any, columns: list[tuple[models.Field[Any, Any], str]],
           rows: list[tuple[Any, ...]]) -> int:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(c) for _, c in columns)
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


# One row at a time: the few rows every check-in writes (its event, its audit entry, its watch's
# changed columns). Saving them through the ORM built the statement anew each time, which cost
# more than the database took to run it; here each statement's text and each column's conversion
# are made once a process, per model and database engine.
_INSERTS: dict[tuple[type[models.Model], str], tuple[str, list[Callable[[models.Model], Any]]]] = {}
_UPDATES: dict[tuple[type[models.Model], tuple[str, ...], str], tuple[str, list[Callable[[models.Model], Any]]]] = {}


def _updated_value(field: models.Field[Any, Any], connection: Any) -> Callable[[models.Model], Any]:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        # As save() does on an update: an auto_now time is set now, an auto_now_add one kept.
        return lambda obj: field.get_db_prep_save(field.pre_save(obj, add=False), connection)
    return _column_value(field, connection)


def insert_one(obj: models.Model) -> None:
    """INSERT one new, unsaved instance on the caller's transaction and set its id, the row being
    the one insert_new() (and so save()) would write. No signals are sent: nothing listens for
    the models this writes (a test keeps it so)."""
    if obj.pk is not None:
        raise ValueError(f"{obj!r} is already saved: insert_one() writes new rows only.")
    model = type(obj)
    connection = connections[router.db_for_write(model)]
    made = _INSERTS.get((model, connection.vendor))
    if made is None:
        columns = _columns(model, connection)
        quote = connection.ops.quote_name
        pk = model._meta.pk
        if pk is None or not connection.features.can_return_columns_from_insert:
            raise TypeError(f"insert_one() needs an id the database gives back ({model.__name__}).")
        text = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for _, c in columns)})"
                f" VALUES ({', '.join(['%s'] * len(columns))}) RETURNING {quote(str(pk.column))}")
        made = _INSERTS[(model, connection.vendor)] = (text, [_column_value(f, connection) for f, _ in columns])
    text, getters = made
    with connection.cursor() as cursor:
        cursor.execute(text, [get(obj) for get in getters])
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias


def update_columns(obj: models.Model, attnames: Sequence[str]) -> None:
    """UPDATE these columns of a saved row to the instance's values, as save(update_fields=…)
    would (no signals; an automatic time among them is set now, as save() sets it)."""
    model = type(obj)
    connection = connections[router.db_for_write(model)]
    key = (model, tuple(attnames), connection.vendor)
    made = _UPDATES.get(key)
    if made is None:
        fields = [f for f in (model._meta.get_field(name) for name in attnames)  # by name or attname
                  if isinstance(f, models.Field) and f.column is not None]
        if len(fields) != len(attnames):
            raise ValueError(f"Not all of {attnames} are columns of {model.__name__}.")
        quote = connection.ops.quote_name
        pk = model._meta.pk
        if pk is None:
            raise TypeError(f"{model.__name__} has no primary key.")
        text = (f"UPDATE {quote(model._meta.db_table)} SET "
                + ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
                + f" WHERE {quote(str(pk.column))} = %s")
        made = _UPDATES[key] = (text, [_updated_value(f, connection) for f in fields])
    text, getters = made
    with connection.cursor() as cursor:
        cursor.execute(text, [get(obj) for get in getters] + [obj.pk])
        if cursor.rowcount != 1:
            # As save(update_fields=…) refuses: the row is gone, and nothing was written.
            raise DatabaseError(f"{model.__name__} {obj.pk} was not there to update.")
