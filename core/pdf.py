"""PDF documents: a Django template rendered to HTML, then to PDF by WeasyPrint.

    from core.pdf import render_pdf
    pdf_bytes = render_pdf("reports/pdf/visit_report.html", {"school": school, ...})

A document template extends "pdf/base.html", which puts the school's letterhead (name,
address, telephone: the `school` in the context) at the top of the first page and links
the print stylesheet `doorstep/print.css`. Relative URLs in a document (the stylesheet,
images) resolve against the project's static files, found the same way as the web pages
find them, so it works before and after collectstatic.

WeasyPrint is only allowed to read those static files and `data:` URLs (a signature is
stored as a PNG data URL): a document never reaches out to the network, whatever text a
user typed into it."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

if TYPE_CHECKING:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

STYLESHEET = "doorstep/print.css"

# WeasyPrint reports every layout step at INFO; that is noise in a server's log.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


def static_root() -> Path:
    """The static directory that holds doorstep/print.css: the base URL of every document."""
    found = finders.find(STYLESHEET)
    if not found:
        raise RuntimeError(f"The print stylesheet {STYLESHEET} is missing from the static files.")
    return Path(found).resolve().parent.parent


def _fetcher_class() -> Callable[[Path], URLFetcher]:
    # Imported here: loading WeasyPrint's libraries takes half a second, and most requests never need it.
    from weasyprint.urls import URLFetcher

    class StaticOnlyFetcher(URLFetcher):
        """Reads files under the static directory and data: URLs; refuses everything else."""

        def __init__(self, root: Path) -> None:
            super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False)
            self.root = root

        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
            if url.startswith("file:"):
                from urllib.parse import unquote, urlsplit

                path = Path(unquote(urlsplit(url).path)).resolve()
                if not path.is_relative_to(self.root):
                    raise ValueError(f"A document may only use Doorstep's static files, not {url}")
            return super().fetch(url, headers)

    return StaticOnlyFetcher


def load_library() -> None:
    """Load WeasyPrint now rather than at the first document: a web process does it while it
    starts (doorstep.wsgi), so that its half second is not one user's wait and its objects are
    among those frozen out of the garbage collector's full collections."""
    import weasyprint  # noqa: F401  (loaded for its side effect: the libraries in memory)


def render_html(template_name: str, context: Mapping[str, Any] | None = None) -> str:
    """The document's HTML (handy for tests and for a browser preview)."""
    return render_to_string(template_name, context or {})


def render_pdf(template_name: str, context: Mapping[str, Any] | None = None) -> bytes:
    """Render a document template to PDF bytes."""
    # Imported here: loading WeasyPrint's libraries takes half a second, and most requests never need it.
    from weasyprint import HTML

    root = static_root()
    html = render_html(template_name, context)
    document = HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=_fetcher_class()(root))
    return document.write_pdf()
