"""The providers' call-backs for texts to the Doorstep number. Thin: each checks that the
provider really sent it (hooks.signatures), then hands the text to safety.texts, which
records what it asks through safety.recording and says what to answer. Providers carry no
CSRF token, so these are exempt; their signature or bearer token is the check instead.
Anything not signed is refused (403), nothing is done, and it is audited."""
from __future__ import annotations

import json
from xml.sax.saxutils import escape

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from safety import texts

from .signatures import notify_bearer_ok, twilio_signed


def _refused(provider: str, why: str, request: HttpRequest) -> HttpResponse:
    texts.hook_refused(provider, why, request)
    return HttpResponse("Forbidden", status=403, content_type="text/plain")


@csrf_exempt
@require_POST
def sms_twilio(request: HttpRequest) -> HttpResponse:
    """Twilio's incoming-message webhook (form fields From, To, Body); the answer is TwiML."""
    if not twilio_signed(request):
        return _refused("Twilio", "no valid X-Twilio-Signature", request)
    answer = texts.answer_text(request.POST.get("From", ""), request.POST.get("Body", ""),
                               to=request.POST.get("To", ""), provider="twilio", request=request)
    twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(answer.text)}</Message></Response>'
    return HttpResponse(twiml, content_type="text/xml")


@csrf_exempt
@require_POST
def sms_notify(request: HttpRequest) -> HttpResponse:
    """GOV.UK Notify's received-text call-back (JSON: id, source_number, destination_number,
    message, date_received). Notify cannot answer inline: the answer goes out through the outbox."""
    if not notify_bearer_ok(request):
        return _refused("GOV.UK Notify", "no valid bearer token", request)
    try:
        data = json.loads(request.body)
        ref, sender, body = str(data["id"]), str(data["source_number"]), str(data.get("message") or "")
        to = str(data.get("destination_number") or "")
    except (ValueError, TypeError, KeyError):
        return JsonResponse({"error": "Expected JSON with id, source_number and message."}, status=400)
    answer = texts.received_by_notify(ref, sender, body, to=to, request=request)
    return JsonResponse({"ok": True, "repeat": answer is None})
