"""Whole rows read with SQL written out once, turned into model instances as the ORM would.

For the few reads on the check-in path only. A check-in is a handful of small reads by primary
or unique key, and building each query through the ORM (compiling the filters, the joins, the
select list, the converters) cost several times what running it did: a check-in spent most of
its time there (docs/benchmarks.md, "Check-ins against healthchecks' ping"). Here each query's
text is made once a process, from the models' own table and column names, so a renamed column
or a new field is followed without touching the SQL; each value passes through the converters
the ORM's compiler would apply (SQLite's text times become aware datetimes, JSON is parsed), and
the instance is made by `Model.from_db`, as a queryset makes it. Everything else in Doorstep reads
through the ORM."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

from django.db import connection as default_connection
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


class Columns(Generic[M]):
    """Every concrete column of `model` under a table alias: the select list to put in a query,
    and how to make an instance from that part of a row."""

    def __init__(self, model: type[M], alias: str):
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self._pk_at = self.fields.index(model._meta.pk)
        self.width = len(self.fields)
        self._converters: dict[str, list[tuple[Any, list[Converter]]]] = {}

    def select(self, connection: BaseDatabaseWrapper = default_connection) -> str:
        quote = connection.ops.quote_name
        # A concrete field always has a column.
        return ", ".join(f"{quote(self.alias)}.{quote(cast(str, f.column))}" for f in self.fields)

    def _converters_for(self, connection: BaseDatabaseWrapper) -> list[tuple[Any, list[Converter]]]:
        # As SQLCompiler.get_converters does for a column: the backend's own, then the field's.
        found = self._converters.get(connection.vendor)
        if found is None:
            found = []
            for field in self.fields:
                column = field.get_col(self.alias)
                found.append((column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)))
            self._converters[connection.vendor] = found
        return found

    def build(self, values: Sequence[Any], connection: BaseDatabaseWrapper = default_connection) -> M:
        """An instance from this model's part of a row (in `fields` order), as read from the database."""
        converted = []
        for (column, converters), value in zip(self._converters_for(connection), values, strict=True):
            for convert in converters:
                value = convert(value, column, connection)
            converted.append(value)
        return self.model.from_db(connection.alias, self.attnames, converted)

    def build_or_none(self, values: Sequence[Any], connection: BaseDatabaseWrapper = default_connection) -> M | None:
        """build(), or None when the row has none of this model (an outer join that found no row)."""
        if values[self._pk_at] is None:  # a real row's primary key is never NULL
            return None
        return self.build(values, connection)


class Query:
    """A query's text with `{name}` places for select lists and table names, filled once per
    database engine (SQLite and PostgreSQL quote alike, but `FOR UPDATE` is PostgreSQL's only)."""

    def __init__(self, text: Callable[[BaseDatabaseWrapper], str]):
        self._text = text
        self._made: dict[str, str] = {}

    def sql(self, connection: BaseDatabaseWrapper = default_connection) -> str:
        made = self._made.get(connection.vendor)
        if made is None:
            made = self._made[connection.vendor] = self._text(connection)
        return made

    def rows(self, params: Sequence[Any], connection: BaseDatabaseWrapper = default_connection) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(self.sql(connection), params)
            found: list[tuple[Any, ...]] = cursor.fetchall()
            return found


def table(model: type[models.Model], connection: BaseDatabaseWrapper = default_connection) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[models.Model], name: str, connection: BaseDatabaseWrapper = default_connection) -> str:
    """The quoted column of a field, by the field's name (`staff` gives `"staff_id"`)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return connection.ops.quote_name(cast(str, field.column))


def for_update(connection: BaseDatabaseWrapper, of: str = "", no_key: bool = False) -> str:
    """The row-locking clause on PostgreSQL; nothing on SQLite, where the transaction itself
    (BEGIN IMMEDIATE) already holds the only write lock."""
    if not connection.features.has_select_for_update:
        return ""
    clause = " FOR NO KEY UPDATE" if no_key else " FOR UPDATE"
    return clause + (f" OF {connection.ops.quote_name(of)}" if of else "")
