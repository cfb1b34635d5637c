from django.urls import path

from . import views

app_name = "readiness"
urlpatterns = [
    path("", views.panel, name="panel"),
    path("check/", views.check_now, name="check"),
    path("drills/", views.drill_start, name="drill_start"),
    path("drills/<int:pk>/end/", views.drill_end, name="drill_end"),
]
