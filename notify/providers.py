"""How a message leaves Doorstep: SMS providers (GOV.UK Notify, Twilio, the console for
development) and email over SMTP through Django's email API.

Every sender takes a `Message` and the text to send, and either returns the provider's
id for the accepted message or raises `ProviderError`. "Accepted" means the provider said
so (HTTP 2xx, SMTP 250): only then does the worker mark the row sent.

Retries must not double-send after a lost response (the provider took the message but
the answer never came back) or a worker killed before it recorded the send. Whenever a
send of the row began before (`sent_before`), both SMS adapters therefore look for the
earlier copy first: Notify by our `reference`, Twilio by recipient, sender and exact text
among recent messages (its API has no idempotency key of its own).

Phone calls (the voice channel: a ladder step with `ring = true`) go through Twilio's Calls
API with the words and the key to press as TwiML; a retry looks for an earlier call to the
same number placed since the first try before placing another (TwilioVoice)."""
import datetime
import email.utils
import logging
import smtplib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from .models import Channel, Message

if TYPE_CHECKING:
    from notifications_python_client.notifications import NotificationsAPIClient

logger = logging.getLogger("notify")
console_logger = logging.getLogger("notify.console")

DEFAULT_TIMEOUT = 10  # seconds; a provider slower than this is treated as down for this try


