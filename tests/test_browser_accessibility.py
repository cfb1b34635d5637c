"""Every page every demo role can open passes axe-core's WCAG 2.2 AA checks, at a phone's width
and at a desk's. The page list comes from the URL patterns (doorstep.permission_places.page_paths),
so a new page is checked the day it is added: one whose address needs a record tests/page_list.py
does not know how to find fails until its RECORDS says which record to open.

One live server, one browser, one page per person: each page is loaded once at the desk size,
checked, narrowed to the phone size and checked again. axe-core is vendored, pinned, in
tests/vendor/axe-core/ (see its README)."""
import os
import time
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from doorstep.management.commands.load_demo import DEMO_PASSWORD
from schools.models import School

from tests.browser_support import DESKTOP, PHONE, sign_in
from tests.page_list import addresses

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
AXE_VERSION = "4.14.1"
# The Public Sector Bodies Accessibility Regulations 2018 point at WCAG 2.2 AA.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]

# DOORSTEP_A11Y_PROGRESS=file: each page checked, with the time, for seeing where the minutes go.
PROGRESS = open(os.environ["DOORSTEP_A11Y_PROGRESS"], "a") if os.environ.get("DOORSTEP_A11Y_PROGRESS") else None

# The demo's people, one per role at Coteford, and the trust administrator.
PEOPLE = ["head", "deputy", "dsl", "sbm", "office", "attendance", "teacher", "family", "trust"]


def violations(page: Any) -> list[str]:
    page.add_script_tag(content=AXE)
    found = page.evaluate(
        # Only violations are reported back: axe skips gathering what passed, which halves its time.
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']}))"
        ".violations"
        ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))",
        WCAG_AA)
    return [f"{v['id']} ({v['help']}): {', '.join(v['nodes'])}" for v in found]


class _Shape(HTMLParser):
    """Collects each element inside <main> with its class, role and type, and the names of its
    ARIA attributes (not their words)."""

    KEPT = ("class", "role", "type", "scope", "tabindex", "disabled")

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.parts = False, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = self.inside or tag == "main"
        if self.inside:
            kept = sorted(f"{k}={v}" if k in self.KEPT else k for k, v in attrs if k in self.KEPT or k.startswith("aria-"))
            self.parts.append(tag + "[" + " ".join(kept) + "]")

    def handle_endtag(self, tag: str) -> None:
        self.inside = self.inside and tag != "main"


def shape(html: str) -> str:
    """The page's content as axe sees its structure, without the words: two people whose pages
    have the same shape get the same findings (the menu, which differs by role, is checked on
    each person's first page)."""
    parser = _Shape()
    parser.feed(html)
    return ";".join(parser.parts)


def test_every_page_of_every_role_passes_wcag_2_2_aa_at_both_sizes(browser, live_server):
    if connection.vendor != "sqlite":
        # The markup does not depend on the database, and this check is the suite's longest
        # test: it runs once, in the SQLite pass. The pages themselves are loaded on PostgreSQL
        # by tests/test_pages.py and the view tests.
        pytest.skip("the accessibility check runs in the SQLite pass")
    call_command("load_demo", stdout=StringIO())
    school = School.objects.get(name="Coteford Junior School")
    paths, unknown = addresses(school)
    assert not unknown, f"tell RECORDS which record to open for: {unknown}"
    # The API's documentation is Swagger UI, a third-party page for developers, drawn by its own
    # script: the accessibility statement says it is not checked (out of the regulations' scope).
    paths.remove(reverse("api:openapi-view"))

    started = time.monotonic()
    failures: list[str] = []
    checked, skipped_same_shape = 0, 0
    seen: set[tuple[str, str]] = set()
    for username in [None, *PEOPLE]:  # first nobody signed in: the sign-in page and the statement
        # axe's script is added to each page: the CSP would refuse it, as it refuses any script
        # Doorstep does not serve, so this browser alone is told to let it in.
        context = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Europe/London", bypass_csp=True)
        page = context.new_page()
        page.set_default_navigation_timeout(20_000)
        if username is not None:
            # The trust administrator is on no school's staff: signing in lands on the trust's set-up.
            sign_in(page, live_server, username, password=DEMO_PASSWORD,
                    next_url=reverse("setup:start") if username == "trust" else None)
        first_page = True
        for path in paths if username else [reverse("login"), reverse("accessibility")]:
            # Asked for first without drawing it (fast): only a page not yet seen in this shape is drawn and checked.
            answer = context.request.get(live_server.url + path, max_redirects=0)
            html = answer.text() if "text/html" in answer.headers.get("content-type", "") else ""
            if answer.status in (403, 404):
                key = ("refused", "")  # one refusal page is checked; they are all the same page
            elif answer.status != 200 or not html.lstrip()[:15].lower().startswith("<!doctype html"):
                continue  # sent elsewhere, a file, or a part of a page fetched by htmx: checked where it is shown
            else:
                key = (path.rstrip("0123456789/"), shape(html))
            if key in seen and not first_page:
                skipped_same_shape += 1
                continue
            seen.add(key)
            first_page = False
            page.goto(live_server.url + path)
            if PROGRESS:
                print(f"{time.monotonic() - started:6.1f} s {username} {path}", file=PROGRESS, flush=True)
            for size, viewport in (("desk", DESKTOP), ("phone", PHONE)):
                page.set_viewport_size(viewport)
                failures += [f"{username} {path} ({size}): {v}" for v in violations(page)]
                checked += 1
            page.set_viewport_size(DESKTOP)
        context.close()
    if PROGRESS:
        print(f"{checked} checks, {skipped_same_shape} pages skipped as already checked in the same shape, "
              f"{time.monotonic() - started:.0f} s", file=PROGRESS, flush=True)
    # The published statement says what this test does; it must name the checker as pinned here.
    assert f"axe-core {AXE_VERSION}" in Client().get(reverse("accessibility")).content.decode()
    assert checked > 100, checked  # the demo loaded and people signed in: this is no empty pass
    assert not failures, f"{len(failures)} WCAG 2.2 AA violations in {checked} checks:\n" + "\n".join(failures)
