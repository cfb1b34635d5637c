from django.urls import path

from . import views

app_name = "people"
urlpatterns = [
    path("", views.register, name="register"),
    path("<int:pk>/", views.staff_detail, name="staff_detail"),
    path("<int:pk>/edit/", views.staff_edit, name="staff_edit"),
    path("<int:pk>/<str:kind>/add/", views.staff_row, name="staff_row_add"),
    path("<int:pk>/<str:kind>/<int:row_id>/", views.staff_row, name="staff_row_edit"),
    path("<int:pk>/<str:kind>/<int:row_id>/remove/", views.staff_row_remove, name="staff_row_remove"),
]