class ProviderError(Exception):
    """The provider did not accept the message.

    permanent    retrying the same provider will not help (bad number, bad credentials)
    retry_after  seconds the provider asked us to wait (HTTP 429), if it said
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def provider_timeout() -> float:
    return float(getattr(settings, "DOORSTEP_PROVIDER_TIMEOUT", DEFAULT_TIMEOUT))


def absolute_link(link: str) -> str:
    if not link or link.startswith(("http://", "https://")):
        return link
    return getattr(settings, "DOORSTEP_BASE_URL", "http://127.0.0.1:8000").rstrip("/") + "/" + link.lstrip("/")


SMS_MAX = 612  # four text segments; Notify refuses more than 918 characters


def sms_text(message: Message) -> str:
    """The whole text message: what happened, in the caller's words, and the link. A long
    body is shortened, never the link: the link is how the reader finds the details."""
    head = f"Doorstep: {message.subject}."
    link = absolute_link(message.link) if message.link else ""
    room = SMS_MAX - len(head) - len(link) - 2
    body = message.body.strip()
    if len(body) > room:
        body = body[: max(0, room - 1)].rstrip() + "…"
    return " ".join(p for p in (head, body, link) if p)


def e164(number: str) -> str:
    """A UK mobile as entered on the register (07700 900123, +44 7700 900123) in the
    international form providers expect (+447700900123)."""
    digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
    if digits.startswith("+"):
        return digits
    if digits.startswith("0"):
        return "+44" + digits[1:]
    return "+" + digits


def _status_error(provider: str, status: int, detail: object, retry_after: float | None = None) -> ProviderError:
    # 429 and 5xx are the provider's trouble and pass; other 4xx mean this request will
    # never be accepted as it stands (bad number, bad key), so trying again is pointless.
    permanent = 400 <= status < 500 and status not in (408, 429)
    return ProviderError(f"{provider} answered HTTP {status}: {detail}"[:500], permanent=permanent, retry_after=retry_after)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- SMS

class SmsProvider(Protocol):
    """What the delivery worker asks of an SMS provider (notify/delivery.py uses nothing else).

    name         how DOORSTEP_SMS_PROVIDERS names it, and what a Message's `provider` records
    configured() whether its settings (keys, sender) are all there
    send()       send `text` for the message and return the provider's id for it, or raise
                 ProviderError; `sent_before` (when an earlier try of this row began, if one
                 did) means "look for that earlier copy first", so a retry never double-sends
    """

    name: str

    def configured(self) -> bool: ...

    def send(self, message: Message, text: str, *, sent_before: datetime.datetime | None = None) -> str: ...


class ConsoleSms:
    """Development only: writes the text to the log instead of sending it."""

    name = "console"

    def configured(self) -> bool:
        return True

    def send(self, message: Message, text: str, *, sent_before: datetime.datetime | None = None) -> str:
        console_logger.info("SMS to %s: %s", message.to_address, text)
        return f"console-{message.pk}"


class NotifySms:
    """GOV.UK Notify through its official client. The service's SMS template must be the
    single placeholder ((body)); Doorstep fills it with the whole text."""

    name = "notify"

    def configured(self) -> bool:
        return bool(getattr(settings, "NOTIFY_API_KEY", "") and getattr(settings, "NOTIFY_SMS_TEMPLATE_ID", ""))

    def _client(self) -> "NotificationsAPIClient":
        # GOV.UK Notify's client (and the HTTP and JWT libraries under it) is loaded only by an
        # installation that sends through Notify.
        from notifications_python_client.notifications import NotificationsAPIClient

        return NotificationsAPIClient(
            settings.NOTIFY_API_KEY, base_url=settings.NOTIFY_BASE_URL, timeout=provider_timeout()
        )

    # The client's methods answer with the parsed JSON of Notify's response.
    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        # As in _client: only an installation that sends through Notify loads its client.
        from notifications_python_client.errors import APIError

        try:
            result: dict[str, Any] | None = fn(*args, **kwargs)
            return result
        except APIError as exc:
            response = getattr(exc, "response", None)
            status = exc.status_code
            if response is None:  # no answer at all: timeout, refused connection
                cause = exc.__cause__ or exc
                raise ProviderError(f"notify did not answer: {type(cause).__name__}") from exc
            raise _status_error("notify", status, exc.message, _retry_after(response.headers)) from exc

    def find_sent(self, message: Message) -> str | None:
        client = self._client()
        found = self._call(client.get_all_notifications, reference=message.reference)
        for notification in (found or {}).get("notifications", []):
            if notification.get("reference") == message.reference and notification.get("status") not in (
                "permanent-failure", "technical-failure", "validation-failed",
            ):
                found_id: str | None = notification.get("id")
                return found_id
        return None

    def send(self, message: Message, text: str, *, sent_before: datetime.datetime | None = None) -> str:
        client = self._client()
        if sent_before is not None:
            # An earlier try may have been accepted with its answer lost, or by a worker
            # killed before it could say so: Notify keeps our reference, so look first.
            earlier = self.find_sent(message)
            if earlier:
                return earlier
        result = self._call(
            client.send_sms_notification,
            phone_number=message.to_address,
            template_id=settings.NOTIFY_SMS_TEMPLATE_ID,
            personalisation={"body": text},
            reference=message.reference,
        )
        sent_id: str = (result or {}).get("id", "")
        return sent_id


def _twilio_request(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """One request to Twilio's REST API with the account's basic auth; ProviderError unless 2xx."""
    try:
        response = requests.request(
            method, url, auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
            timeout=provider_timeout(), **kwargs,
        )
    except requests.RequestException as exc:
        raise ProviderError(f"twilio did not answer: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        try:
            detail = response.json().get("message", response.text)
        except ValueError:
            detail = response.text
        raise _status_error("twilio", response.status_code, detail, _retry_after(response.headers))
    answer: dict[str, Any] = response.json()
    return answer


class TwilioSms:
    """Twilio's Messages API over plain HTTPS with basic auth (the official library cannot
    be pointed at another host without reaching into its internals, which the tests need)."""

    name = "twilio"

    def configured(self) -> bool:
        return all(getattr(settings, k, "") for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"))

    def _url(self) -> str:
        base = settings.TWILIO_BASE_URL.rstrip("/")
        return f"{base}/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Messages.json"

    def _request(self, method: str, **kwargs: Any) -> dict[str, Any]:
        return _twilio_request(method, self._url(), **kwargs)

    def find_sent(self, message: Message, text: str, since: datetime.datetime) -> str | None:
        """The sid of a message to the same number with the same text created since our
        first try, if Twilio has one: that send was accepted and its answer lost."""
        found = self._request("GET", params={"To": e164(message.to_address), "From": settings.TWILIO_FROM, "PageSize": 50})
        for sent in found.get("messages", []):
            try:
                created = email.utils.parsedate_to_datetime(sent.get("date_created", ""))
            except (TypeError, ValueError):
                continue
            if sent.get("body") == text and created >= since and sent.get("status") not in ("failed", "undelivered"):
                sid: str | None = sent.get("sid")
                return sid
        return None

    def send(self, message: Message, text: str, *, sent_before: datetime.datetime | None = None) -> str:
        if sent_before is not None:
            # An earlier send began then (its answer lost, or its worker killed); allow for
            # the time it took and for the two clocks differing.
            earlier = self.find_sent(message, text, sent_before - datetime.timedelta(seconds=provider_timeout() + 60))
            if earlier:
                return earlier
        result = self._request("POST", data={"To": e164(message.to_address), "From": settings.TWILIO_FROM, "Body": text})
        sent_sid: str = result.get("sid", "")
        return sent_sid


SMS_PROVIDERS: dict[str, SmsProvider] = {p.name: p for p in (ConsoleSms(), NotifySms(), TwilioSms())}


def sms_providers() -> list[SmsProvider]:
    """The configured SMS providers in the school's fallback order (DOORSTEP_SMS_PROVIDERS).
    A provider named there but missing its credentials is left out, with a warning."""
    chosen = []
    for name in getattr(settings, "DOORSTEP_SMS_PROVIDERS", ["console"]):
        provider = SMS_PROVIDERS.get(name)
        if provider is None:
            logger.warning("Unknown SMS provider %r in DOORSTEP_SMS_PROVIDER; known: %s", name, ", ".join(SMS_PROVIDERS))
        elif not provider.configured():
            logger.warning("SMS provider %r is listed but not configured; skipping it", name)
        else:
            chosen.append(provider)
    return chosen


# ----------------------------------------------------------------------------- phone calls

PRESS_ONE = "Press 1 to take this alert on."


def call_back_url(message: Message) -> str:
    """Where Twilio posts the key pressed on this call: the row's random token, never its id."""
    return absolute_link(f"/hooks/voice/twilio/{message.call_token}/")


