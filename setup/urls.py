from django.urls import path

from . import views

app_name = "setup"
urlpatterns = [
    path("", views.start, name="start"),
    path("schools/add/", views.school_add, name="school_add"),
    path("schools/<int:pk>/", views.school, name="school"),
    path("checklist/", views.checklist, name="checklist"),
]
