from django.urls import path

from . import invitation_views, views

app_name = "accounts"

urlpatterns = [
    path("invitation/<str:token>/", invitation_views.invitation, name="invitation"),
    path("two-factor/", views.verify, name="verify"),
    path("two-factor/enrol/", views.enrol, name="enrol"),
    path("tokens/backup-codes/", views.new_backup_codes, name="backup_codes"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="revoke"),
]