def gather(message: Message, words: str, *, action: str | None = None) -> str:
    """One <Gather> of a single key around the words, posting to the call's call-back."""
    return (f'<Gather numDigits="1" timeout="8" action={quoteattr(action or call_back_url(message))} method="POST">'
            f"<Say>{escape(words)}</Say></Gather>")


def call_twiml(message: Message) -> str:
    """What the call says: the row's words (no pupil's details: notify() checked them) and the
    key to press, twice, then where to look if nothing was pressed."""
    words = f"{message.body.strip()} {PRESS_ONE}"
    return ("<Response>" + gather(message, words) + gather(message, f"Again: {words}")
            + "<Say>Nothing was pressed. Open Doorstep to see the alert. Goodbye.</Say></Response>")


class VoiceProvider(Protocol):
    """What the delivery worker asks of a phone-call provider: as SmsProvider, with TwiML."""

    name: str

    def configured(self) -> bool: ...

    def call(self, message: Message, twiml: str, *, sent_before: datetime.datetime | None = None) -> str: ...


class ConsoleVoice:
    """Development only (when texts, too, only go to the log): writes the call to the log."""

    name = "console"

    def configured(self) -> bool:
        return True

    def call(self, message: Message, twiml: str, *, sent_before: datetime.datetime | None = None) -> str:
        console_logger.info("Phone call to %s: %s", message.to_address, twiml)
        return f"console-call-{message.pk}"


def voice_from() -> str:
    return str(getattr(settings, "TWILIO_VOICE_FROM", "") or getattr(settings, "TWILIO_FROM", ""))


