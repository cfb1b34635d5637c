from django.urls import path

from . import audit_views as views

# The audit trail's page keeps its own namespace ("audit:trail"), though retention serves it.
app_name = "audit"

urlpatterns = [
    path("", views.trail, name="trail"),
    path("export.csv", views.export, name="export"),
]
