from django.urls import path

from . import leaver_views, views

app_name = "visits"
urlpatterns = [
    path("", views.index, name="index"),
    path("propose/", views.propose, name="propose"),
    path("propose/check/", views.propose_check, name="propose_check"),
    path("approvals/", views.approvals, name="approvals"),
    path("lists/", views.lists, name="lists"),
    path("lists/new/", views.list_create, name="list_create"),
    path("lists/<int:pk>/", views.list_detail, name="list_detail"),
    path("lists/<int:pk>/sign/", views.list_sign, name="list_sign"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/plan/", views.edit, name="edit"),
    path("<int:pk>/plan/check/", views.edit_check, name="edit_check"),
    path("leaver/<int:staff_pk>/", leaver_views.leaver_visits, name="leaver_visits"),
]
urlpatterns += [
    path(f"<int:pk>/{action.replace('_', '-')}/", views.visit_action, {"action": action}, name=action)
    for action in views.ACTIONS
]
