from django.urls import path

from . import views

app_name = "checkins"
urlpatterns = [
    path("", views.today, name="today"),
    path("pins/", views.pins, name="pins"),
    path("offline/", views.offline, name="offline"),
    path("<int:pk>/", views.visit, name="visit"),
    path("<int:pk>/record/<str:event>/", views.record, name="record"),
    path("<int:pk>/not-seen/", views.not_seen, name="not_seen"),
    path("<int:pk>/abandon/", views.abandon, name="abandon"),
    path("<int:pk>/panic/", views.panic, name="panic"),
]
