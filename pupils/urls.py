from django.urls import path

from . import import_views, views

app_name = "pupils"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.detail, name="detail"),
    path("import/", import_views.import_page, name="import"),
]
