"""Mounted at /api/ by doorstep/urls.py: the OpenAPI document is /api/openapi.json, the docs /api/docs."""
from django.urls import path

from .api import api

urlpatterns = [
    path("", api.urls),
]
