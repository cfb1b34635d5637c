"""Every form on every page, filled with hostile values, answers without a server error.

Schemathesis fuzzes the API from its OpenAPI document (tests/api/test_api_fuzz.py); the pages have
no such document, so this does the same for them by hand: it walks every page a person can
reach by following links (as the headteacher, who sees the most, and as the office), reads
each form's fields from the page itself, and posts seeded mixtures of values that have broken
web forms before: numbers too large for any column, negative and fractional numbers, dates
that do not exist, very long text, markup, SQL, right-to-left and astral characters. A
refusal (400, 403, 404, the form again) is fine; a 500 is not."""
import random
from html.parser import HTMLParser

import pytest
from django.test import Client

from visits import services as visit_services

from tests.security.test_sensitive_reads import walk

pytestmark = pytest.mark.django_db

HOSTILE = ["", " ", "0", "-1", "1.5", "9" * 25, "2026-02-30", "31/13/2026", "25:61", "x" * 5000,
           "<script>alert(1)</script>", "' OR 1=1 --", "\u202egnp.exe", "😀" * 50, "null", "[]", "%00"]
TRIES_PER_FORM = 4
NOT_POSTED = ("/accounts/logout/", "/accounts/password/", "/school/switch/")


class Forms(HTMLParser):
    """[(action, {field: [choices]})] for each POST form on a page."""

    def __init__(self):
        super().__init__()
        self.forms, self._current, self._select = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._current = (a.get("action") or "", {})
            self.forms.append(self._current)
        elif self._current is None or not a.get("name") or a["name"] == "csrfmiddlewaretoken":
            return
        elif tag in ("input", "textarea"):
            self._current[1].setdefault(a["name"], []).append(a.get("value", ""))
        elif tag == "select":
            self._select = a["name"]
            self._current[1].setdefault(a["name"], [])
        if tag == "option" and self._select and self._current is not None:
            self._current[1][self._select].append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None


@pytest.mark.parametrize("role", ["head", "office"])
def test_no_form_answers_hostile_values_with_a_server_error(coteford, role):
    visit = visit_services.propose(coteford.officer, **coteford.visit_kwargs())
    visit_services.approve(coteford.head, visit)
    staff = getattr(coteford, role)
    client = Client(raise_request_exception=False)
    client.force_login(staff.user)
    forms = {}
    for path, html, _ in walk(client):
        parser = Forms()
        parser.feed(html)
        for action, fields in parser.forms:
            target = action if action.startswith("/") else path
            if fields and not target.startswith(NOT_POSTED):
                forms.setdefault(target, fields)
    assert len(forms) >= 5, sorted(forms)  # the office has fewer forms than the head
    rng = random.Random(f"{role}-forms")  # the same mixtures on every run
    failures = []
    for target, fields in sorted(forms.items()):
        for _ in range(TRIES_PER_FORM):
            data = {name: rng.choice(HOSTILE + [c for c in choices if c][:3]) for name, choices in fields.items()}
            client.force_login(staff.user)
            response = client.post(target, data)
            if response.status_code >= 500:
                failures.append(f"POST {target} {data!r:.300}: {response.status_code}")
    assert not failures, "\n".join(failures)
