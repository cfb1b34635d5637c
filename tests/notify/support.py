"""Local stand-ins for the SMS providers and the SMTP server, and helpers the delivery tests share."""
import base64
import json
import socket
import time
import uuid
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import jwt
from aiosmtpd.controller import Controller
from django.utils import timezone

from notify import delivery
from notify.services import notify
from tests.local_server import LocalServer





SERVICE_ID = str(uuid.uuid4())


NOTIFY_SECRET = str(uuid.uuid4())


NOTIFY_KEY = f"doorstep_test-{SERVICE_ID}-{NOTIFY_SECRET}"


TEMPLATE_ID = str(uuid.uuid4())


TWILIO_SID = "AC" + "1" * 32


TWILIO_TOKEN = "twilio-test-token"


TWILIO_FROM = "+447700900000"


TIMEOUT = 0.3  # the provider timeout in these tests; a "hang" lasts longer than this


def point_email_at(settings, smtp):
    """Email by SMTP to the local sink."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "Doorstep <doorstep@school.example>"
    return settings


def point_at(settings, *, notify, twilio, smtp, timeout):
    """Texts through Notify, then Twilio, and email through the SMTP sink, each at its local
    fake (one FakeProvider may stand for both text services). `timeout`: the provider timeout."""
    settings.DOORSTEP_SMS_PROVIDERS = ["notify", "twilio"]
    settings.DOORSTEP_SMS_ATTEMPTS_PER_PROVIDER = 2
    settings.DOORSTEP_PROVIDER_TIMEOUT = timeout
    settings.DOORSTEP_BASE_URL = "https://doorstep.school.example"
    settings.NOTIFY_API_KEY = NOTIFY_KEY
    settings.NOTIFY_SMS_TEMPLATE_ID = TEMPLATE_ID
    settings.NOTIFY_BASE_URL = notify.url
    settings.TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_FROM = TWILIO_FROM
    settings.TWILIO_BASE_URL = twilio.url
    return point_email_at(settings, smtp)


class FakeProvider(LocalServer):
    """One HTTP server answering as both Notify (/v2/...) and Twilio (/2010-04-01/...).

    script   behaviours for the next requests, in order: "ok", 500, 429, "hang" (answer
             nothing until after the client's timeout) or "lost" (accept the message, then
             hang: the client never hears that it was accepted)
    down     answer 500 to everything
    """

    def __init__(self):
        self.requests = []
        self.accepted = []
        self.script = []
        self.down = False
        super().__init__()

    def sends(self, service):
        return [r for r in self.requests if r["method"] == "POST" and r["service"] == service]

    def handle(self, handler, method):
        url = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
        service = "notify" if url.path.startswith("/v2/") else "twilio"
        with self.lock:
            behaviour = "fail" if self.down else (self.script.pop(0) if self.script else "ok")
            self.requests.append({"method": method, "service": service, "path": url.path, "query": parse_qs(url.query),
                                  "headers": dict(handler.headers), "body": body, "behaviour": behaviour})
        if not self._authorised(handler, service):
            return self._reply(handler, 403, {"message": "bad credentials"})
        if behaviour == "fail":
            return self._reply(handler, 500, {"message": "provider down"})
        if behaviour in (500, 429):
            return self._reply(handler, behaviour, {"message": "try later"}, {"Retry-After": "30"} if behaviour == 429 else None)
        if behaviour == 403:
            return self._reply(handler, 403, {"message": "forbidden"})
        if behaviour == "hang":
            time.sleep(TIMEOUT * 3)
            return self._reply(handler, 500, {"message": "too late"})
        result = (self._notify if service == "notify" else self._twilio)(method, url, body)
        if behaviour == "lost":
            time.sleep(TIMEOUT * 3)
        return self._reply(handler, *result)

    def _authorised(self, handler, service):
        auth = handler.headers.get("Authorization", "")
        if service == "notify":
            try:
                claims = jwt.decode(auth.removeprefix("Bearer "), NOTIFY_SECRET, algorithms=["HS256"])
            except jwt.PyJWTError:
                return False
            return claims.get("iss") == SERVICE_ID
        return auth == "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()

    def _notify(self, method, url, body):
        if method == "GET":
            ref = parse_qs(url.query).get("reference", [None])[0]
            found = [n for n in self.accepted if n.get("reference") == ref]
            return 200, {"notifications": found, "links": {}}
        data = json.loads(body)
        sent = {"id": str(uuid.uuid4()), "reference": data.get("reference"), "status": "created", "service": "notify",
                "phone_number": data["phone_number"], "template_id": data["template_id"],
                "body": data["personalisation"]["body"]}
        with self.lock:
            self.accepted.append(sent)
        return 201, {"id": sent["id"], "reference": sent["reference"], "content": {"body": sent["body"]}}

    def _twilio(self, method, url, body):
        if not url.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
            return 404, {"message": "no such resource"}
        if method == "GET":
            q = parse_qs(url.query)
            found = [m for m in reversed(self.accepted) if m.get("to") == q.get("To", [""])[0] and m.get("from") == q.get("From", [""])[0]]
            return 200, {"messages": found}
        form = {k: v[0] for k, v in parse_qs(body).items()}
        sent = {"sid": "SM" + uuid.uuid4().hex, "to": form["To"], "from": form["From"], "body": form["Body"],
                "status": "queued", "service": "twilio", "date_created": format_datetime(timezone.now())}
        with self.lock:
            self.accepted.append(sent)
        return 201, sent


class SmtpSink:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving(sink):
    """Run an aiosmtpd handler on a free local port for the length of a fixture; sink.port says where."""
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


def alert_for(staff, key="alert:1:step:1"):
    return {m.channel: m for m in notify(
        [staff], kind="alert.overdue", subject="Visit overdue", body="Sam has not checked in. Call Sam now.",
        link="/board/alerts/1/", school=staff.school, alert=1, idempotency_key=key,
    )}


def fresh(message):
    message.refresh_from_db()
    return message


def run(worker="w1"):
    return delivery.run_once(worker=worker)