class TwilioVoice:
    """Twilio's Calls API: POST .../Calls.json with To, From and the TwiML to speak. Like the
    Messages API it has no idempotency key, so a retry first lists the calls to the same number
    from the same caller id and takes one created since our first try (and not already another
    row's) as ours: the earlier call was placed and only its answer was lost."""

    name = "twilio_voice"

    def configured(self) -> bool:
        return all(getattr(settings, k, "") for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")) and bool(voice_from())

    def _url(self) -> str:
        base = settings.TWILIO_BASE_URL.rstrip("/")
        return f"{base}/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Calls.json"

    def _request(self, method: str, **kwargs: Any) -> dict[str, Any]:
        return _twilio_request(method, self._url(), **kwargs)

    def find_call(self, message: Message, since: datetime.datetime) -> str | None:
        found = self._request("GET", params={"To": e164(message.to_address), "From": voice_from(), "PageSize": 50})
        for placed in found.get("calls", []):
            try:
                created = email.utils.parsedate_to_datetime(placed.get("date_created", ""))
            except (TypeError, ValueError):
                continue
            sid: str | None = placed.get("sid")
            if not sid or created < since or placed.get("status") in ("failed", "canceled"):
                continue
            if Message.objects.filter(channel=Channel.VOICE, provider_ref=sid).exclude(pk=message.pk).exists():
                continue  # another row's call (another alert ringing the same person)
            return sid
        return None

    def call(self, message: Message, twiml: str, *, sent_before: datetime.datetime | None = None) -> str:
        if sent_before is not None:
            earlier = self.find_call(message, sent_before - datetime.timedelta(seconds=provider_timeout() + 60))
            if earlier:
                return earlier
        result = self._request("POST", data={"To": e164(message.to_address), "From": voice_from(), "Twiml": twiml})
        sid: str = result.get("sid", "")
        return sid


def voice_provider() -> VoiceProvider:
    """Twilio, when it is configured; the log on a development machine whose texts also only
    go to the log; otherwise a ProviderError that gives the call up loudly (board, audit)."""
    twilio = TwilioVoice()
    if twilio.configured():
        return twilio
    if list(getattr(settings, "DOORSTEP_SMS_PROVIDERS", ["console"])) == ["console"]:
        return ConsoleVoice()
    raise ProviderError("no phone-call provider is configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                        "TWILIO_VOICE_FROM or TWILIO_FROM)", permanent=True)


# ----------------------------------------------------------------------------- email

def email_text(message: Message) -> str:
    lines = [message.body.strip(), ""]
    if message.link:
        lines += [f"Open Doorstep: {absolute_link(message.link)}", ""]
    lines.append("Sent by Doorstep. Messages from Doorstep never carry pupils' names or addresses; the details are in Doorstep.")
    return "\n".join(lines)


def send_email(message: Message) -> str:
    """Send over the configured Django email backend (SMTP in production). The Message-ID
    is derived from the row, so a mail system that sees a retried copy can tell it is the same."""
    host = urlsplit(getattr(settings, "DOORSTEP_BASE_URL", "")).hostname or "doorstep.invalid"
    message_id = f"<{message.reference}@{host}>"
    mail = EmailMessage(
        subject=f"Doorstep: {message.subject}",
        body=email_text(message),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_address],
        headers={"Message-ID": message_id},
    )
    # Every Django backend takes extra keyword arguments; SMTP uses the timeout.
    connection = get_connection(fail_silently=False, timeout=provider_timeout())
    try:
        accepted = connection.send_messages([mail])
    except smtplib.SMTPRecipientsRefused as exc:
        # smtplib raises this for a 4xx at RCPT too: "try again later" (greylisting, a full
        # mailbox, a busy server) is worth retrying; only a 5xx is a refusal for good.
        codes = [code for code, _ in exc.recipients.values()]
        answer = "; ".join(f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
                           for code, reply in exc.recipients.values())
        permanent = bool(codes) and all(code >= 500 for code in codes)
        what = "refused" if permanent else "asked us to try again later for"
        raise ProviderError(f"the mail server {what} {message.to_address}: {answer}"[:500], permanent=permanent) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ProviderError(f"email not accepted: {type(exc).__name__}: {exc}"[:500]) from exc
    if not accepted:
        raise ProviderError("the email backend did not accept the message")
    return message_id
