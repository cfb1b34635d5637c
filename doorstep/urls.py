from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from schools import views as schools_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("risk/", include("risk.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", schools_views.home, name="home"),
    path("school/switch/", schools_views.switch_school, name="switch_school"),
    path("visits/", include("visits.urls")),
    path("pupils/", include("pupils.urls")),
    path("attendance/", include("attendance.urls")),
    path("staff/", include("people.urls")),
    path("policy/", include("policies.urls")),
    path("today/", include("checkins.urls")),
    path("board/", include("alerts.urls")),
    path("notify/", include("notify.urls")),
    path("reports/", include("reports.urls")),
    path("audit/", include("audit.urls")),
    path("data-protection/", include("retention.urls")),
]
