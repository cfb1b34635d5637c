from django.urls import path

from . import views

app_name = "reports"
urlpatterns = [
    path("visit/<int:pk>/", views.report, name="report"),
    path("visit/<int:pk>/correct/", views.correct, name="correct"),
    path("visit/<int:pk>/report.pdf", views.report_pdf, name="report_pdf"),
    path("visit/<int:pk>/report-<int:report_id>.pdf", views.report_pdf, name="report_version_pdf"),
    path("visit/<int:pk>/card.pdf", views.not_seen_card, name="not_seen_card"),
    path("visit/<int:pk>/written-reason.pdf", views.closure_reason, name="closure_reason"),
    path("visit/<int:pk>/file/", views.file_visit, name="file"),
    path("visit/<int:pk>/agreements/new/", views.agreement_new, name="agreement_new"),
    path("agreements/<int:pk>/review/", views.agreement_review, name="agreement_review"),
    path("concerns/", views.concerns, name="concerns"),
    path("concerns/<int:pk>/", views.concern, name="concern"),
    path("letters/", views.letters, name="letters"),
    path("letters/<int:pk>/", views.letter, name="letter"),
    path("letters/<int:pk>/letter.pdf", views.letter_pdf, name="letter_pdf"),
    path("letters/<int:pk>/send/", views.letter_send, name="letter_send"),
    path("letters/<int:pk>/edit/", views.letter_edit, name="letter_edit"),
    path("pupil/<int:pk>/chronology/", views.pupil_chronology, name="chronology"),
    path("pupil/<int:pk>/chronology.pdf", views.chronology_pdf, name="chronology_pdf"),
    path("pupil/<int:pk>/chronology.csv", views.chronology_csv, name="chronology_csv"),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
]
