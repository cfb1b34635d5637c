"""The API fuzzed from its own OpenAPI document (docs/security.md, "Hostile and broken input"): schemathesis generates requests
for every operation (valid ones, and invalid ones), sends them to Doorstep's WSGI application
as a signed-in headteacher of a school with data in it, and checks every answer: never a
server error, and the status code, content type and body are those the document promises.

Bounded so it runs in `make test` on both databases: a few examples per operation and mode,
no deadline (the first request of a run warms caches), the Hypothesis database off so every
run is the same."""
import collections
import datetime

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from safety.checkins.models import VisitEvent
from visits.models import Visit

from tests.factories import Staffed, VisitFactory, at, next_school_day
from tests.records_support import ended_visit

pytestmark = pytest.mark.django_db

EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def signed_in_head():
    """A school with pupils, visits in several states and a visit under way; the headers of a
    headteacher's session (cookie and CSRF token, as the board's JavaScript sends them)."""
    school = Staffed("coteford", name="Coteford Junior School")
    ended_visit(school)
    VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, school.teacher])
    now = timezone.now()
    live = VisitFactory(school=school.school, pupil=school.pupil, state=Visit.State.UNDER_WAY,
                        starts_at=now - datetime.timedelta(minutes=20), ends_at=now + datetime.timedelta(minutes=25),
                        staff=[school.officer, school.teacher], approved_by=school.head, approved_at=now,
                        policy_version=school.school.current_policy())
    VisitEvent.objects.create(visit=live, school=school.school, type=VisitEvent.Type.LEFT_SCHOOL,
                              at=now - datetime.timedelta(minutes=20), recorded_at=now, recorded_by=school.officer)
    VisitFactory(school=school.school, pupil=school.pupil, starts_at=at(next_school_day(14), 11),
                 ends_at=at(next_school_day(14), 11, 45), staff=[school.family, school.teacher])
    client = Client()
    client.force_login(school.head.user)
    token = _get_new_csrf_string()
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": token}
    return school, {"X-CSRFToken": token}, cookies


@pytest.fixture
def wsgi_app():
    """Doorstep's WSGI application, minus what a real server does at the end of each request:
    closing the database connection would end the test's transaction (Django's own test client
    does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_api_operation_answers_fuzzed_requests_without_a_server_error_and_as_documented(signed_in_head, wsgi_app):
    school, headers, cookies = signed_in_head
    app = wsgi_app
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the document lists the API's operations"
    failures = []
    answered = collections.Counter()

    for operation in operations:
        for mode, examples in EXAMPLES.items():
            @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                                 suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                # As the signed-in headteacher: a generated bearer token would only ever be refused
                # (401, documented); tokens are tested in tests/security/test_hostile_input.py.
                (case.headers or {}).pop("Authorization", None)
                (case.cookies or {}).pop("sessionid", None)
                response = case.call(headers=headers, cookies=cookies)
                answered[(operation.label, response.status_code)] += 1  # noqa: B023 - fuzz() runs within this iteration
                case.validate_response(response, checks=CHECKS)

            try:
                fuzz()
            except BaseException as exc:
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    # The run reached the endpoints as the headteacher, not only their refusals.
    ok = {label for (label, status), n in answered.items() if 200 <= status < 300}
    assert {"GET /api/visits", "GET /api/pupils", "GET /api/staff", "GET /api/board", "GET /api/visit-lists"} <= ok, ok
    assert not any(status >= 500 for _, status in answered)
