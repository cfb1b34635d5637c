"""Local stand-ins for what the readiness panel asks the providers: Twilio's balance and
GOV.UK Notify's authenticated list of notifications, on top of tests/notify/support.py's fake
(which also takes the texts the delivery worker sends), and the settings that point
Doorstep at one fake per provider, so that one can be down while the others answer."""
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.notify.support import (
    SERVICE_ID, TWILIO_SID, FakeProvider, free_port,
)

# A well-formed Notify key for the right service with the wrong secret: Notify answers 403.
WRONG_NOTIFY_KEY = f"doorstep_test-{SERVICE_ID}-{uuid.uuid4()}"


class ProviderFake(FakeProvider):
    """FakeProvider, plus Twilio's Balance.json (GET, with the account's credentials). Set
    `balance` to what it answers; `down`, `script` ("hang", 500, 403) as in FakeProvider."""

    def __init__(self):
        super().__init__()
        self.balance = {"balance": "23.45", "currency": "GBP", "account_sid": TWILIO_SID}

    def _twilio(self, method, url, body):
        if method == "GET" and url.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Balance.json":
            return 200, self.balance
        return super()._twilio(method, url, body)

    def asked(self, service):
        return [r for r in self.requests if r["service"] == service]


def serving_with_login(sink, user, password):
    """An aiosmtpd server (for a fixture, as tests/notify/support.serving) that asks for a
    login, over plain SMTP, and accepts only this user name and password."""
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
            and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), authenticator=check,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()
