"""A record number too large for any column, on every page: in the address, the query string
or a form, the answer is a 400 that says what was wrong, never a server error. (Found as
500s on /school/switch/ and /visits/lists/new/; this sweeps every page, not those two.)"""
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

BIG = "9" * 25  # past 64 bits: no SQLite or PostgreSQL integer column can hold it
# Every name a Doorstep form or query string uses for a record's number.
FIELDS = ["pupil", "visit", "visits", "school", "staff", "id", "pk", "alert", "contact", "vehicle", "person",
          "mapping", "case", "assessment", "agreement", "report", "note", "token", "event", "closure", "list",
          "lead", "second", "companion", "staff_members", "page", "year"]


def page_paths(patterns=None, prefix=""):
    """Every page's path with each number in it made too large (the admin and the API's own
    router are left to their own tests: the API is fuzzed by schemathesis)."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(("admin", "api/", "static", "media")):
            continue
        if isinstance(entry, URLResolver):
            yield from page_paths(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            path = re.sub(r"<int:\w+>", BIG, route)
            path = re.sub(r"<(?:str|slug|path):\w+>|<\w+>", "x", path)
            if "^" in path or "(?P" in path:
                continue
            yield "/" + path


def test_the_sweep_reaches_the_pages_that_failed():
    paths = set(page_paths())
    assert {"/school/switch/", "/visits/propose/", "/visits/lists/new/"} <= paths
    assert any(BIG in p for p in paths)  # pages with a record's number in their address


@pytest.mark.parametrize("role", ["head", "office"])
def test_no_page_answers_a_number_too_large_for_any_record_with_a_server_error(coteford, role):
    client = Client(raise_request_exception=False)
    failures = []
    for path in sorted(set(page_paths())):
        if "logout" in path:
            continue
        client.force_login(getattr(coteford, role).user)
        for method in ("get", "post"):
            response = getattr(client, method)(path, {name: BIG for name in FIELDS})
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {path}: {response.status_code}")
            elif response.status_code == 400 and b"too large" in response.content:
                assert b"too large to be the number of any record" in response.content
    assert not failures, "\n".join(failures)
