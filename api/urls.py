"""Mounted at /api/ by doorstep/urls.py: the OpenAPI document is /api/openapi.json, the docs /api/docs."""
from django.urls import path

from .api import api
from .safety import router as safety_router

api.add_router("", safety_router)  # the safety core (issue 3): events, the board, alerts

urlpatterns = [
    path("", api.urls),
]
