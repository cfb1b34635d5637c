"""Is this request really from the provider? Each check answers True only for a request
signed as the provider documents it; anything else is refused by the caller (403) and audited.

Twilio signs every webhook with `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the
account's auth token, over the full URL Twilio called followed by each POST parameter's
name and value, sorted by name. The URL is the one Twilio was given, so it is rebuilt from
DOORSTEP_BASE_URL (behind a proxy the request's own host and scheme may differ). The
library's validator does the arithmetic; we only supply the URL and the token.

GOV.UK Notify calls an inbound-SMS callback with `Authorization: Bearer <token>`, the token
the service entered in Notify's settings (NOTIFY_CALLBACK_TOKEN here)."""
from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator


def public_url(request: HttpRequest) -> str:
    """The address the provider called, as it knows it."""
    return settings.DOORSTEP_BASE_URL.rstrip("/") + request.get_full_path()


def twilio_signed(request: HttpRequest) -> bool:
    token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    params = {key: request.POST.get(key, "") for key in request.POST}
    return bool(RequestValidator(token).validate(public_url(request), params, signature))


def notify_bearer_ok(request: HttpRequest) -> bool:
    expected = getattr(settings, "NOTIFY_CALLBACK_TOKEN", "")
    given = request.headers.get("Authorization", "")
    if not expected or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").strip().encode(), expected.encode())
