"""CSV files that are safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`, `-` or `@` (and,
in some versions, a tab or carriage return) as a formula, so a pupil's note reading
`=HYPERLINK("http://evil", "click")` would run when the DSL opens an export. Every CSV that
Doorstep writes goes through `writer()` here, which puts a `'` in front of such a cell: the
spreadsheet then shows the text as typed. (OWASP "CSV injection".)"""
from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """The cell as text, with a leading `'` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeWriter:
    """csv.writer whose rows are neutralised cell by cell."""

    # **kwargs are csv.writer's dialect options (delimiter=, quoting=, ...), passed on as they are.
    def __init__(self, file: SupportsWrite[str], **kwargs: Any) -> None:
        self._writer = csv.writer(file, **kwargs)

    def writerow(self, row: Iterable[object]) -> object:
        """What the file's write() returned, as csv.writer's writerow does."""
        result: object = self._writer.writerow([neutralise(v) for v in row])
        return result

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(file: SupportsWrite[str], **kwargs: Any) -> SafeWriter:
    return SafeWriter(file, **kwargs)
