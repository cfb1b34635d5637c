from django.urls import path

from . import views

app_name = "risk"
urlpatterns = [
    path("", views.assessment_list, name="list"),
    path("new/", views.assessment_new, name="new"),
    path("<int:pk>/", views.assessment_detail, name="detail"),
    path("<int:pk>/review/", views.assessment_review, name="review"),
    path("pupil/<int:pupil_pk>/note/", views.household_note_new, name="note_new"),
]
