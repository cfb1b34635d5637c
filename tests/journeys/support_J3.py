"""Helpers for the DSL, business manager and attendance officer journeys (no tests here)."""
from playwright.sync_api import Page

from tests.browser_support import DESKTOP, PHONE, shoot


def fits(page: Page) -> None:
    """The page does not scroll sideways at the size it is open at."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways"


def shoot_both(page: Page, name: str) -> None:
    """A screenshot at the desk's and the phone's size (for looking at), checking neither scrolls
    sideways; the page is left at the size it was."""
    before = page.viewport_size or DESKTOP
    for size, label in ((DESKTOP, "desk"), (PHONE, "phone")):
        page.set_viewport_size(size)
        fits(page)
        shoot(page, f"J3-{name}-{label}")
    page.set_viewport_size(before)


def pdf_opens(page: Page, href: str) -> bytes:
    """The PDF behind a link, fetched with the page's own session (a headless browser saves a
    PDF rather than showing it): its bytes, after checking it is a PDF."""
    origin = "/".join(page.url.split("/", 3)[:3])
    response = page.context.request.get(href if href.startswith("http") else origin + href)
    assert response.status == 200, f"{href}: {response.status}"
    assert response.headers["content-type"].startswith("application/pdf")
    body = response.body()
    assert body.startswith(b"%PDF")
    return body
