"""Asking each text and email provider whether it would take a message now, without sending
one. Plain network calls with short timeouts; nothing here touches the database, so the
probes can run side by side in threads (run_probes) and a slow or broken provider never
holds up the check of another.

- Twilio: GET /2010-04-01/Accounts/{sid}/Balance.json with the account's credentials:
  reachable, credentials good, and the credit left (balance and currency).
- GOV.UK Notify has no balance endpoint: an authenticated GET of /v2/notifications (through
  its official client, filtered by a reference no message has, so the answer is empty)
  proves the key works and the service answers.
- The mail server: connect, EHLO, STARTTLS or SSL as configured, log in if a user is set,
  NOOP. Nothing is sent.

What each says is in words for a headteacher ("Twilio did not answer within 5 seconds"),
never a setting's key."""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import requests
from django.conf import settings
from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from notify.providers import SMS_PROVIDERS, provider_timeout

PROBE_TIMEOUT_MAX = 5.0  # seconds: the panel's "Check now" must come back quickly
# A reference no message ever has: Notify answers an empty list, whatever the service has sent.
NOTIFY_PROBE_REFERENCE = "doorstep-readiness-probe"

NAMES = {"twilio": "Twilio", "notify": "GOV.UK Notify", "smtp": "The mail server"}


@dataclass(frozen=True)
class ProbeResult:
    provider: str  # "twilio" | "notify" | "smtp" (ProviderCheck.Provider)
    ok: bool
    detail: str
    balance: Decimal | None = None
    currency: str = ""


Probe = Callable[[float], ProbeResult]


def probe_timeout() -> float:
    """The configured provider timeout, but never more than PROBE_TIMEOUT_MAX."""
    return min(provider_timeout(), PROBE_TIMEOUT_MAX)


def _seconds(timeout: float) -> str:
    return f"{timeout:g} second{'' if timeout == 1 else 's'}"


# ----------------------------------------------------------------------------- Twilio

def probe_twilio(timeout: float) -> ProbeResult:
    sid = settings.TWILIO_ACCOUNT_SID
    url = f"{settings.TWILIO_BASE_URL.rstrip('/')}/2010-04-01/Accounts/{sid}/Balance.json"
    try:
        response = requests.get(url, auth=(sid, settings.TWILIO_AUTH_TOKEN), timeout=timeout)
    except requests.Timeout:
        return ProbeResult("twilio", False, f"Twilio did not answer within {_seconds(timeout)}.")
    except requests.RequestException as exc:
        return ProbeResult("twilio", False, f"Twilio could not be reached ({type(exc).__name__}).")
    if response.status_code in (401, 403):
        return ProbeResult("twilio", False, "Twilio refused Doorstep's account details: texts through Twilio "
                                            f"will not go (it answered {response.status_code}).")
    if response.status_code != 200:
        return ProbeResult("twilio", False, f"Twilio answered with an error ({response.status_code}).")
    try:
        answer = response.json()
        balance = Decimal(str(answer["balance"]))
        currency = str(answer.get("currency", ""))[:3].upper()
    except (ValueError, KeyError, TypeError, InvalidOperation):
        return ProbeResult("twilio", True, "Twilio answered, but did not say how much credit is left.")
    return ProbeResult("twilio", True, "Twilio answered and accepted Doorstep's account details.",
                       balance=balance, currency=currency)


# ----------------------------------------------------------------------------- GOV.UK Notify

def probe_notify(timeout: float) -> ProbeResult:
    try:
        client = NotificationsAPIClient(settings.NOTIFY_API_KEY, base_url=settings.NOTIFY_BASE_URL, timeout=timeout)
        client.get_all_notifications(reference=NOTIFY_PROBE_REFERENCE)
    except APIError as exc:
        if getattr(exc, "response", None) is None:  # no answer at all: timeout, refused connection
            cause = exc.__cause__ or exc
            if isinstance(cause, requests.Timeout):
                return ProbeResult("notify", False, f"GOV.UK Notify did not answer within {_seconds(timeout)}.")
            return ProbeResult("notify", False, f"GOV.UK Notify could not be reached ({type(cause).__name__}).")
        if exc.status_code in (401, 403):
            return ProbeResult("notify", False, "GOV.UK Notify refused Doorstep's key: texts through Notify "
                                                f"will not go (it answered {exc.status_code}).")
        return ProbeResult("notify", False, f"GOV.UK Notify answered with an error ({exc.status_code}).")
    except (ValueError, IndexError) as exc:  # a key the client cannot even read
        return ProbeResult("notify", False, f"Doorstep's key for GOV.UK Notify is not in the right form ({exc}).")
    return ProbeResult("notify", True, "GOV.UK Notify answered and accepted Doorstep's key. "
                                       "Notify does not say how much credit is left.")


