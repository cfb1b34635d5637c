"""django-axes' lock-out check, first in AUTHENTICATION_BACKENDS.

axes refuses to authenticate without a request. Every password typed into Doorstep comes
with one (the sign-in form passes it); calls without one are Doorstep's own code or a test
client's login(), which cannot be a person guessing a password over the network, so they
skip the lock-out check instead of failing."""
from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied


class LockoutBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            # Refused because of an existing lock, not a wrong password (accounts.signals).
            request.doorstep_refused_by_lock = True
            raise
