"""The policy page's editor (visits.policy_draft_views), under /policy/draft/."""
from django.urls import path

from . import policy_draft_views as views

app_name = "policy_draft"
urlpatterns = [
    path("", views.editor, name="editor"),
    path("start/", views.start, name="start"),
    path("upload/", views.upload, name="upload"),
    path("review/", views.review, name="review"),
    path("try/", views.try_plan, name="try_plan"),
    path("publish/", views.publish, name="publish"),
]
