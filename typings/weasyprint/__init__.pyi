# WeasyPrint ships no type information. These are the parts Doorstep uses (core/pdf.py),
# written from WeasyPrint 70's signatures, so that code is checked rather than typed as Any.
from pathlib import Path

from weasyprint.urls import URLFetcher

class HTML:
    def __init__(
        self,
        guess: object = None,
        filename: str | Path | None = None,
        url: str | None = None,
        file_obj: object = None,
        string: str | None = None,
        encoding: str | None = None,
        base_url: str | Path | None = None,
        url_fetcher: URLFetcher | None = None,
        media_type: str = "print",
    ) -> None: ...
    # With no target the PDF comes back as bytes (Doorstep never passes a target).
    def write_pdf(self, target: None = None) -> bytes: ...
