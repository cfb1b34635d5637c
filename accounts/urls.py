from django.urls import path

from . import invitation_views, staff_views, views

app_name = "accounts"

urlpatterns = [
    path("invitation/<str:token>/", invitation_views.invitation, name="invitation"),
    path("staff/add/", staff_views.add, name="staff_add"),
    path("staff/import/", staff_views.import_file, name="staff_import"),
    path("staff/<int:pk>/leave/", staff_views.leave, name="staff_leave"),
    path("staff/<int:pk>/invite/", staff_views.send_invitation, name="staff_invite"),
    path("staff/<int:pk>/reactivate/", staff_views.reactivate, name="staff_reactivate"),
    path("two-factor/", views.verify, name="verify"),
    path("two-factor/enrol/", views.enrol, name="enrol"),
    path("tokens/backup-codes/", views.new_backup_codes, name="backup_codes"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="revoke"),
]
