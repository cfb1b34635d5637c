"""The API's documentation page works under Doorstep's Content-Security-Policy: Swagger UI comes
from the installed django-ninja package (never a CDN the policy refuses), the page says its
language, and the OpenAPI document it draws is one Swagger UI can parse."""
import json

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_api_documentation_page_loads_swagger_from_doorstep_itself(client):
    response = client.get(reverse("api:openapi-view"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en-GB">' in html
    assert "/static/ninja/swagger-ui-bundle.js" in html and "/static/ninja/swagger-ui-init.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_the_openapi_document_has_no_response_listed_twice(client):
    """Each operation's 400/401/403/404 once: a JSON object with a key twice is not YAML, and
    Swagger UI (which reads the document as YAML) showed only "duplicated mapping key"."""
    twice = []

    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        twice.extend(key for key in set(keys) if keys.count(key) > 1)
        return dict(pairs)

    json.loads(client.get(reverse("api:openapi-json")).content, object_pairs_hook=no_duplicates)
    assert twice == []
