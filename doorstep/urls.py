from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView

from accounts import views as accounts_views
from policies import term_dates_views
from safety.checkins import views as checkins_views

from . import views as doorstep_views

urlpatterns = [
    # The admin signs in through Doorstep's own page (lock-out, audit, second factor).
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("hooks/", include("hooks.urls")),
    path("setup/", include("setup.urls")),
    path("risk/", include("risk.urls")),
    path("accounts/login/", accounts_views.SignInView.as_view(), name="login"),
    path("accounts/password/", accounts_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/", include("accounts.urls")),
    path("accounts/logout/", accounts_views.SignOutView.as_view(), name="logout"),
    path("", doorstep_views.home, name="home"),
    # Open to anyone, signed in or not: the regulations ask that anyone can read it.
    path("accessibility/", TemplateView.as_view(template_name="accessibility.html"), name="accessibility"),
    path("school/switch/", doorstep_views.switch_school, name="switch_school"),
    path("school/term-dates/", term_dates_views.term_dates, name="term_dates"),
    path("school/term-dates/<int:pk>/remove/", term_dates_views.term_date_remove, name="term_date_remove"),
    path("visits/", include("visits.urls")),
    path("pupils/", include("pupils.urls")),
    path("attendance/", include("attendance.urls")),
    path("mis/", include("mis.urls")),
    path("staff/", include("people.urls")),
    path("policy/draft/", include("visits.policy_draft_urls")),
    path("policy/", include("policies.urls")),
    path("today/", include("safety.checkins.urls")),
    path("sw.js", checkins_views.sw_js, name="service_worker"),  # at the root: its scope may cover /today/
    path("board/readiness/", include("safety.readiness.urls")),
    path("board/", include("safety.alerts.urls")),
    path("notify/", include("notify.urls")),
    path("reports/", include("reports.urls")),
    path("audit/", include("retention.audit_urls")),
    path("data-protection/", include("retention.urls")),
]

# Our own words for a page not found (doorstep.views.not_found), never Django's.
handler404 = "doorstep.views.not_found"
