"""Twilio's call-back from a phone call of the escalation ladder (a step with `ring = true`):
the key the person pressed. `POST /hooks/voice/twilio/<token>/`, where the token is the
random `call_token` of that person's call row (notify), so the address says which alert and
which person without any guessable id in it.

Pressing 1 takes the alert on (safety.alerting.acknowledge, audited "by phone call"), unless
someone already has: then the caller hears who. Any other key, or none, repeats the question
once. Twilio carries no CSRF token; its signature (hooks.signatures.twilio_signed) is the
check instead, and anything not signed is refused (403), nothing is done, and it is audited.
What is said never names a pupil: the alert's details are in Doorstep."""
from __future__ import annotations

from xml.sax.saxutils import escape

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed
from notify.models import Message
from notify.providers import PRESS_ONE, call_back_url, gather
from notify.services import call_by_token
from safety import alerting
from safety.alerts.models import Alert

from .signatures import twilio_signed

TAKEN_ON = "You have taken this alert on. Open Doorstep for the details."
NOT_TAKEN = "Nothing was pressed, so the alert is not taken on. Open Doorstep to see it. Goodbye."
CANNOT = "You cannot take this alert on by phone. The office, the headteacher, the deputy or the DSL can. Open Doorstep."
GONE = "This call is no longer needed. Open Doorstep to see your school's alerts. Goodbye."


def _twiml(inner: str) -> HttpResponse:
    return HttpResponse(f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>', content_type="text/xml")


def _say(words: str) -> HttpResponse:
    return _twiml(f"<Say>{escape(words)}</Say>")


def _refused(call: Message | None, request: HttpRequest) -> HttpResponse:
    record(actor=None, school=call.school if call is not None else None, action=Action.CALL_ANSWER_REFUSED, obj=call,
           summary="Refused a key press said to come from a phone call about an alert: Twilio's signature was missing "
                   "or wrong, so nothing was done",
           data={"known_call": call is not None}, request=request)
    return HttpResponse("Forbidden", status=403, content_type="text/plain")


def _already(alert: Alert, person_id: int) -> str:
    """What the caller hears when the alert could not be taken on by them."""
    if alert.state == Alert.State.ACKNOWLEDGED and alert.owner_id == person_id:
        return "You have already taken this alert on. Open Doorstep for the details."
    if alert.state == Alert.State.ACKNOWLEDGED:
        return f"{alert.owner.full_name if alert.owner else 'Someone'} has already taken this alert on."
    if alert.state == Alert.State.RESOLVED:
        return f"This alert has already been closed by {alert.resolved_by.full_name if alert.resolved_by else 'the office'}."
    return CANNOT


@csrf_exempt
@require_POST
def call_twilio(request: HttpRequest, token: str) -> HttpResponse:
    """Twilio's <Gather> action (form field Digits); the answer is TwiML."""
    call = call_by_token(token)
    if not twilio_signed(request):
        return _refused(call, request)
    if call is None or call.alert_id is None:
        return _say(GONE)
    alert = Alert.objects.select_related("owner", "resolved_by").filter(pk=call.alert_id, school=call.school).first()
    if alert is None:
        return _say(GONE)
    if request.POST.get("Digits", "").strip() != "1":
        if request.GET.get("again"):
            return _say(NOT_TAKEN)
        pressed = request.POST.get("Digits", "").strip()
        heard = f"You pressed {' '.join(pressed)}. " if pressed else ""
        return _twiml(gather(call, f"{heard}{call.body.strip()} {PRESS_ONE}", action=call_back_url(call) + "?again=1")
                      + f"<Say>{escape(NOT_TAKEN)}</Say>")
    try:
        alerting.acknowledge(alert, by=call.recipient, request=request, via="by phone call")
    except NotAllowed:
        alert.refresh_from_db()
        return _say(_already(alert, call.recipient_id))
    return _say(TAKEN_ON)
