from django.urls import path

from . import views

app_name = "people"
urlpatterns = [
    path("", views.register, name="register"),
    path("<int:pk>/", views.staff_detail, name="staff_detail"),
]
