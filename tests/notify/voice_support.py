"""A local stand-in for Twilio's Calls API, and Twilio's call-back signed as Twilio signs it,
for the phone-call tests (tests/notify/test_voice.py, tests/safety/test_voice_ladder.py)."""
import base64
import hashlib
import hmac
import time
import uuid
import xml.etree.ElementTree as ET
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone

from tests.local_server import LocalServer
from tests.notify.support import TIMEOUT, TWILIO_SID, TWILIO_TOKEN

VOICE_FROM = "+447700900999"
BASE_URL = "https://doorstep.school.example"
CALLS_PATH = f"/2010-04-01/Accounts/{TWILIO_SID}/Calls.json"


class FakeTwilioCalls(LocalServer):
    """Twilio's Calls resource: POST places a call (To, From, Twiml), GET lists them (To, From).

    script   behaviours for the next requests, in order: "ok", 500, "hang" (answer after the
             client's timeout) or "lost" (place the call, then hang: the answer never arrives)
    down     answer 500 to everything
    hang     answer nothing until after the client's timeout, to everything
    """

    def __init__(self):
        self.requests = []
        self.calls = []
        self.script = []
        self.down = False
        self.hang = False
        super().__init__()

    def placed(self, to=None):
        """Calls Twilio accepted (to one number, if given), oldest first."""
        return [c for c in self.calls if to is None or c["to"] == to]

    def handle(self, handler, method):
        url = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
        with self.lock:
            behaviour = 500 if self.down else "hang" if self.hang else (self.script.pop(0) if self.script else "ok")
            self.requests.append({"method": method, "path": url.path, "query": parse_qs(url.query), "body": body,
                                  "behaviour": behaviour})
        if handler.headers.get("Authorization", "") != "Basic " + base64.b64encode(
                f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode():
            return self._reply(handler, 401, {"message": "Authenticate"})
        if url.path != CALLS_PATH:
            return self._reply(handler, 404, {"message": "The requested resource was not found"})
        if behaviour == 500:
            return self._reply(handler, 500, {"message": "provider down"})
        if behaviour == "hang":
            time.sleep(TIMEOUT * 3)
            return self._reply(handler, 500, {"message": "too late"})
        if method == "GET":
            q = parse_qs(url.query)
            found = [c for c in reversed(self.calls)
                     if c["to"] == q.get("To", [""])[0] and c["from"] == q.get("From", [""])[0]]
            return self._reply(handler, 200, {"calls": found})
        form = {k: v[0] for k, v in parse_qs(body).items()}
        call = {"sid": "CA" + uuid.uuid4().hex, "to": form["To"], "from": form["From"], "twiml": form["Twiml"],
                "status": "queued", "date_created": format_datetime(timezone.now())}
        with self.lock:
            self.calls.append(call)
        if behaviour == "lost":
            time.sleep(TIMEOUT * 3)
        return self._reply(handler, 201, call)


def configure_voice(settings, fake):
    """Settings for phone calls through the fake (SMS and email are the caller's business)."""
    settings.TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_VOICE_FROM = VOICE_FROM
    settings.TWILIO_BASE_URL = fake.url
    settings.DOORSTEP_BASE_URL = BASE_URL
    settings.DOORSTEP_PROVIDER_TIMEOUT = TIMEOUT
    return settings


def twiml_of(call):
    """(the words said, the call-back addresses of its <Gather>s) of a placed call."""
    root = ET.fromstring(call["twiml"])
    said = " ".join(s.text or "" for s in root.iter("Say"))
    actions = [g.get("action") for g in root.iter("Gather")]
    return said, actions


def twilio_signature(url, params, token=TWILIO_TOKEN):
    """X-Twilio-Signature as Twilio documents it: base64 of HMAC-SHA1, keyed with the auth token,
    over the full URL followed by each POST parameter's name and value, sorted by name."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def press(client, action, digits="1", *, token=TWILIO_TOKEN, signature=None):
    """Twilio posting the key pressed to a <Gather>'s action address (absolute, as in the TwiML)."""
    params = {"CallSid": "CA" + uuid.uuid4().hex, "AccountSid": TWILIO_SID, "Digits": digits}
    if digits is None:
        params.pop("Digits")
    path = action.removeprefix(BASE_URL)
    header = twilio_signature(action, params, token) if signature is None else signature
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=header)


def said(response):
    """The words of a TwiML answer."""
    root = ET.fromstring(response.content)
    return " ".join(s.text or "" for s in root.iter("Say"))
