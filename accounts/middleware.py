"""Two things every request passes through once the person is known (after Django's
AuthenticationMiddleware and django-otp's OTPMiddleware):

SessionLifetimeMiddleware  signs a session out after it has been idle too long, or when it is
                           simply too old, whatever it has been doing (docs/security.md, "Sessions that end").
TwoFactorMiddleware        a person who must give a one-time code (accounts.second_factor) and
                           has not yet, is half signed in: pages send them to enrol or to the
                           code page, and the API treats them as not signed in at all (401).
                           Done here rather than in the sign-in view, so no page or endpoint
                           can forget it.

And TokenUseMiddleware, which notes when an API token was used after a request that did not
note it in its own write (accounts.api_auth.note_token_use)."""
import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from . import second_factor
from .api_auth import note_token_use

SIGNED_IN_AT = "doorstep_signed_in_at"
LAST_SEEN = "doorstep_last_seen"
LAST_SEEN_ON_VISIT = "doorstep_last_seen_on_visit"
# Write the session at most this often just to note activity (every request would be a write).
TOUCH_EVERY = 60


def on_visit_pages(path):
    """The phone pages of a visit under way: a visit can keep a phone in a pocket for an hour,
    and being signed out at the doorstep is a safety risk of its own."""
    return path.startswith("/today/")


class SessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        if request.user.is_authenticated:
            now = time.time()
            signed_in = session.get(SIGNED_IN_AT)
            last_seen = session.get(LAST_SEEN, signed_in)
            last_on_visit = session.get(LAST_SEEN_ON_VISIT, 0)
            visit_page = on_visit_pages(request.path_info)
            idle_since = max(last_seen or 0, last_on_visit) if visit_page else (last_seen or 0)
            idle_limit = settings.DOORSTEP_VISIT_IDLE_TIMEOUT if visit_page else settings.DOORSTEP_IDLE_TIMEOUT
            if (signed_in is None or now - signed_in > settings.DOORSTEP_SESSION_MAX_AGE
                    or now - idle_since > idle_limit):
                logout(request)
                request.doorstep_session_expired = True
            else:
                key = LAST_SEEN_ON_VISIT if visit_page else LAST_SEEN
                if now - (session.get(key) or 0) >= TOUCH_EVERY:
                    session[key] = now
        response = self.get_response(request)
        return response


def note_sign_in(session):
    now = time.time()
    session[SIGNED_IN_AT] = now
    session[LAST_SEEN] = now
    session.pop(LAST_SEEN_ON_VISIT, None)


# Paths a half-signed-in person may still open: signing in, the second-factor pages, signing out.
OPEN_PATHS = ("/accounts/login/", "/accounts/logout/", "/accounts/two-factor/", "/static/")


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if getattr(request, "doorstep_session_expired", False) and not request.path_info.startswith("/api/"):
            if request.method == "GET" and not request.path_info.startswith("/accounts/"):
                return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path(), 'expired': 1})}")
        user = request.user
        if (user.is_authenticated and not second_factor.is_verified(request)
                and second_factor.asks_for_code(user)):
            path = request.path_info
            if path.startswith("/api/"):
                # Not signed in, as far as the API is concerned: session auth then answers 401.
                request.user = AnonymousUser()
            elif not path.startswith(OPEN_PATHS):
                target = "accounts:verify" if second_factor.confirmed_devices(user) else "accounts:enrol"
                return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """Headers Django has no setting for: Permissions-Policy (settings.PERMISSIONS_POLICY)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


class TokenUseMiddleware:
    """After the response: the API token's last use, unless the request's own change wrote it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        note_token_use(request)
        return response
