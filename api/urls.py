"""Mounted at /api/ by doorstep/urls.py: the OpenAPI document is /api/openapi.json, the docs /api/docs."""
from django.urls import path, re_path

from . import openapi
from .api import api
from .safety import router as safety_router

api.add_router("", safety_router)  # the safety core (docs/safety-core.md): events, the board, alerts
openapi.install(api)  # the 400/401/403/404 every endpoint may answer, in the document too

urlpatterns = [
    # An id of 19 digits or more is no record's (ids are 64-bit and counted from 1): not found,
    # before the database is asked (SQLite cannot even be given a number past 2**63).
    re_path(r"^(?:.*/)?\d{19,}(?:/.*)?$", openapi.not_found),
    path("", api.urls),
    # Anything else under /api/ (e.g. /api/visits/abc) is a JSON 404, like the endpoints' own.
    re_path(r"^.*$", openapi.not_found),
]
