"""Counting the statements a test makes, for the tests that keep a page's or a read's queries
constant as the data grows."""
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def own_queries() -> Iterator[list[dict[str, str]]]:
    """The statements this thread makes inside the block, as CaptureQueriesContext gives them
    ({"sql": ...}, the values in place). This thread's only: on SQLite a browser test's live
    server (one per test session) shares the test's connection, and a page still answering its
    last poll would otherwise be counted among the test's statements."""
    made: list[dict[str, str]] = []
    me = threading.get_ident()

    def note(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if threading.get_ident() == me:
            shown = sql if many else connection.ops.last_executed_query(context["cursor"], sql, params)
            made.append({"sql": shown})
        return result

    with connection.execute_wrapper(note):
        yield made


def shapes(queries: list[dict[str, str]]) -> list[str]:
    """Each statement with its numbers and strings blanked, so two lists can be compared."""
    return [re.sub(r"'[^']*'|\b\d+\b", "0", q["sql"]) for q in queries]
