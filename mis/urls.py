from django.urls import path

from . import views

app_name = "mis"
urlpatterns = [
    path("wonde/", views.wonde, name="wonde"),
    path("wonde/status/", views.status, name="wonde_status"),
]
