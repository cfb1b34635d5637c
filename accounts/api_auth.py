"""How the JSON API knows who is calling: a bearer token (accounts.models.ApiToken) or the
Django session, on every endpoint (api.api's NinjaAPI(auth=API_AUTH)).

A token is limited to its scopes. Which scope an endpoint needs is decided here, in one
table (ENDPOINT_SCOPES), by method and path: reads need "read" unless named otherwise, and
a change that is not in the table needs a scope no token can hold, so a new endpoint is
refused to tokens until someone decides its scope. Session sign-ins are not scoped: a
person in a browser may do what their roles allow (and must have given their second
factor: accounts.middleware)."""
import re

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, django_auth

from .models import ApiToken

ID = r"\d+"
# (method, path under /api/, scope) in order; the first match decides.
ENDPOINT_SCOPES = [
    ("POST", rf"visits/{ID}/events", "events:write"),
    ("GET", r"board", "board:read"),
    ("GET", rf"alerts/{ID}(/police-card)?", "alerts:write"),
    ("POST", rf"alerts/{ID}/(acknowledge|resolve)", "alerts:write"),
    ("POST", r"visits(/.*)?", "visits:write"),
    ("POST", r"visit-lists(/.*)?", "visits:write"),
    ("GET", r".*", "read"),
]
NO_SCOPE = "(none: not open to tokens)"


def scope_for(method, path):
    """The scope a token needs for this request (path without the /api/ prefix)."""
    method = "GET" if method == "HEAD" else method
    path = path.strip("/")
    for m, pattern, scope in ENDPOINT_SCOPES:
        if m == method and re.fullmatch(pattern, path):
            return scope
    return NO_SCOPE


class TokenAuth(HttpBearer):
    """`Authorization: Bearer dst_…`. A token that is unknown, revoked or expired is refused
    (401) even if the request also carries a session: a caller sending a token means it."""

    openapi_description = "An API token made on the 'API tokens' page (Authorization: Bearer dst_…)."

    def authenticate(self, request, token):
        found = ApiToken.find(token)
        if found is None or not found.is_live or not found.staff.active or not (
                found.staff.user and found.staff.user.is_active):
            raise AuthenticationError()
        path = request.path_info.split("/api/", 1)[-1]
        scope = scope_for(request.method, path)
        if not found.allows(scope):
            raise PermissionDenied(f"This token does not have the scope this needs ({scope}).")
        # The token acts as its one staff record: api.api._memberships reads request.api_token.
        request.user = found.staff.user
        request.api_token = found
        now = timezone.now()
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
            request.token_used_at = now  # at most once a minute; written by note_token_use()
        return found


def note_token_use(request):
    """Write when the request's API token was used, if TokenAuth left that to write. Called
    inside the transaction of the change a request makes (a check-in: a phone checks in every
    twenty minutes or so, so nearly every check-in carries it), so the change and the note are
    one write, not two; TokenUseMiddleware writes it after any request that made no change (or
    whose change was refused). Nothing to do for a session or a token noted within the minute."""
    used_at = getattr(request, "token_used_at", None)
    if used_at is None:
        return
    ApiToken.objects.filter(pk=request.api_token.pk).update(last_used_at=used_at)
    if transaction.get_connection().in_atomic_block:
        # Rolled back with a refused change: then the middleware writes it after all.
        transaction.on_commit(lambda: setattr(request, "token_used_at", None))
    else:
        request.token_used_at = None


token_auth = TokenAuth()
API_AUTH = [token_auth, django_auth]
