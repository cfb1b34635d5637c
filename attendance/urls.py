from django.urls import path

from . import views

app_name = "attendance"
urlpatterns = [
    path("import/", views.import_page, name="import"),
    path("referrals/", views.queue, name="queue"),
    path("referrals/<int:pk>/", views.case_detail, name="case"),
    path("referrals/<int:pk>/decide/", views.decide, name="decide"),
    path("referrals/<int:pk>/pack.pdf", views.pack, name="pack"),
]
