"""Stand-ins for the outside world, on 127.0.0.1 only: an HTTP server answering as GOV.UK
Notify and Twilio, and an SMTP server (aiosmtpd). Each can be told to misbehave, for
everyone or per recipient, the way real providers do:

    ok        accept and answer at once
    refuse    answer with an error: HTTP 500, SMTP 451 at MAIL FROM (temporary)
    hang      say nothing until well after the client's timeout, then an error
    greylist  SMTP: 450 at RCPT for an address first seen less than GREYLIST_SECONDS ago
              (a real greylister wants the same sender back a little later)
    ratelimit SMS: 429 with Retry-After: 5
    lose      accept the message, then drop the connection before answering: the
              message went, but the sender never hears so

Every accepted text or email is recorded with the time, so that the harness can count
copies (duplicates) and delays. The servers run in threads of the harness process, which
also lets the harness hold a send open while it kills the worker that made it.
"""
from __future__ import annotations

import asyncio
import datetime
import json
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from email import message_from_bytes
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

SERVICE_ID = str(uuid.uuid4())
NOTIFY_SECRET = str(uuid.uuid4())
NOTIFY_KEY = f"doorstep_chaos-{SERVICE_ID}-{NOTIFY_SECRET}"
TEMPLATE_ID = str(uuid.uuid4())
TWILIO_SID = "AC" + "c" * 32
TWILIO_TOKEN = "chaos-token"
TWILIO_FROM = "+447700900000"
GREYLIST_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def staff_number(address: str) -> int | None:
    """The bench's staff index k from a mobile (07700 9kkkkk) or email (benchkkkkkk@...):
    lets a fault be given to one recipient in four."""
    found = re.search(r"bench(\d+)@", address)
    if found:
        return int(found.group(1))
    digits = re.sub(r"\D", "", address)
    return int(digits[-5:]) if len(digits) >= 5 else None


@dataclass
class Faults:
    """What a server does now. `mode` applies to everyone; `by_staff` (a list of modes)
    gives staff k the mode by_staff[k % len]; `until` (time.monotonic) ends the fault."""
    mode: str = "ok"
    by_staff: list[str] | None = None
    until: float | None = None

    def for_address(self, address: str) -> str:
        if self.until is not None and time.monotonic() >= self.until:
            return "ok"
        if self.by_staff:
            k = staff_number(address)
            return self.by_staff[k % len(self.by_staff)] if k is not None else "ok"
        return self.mode


@dataclass
class Accepted:
    key: str            # one message: the number and the link in the text, or the Message-ID
    to: str
    at: float           # time.time()
    service: str
    mode: str
    text: str = ""


LINK = re.compile(r"https?://\S+")