# ----------------------------------------------------------------------------- SMTP

def probe_smtp(timeout: float) -> ProbeResult:
    host, port = settings.EMAIL_HOST, int(settings.EMAIL_PORT)
    where = f"{host}:{port}"
    try:
        server: smtplib.SMTP
        if getattr(settings, "EMAIL_USE_SSL", False):
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        try:
            server.ehlo()
            if getattr(settings, "EMAIL_USE_TLS", False):
                server.starttls(context=ssl.create_default_context())
                server.ehlo()
            if settings.EMAIL_HOST_USER:
                server.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
            code, _ = server.noop()
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
    except smtplib.SMTPAuthenticationError as exc:
        return ProbeResult("smtp", False, f"The mail server at {where} refused Doorstep's user name or password "
                                          f"({exc.smtp_code}).")
    except TimeoutError:
        return ProbeResult("smtp", False, f"The mail server at {where} did not answer within {_seconds(timeout)}.")
    except (smtplib.SMTPException, OSError) as exc:
        return ProbeResult("smtp", False, f"The mail server at {where} could not be reached ({type(exc).__name__}: "
                                          f"{exc})"[:480] + ".")
    if code != 250:
        return ProbeResult("smtp", False, f"The mail server at {where} answered a check with {code}.")
    login = " and accepted Doorstep's login" if settings.EMAIL_HOST_USER else ""
    return ProbeResult("smtp", True, f"The mail server at {where} answered{login}.")


# ----------------------------------------------------------------------------- which, and all at once

PROBES: dict[str, Probe] = {"twilio": probe_twilio, "notify": probe_notify, "smtp": probe_smtp}


def sends_email_by_smtp() -> bool:
    return bool(settings.EMAIL_HOST) and settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"


def probes_to_run() -> list[str]:
    """The providers this installation sends through, so the ones worth asking: the SMS
    providers listed and configured (not the console), and SMTP when email goes by SMTP."""
    names = [name for name in getattr(settings, "DOORSTEP_SMS_PROVIDERS", [])
             if name in PROBES and name in SMS_PROVIDERS and SMS_PROVIDERS[name].configured()]
    if sends_email_by_smtp():
        names.append("smtp")
    return list(dict.fromkeys(names))


def _isolated(name: str, probe: Probe, timeout: float) -> ProbeResult:
    try:
        return probe(timeout)
    except Exception as exc:  # noqa: BLE001 - one provider's surprise must not stop the others being checked
        return ProbeResult(name, False, f"{NAMES[name]} could not be checked: {type(exc).__name__}: {exc}"[:480])


def run_probes(names: list[str], timeout: float | None = None,
               probes: dict[str, Probe] | None = None) -> list[ProbeResult]:
    """Ask each provider at once, each in its own thread. Comes back within about twice the
    timeout whatever the providers do: a probe still running then is reported as not
    answering (its thread is left to finish on its own), and the others' answers are kept."""
    timeout = probe_timeout() if timeout is None else timeout
    probes = PROBES if probes is None else probes
    if not names:
        return []
    pool = ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="readiness-probe")
    futures = {name: pool.submit(_isolated, name, probes[name], timeout) for name in names}
    wait(futures.values(), timeout=timeout * 2 + 1)
    pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for name, future in futures.items():
        if future.done() and not future.cancelled():
            results.append(future.result())
        else:
            results.append(ProbeResult(name, False, f"{NAMES[name]} did not answer within {_seconds(timeout * 2 + 1)}."))
    return results
