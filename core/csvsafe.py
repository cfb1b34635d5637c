"""CSV files that are safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`, `-` or `@` (and,
in some versions, a tab or carriage return) as a formula, so a pupil's note reading
`=HYPERLINK("http://evil", "click")` would run when the DSL opens an export. Every CSV that
Doorstep writes goes through `writer()` here, which puts a `'` in front of such a cell: the
spreadsheet then shows the text as typed. (OWASP "CSV injection".)"""
import csv

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """The cell as text, with a leading `'` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeWriter:
    """csv.writer whose rows are neutralised cell by cell."""

    def __init__(self, file, **kwargs):
        self._writer = csv.writer(file, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(file, **kwargs) -> SafeWriter:
    return SafeWriter(file, **kwargs)