def text_key(to: str, text: str) -> str:
    """Which message a text is, whichever provider took it and whatever its wording: the
    number (last ten digits, so 07700 900001 and +447700900001 agree) and the link, which
    names the alert; the whole text when there is no link."""
    link = LINK.search(text)
    return f"{re.sub(r'[^0-9]', '', to)[-10:]}|{link.group(0) if link else text}"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A worker killed mid-request resets its connection: that is the experiment, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeSms:
    """One HTTP server answering as Notify (/v2/...) and Twilio (/2010-04-01/...)."""

    def __init__(self, *, hang_seconds: float = 8.0, delay: tuple[float, float] = (0.0, 0.0)):
        self.faults = Faults()
        self.hang_seconds = hang_seconds
        self.delay = delay
        self.accepted: list[Accepted] = []
        self._store: list[dict] = []  # what the provider keeps: the look-up answers from it
        self.requests = 0
        self.inflight = 0  # text sends being answered now
        self.lock = threading.Lock()
        # Kill-mid-send: when `hold` is set, the next accepted text is recorded, then the
        # answer is held back until `released` (the harness kills the sender meanwhile).
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.released = threading.Event()
        self.held_keys: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict[str, str]:
        return {"DOORSTEP_SMS_PROVIDER": "notify,twilio", "NOTIFY_API_KEY": NOTIFY_KEY,
                "NOTIFY_SMS_TEMPLATE_ID": TEMPLATE_ID, "NOTIFY_BASE_URL": self.url,
                "TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_FROM": TWILIO_FROM,
                "TWILIO_BASE_URL": self.url}

    def copies(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self.lock:
            for a in self.accepted:
                out[a.key] = out.get(a.key, 0) + 1
        return out

    def duplicated(self, limit: int = 10) -> list[dict]:
        """The texts that arrived more than once, with each copy's provider and words."""
        copies = self.copies()
        with self.lock:
            return [{"key": k, "copies": [{"service": a.service, "at": round(a.at, 2), "text": a.text[:160]}
                                          for a in self.accepted if a.key == k]}
                    for k, n in copies.items() if n > 1][:limit]

    # ------------------------------------------------------------------ HTTP

    def _reply(self, handler, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting, or was killed

    def _drop(self, handler) -> None:
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def handle(self, handler, method: str) -> None:
        url = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
        service = "notify" if url.path.startswith("/v2/") else "twilio"
        with self.lock:
            self.requests += 1
        if method == "GET":
            return self._reply(handler, 200, self._lookup(service, url))
        with self.lock:
            self.inflight += 1
        try:
            self._send(handler, service, body)
        finally:
            with self.lock:
                self.inflight -= 1

    def _send(self, handler, service: str, body: str) -> None:
        if service == "notify":
            data = json.loads(body or "{}")
            to, text, ref = data.get("phone_number", ""), data.get("personalisation", {}).get("body", ""), data.get("reference")
        else:
            form = {k: v[0] for k, v in parse_qs(body).items()}
            to, text, ref = form.get("To", ""), form.get("Body", ""), None
        mode = self.faults.for_address(to)
        if self.delay[1] > 0:
            time.sleep(self.delay[0] + (self.delay[1] - self.delay[0]) * (hash(text) % 1000) / 1000)
        if mode == "refuse":
            return self._reply(handler, 500, {"message": "provider down (chaos)"})
        if mode == "ratelimit":
            return self._reply(handler, 429, {"message": "slow down (chaos)"}, {"Retry-After": "5"})
        if mode == "hang":
            time.sleep(self.hang_seconds)
            return self._reply(handler, 500, {"message": "too late (chaos)"})
        key = text_key(to, text)
        sid = ("SM" + uuid.uuid4().hex) if service == "twilio" else str(uuid.uuid4())
        record = {"sid": sid, "id": sid, "reference": ref, "to": to, "from": TWILIO_FROM, "body": text,
                  "status": "created", "date_created": format_datetime(datetime.datetime.now(datetime.timezone.utc)),
                  "service": service}
        with self.lock:
            self.accepted.append(Accepted(key=key, to=to, at=time.time(), service=service, mode=mode, text=text))
            self._store.append(record)
        if self.hold.is_set():
            self.hold.clear()
            self.held_keys.append(key)
            self.released.clear()
            self.holding.set()
            self.released.wait(10)  # the sender is killed meanwhile; nobody hears the answer
            return self._drop(handler)
        if mode == "lose":
            return self._drop(handler)
        if service == "notify":
            return self._reply(handler, 201, {"id": sid, "reference": ref, "content": {"body": text}})
        return self._reply(handler, 201, record)

    def _lookup(self, service: str, url) -> dict:
        q = parse_qs(url.query)
        with self.lock:
            if service == "notify":
                ref = q.get("reference", [None])[0]
                return {"notifications": [r for r in self._store if r["service"] == "notify" and r["reference"] == ref],
                        "links": {}}
            to = q.get("To", [""])[0]
            return {"messages": [r for r in reversed(self._store) if r["service"] == "twilio" and r["to"] == to]}


class _SmtpHandler:
    def __init__(self, fake: "FakeSmtp"):
        self.fake = fake

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        mode = self.fake.faults.for_address(address)
        if mode == "refuse":
            return "451 4.3.2 System not accepting messages (chaos)"
        if mode == "greylist":
            first = self.fake.first_seen.setdefault(address, time.monotonic())
            if time.monotonic() - first < GREYLIST_SECONDS:
                return "450 4.2.0 Greylisted, please try again later (chaos)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        to = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        mode = self.fake.faults.for_address(to)
        if mode == "hang":
            await asyncio.sleep(self.fake.hang_seconds)
            return "451 4.3.0 Too late (chaos)"
        parsed = message_from_bytes(envelope.original_content or envelope.content)
        key = parsed.get("Message-ID", "") or f"{to}|{parsed.get('Subject', '')}"
        with self.fake.lock:
            self.fake.accepted.append(Accepted(key=key, to=to, at=time.time(), service="smtp", mode=mode))
        if mode == "lose":
            server.transport.abort()  # taken, and the 250 never reaches the sender
            return "250 OK"
        return "250 Message accepted (chaos)"


class FakeSmtp:
    def __init__(self, *, hang_seconds: float = 8.0):
        self.faults = Faults()
        self.hang_seconds = hang_seconds
        self.accepted: list[Accepted] = []
        self.first_seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def settings(self) -> dict[str, str]:
        return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "0", "EMAIL_USE_SSL": "0",
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "DEFAULT_FROM_EMAIL": "Doorstep <doorstep@school.example>"}

    def copies(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self.lock:
            for a in self.accepted:
                out[a.key] = out.get(a.key, 0) + 1
        return out
