"""Logs that never hold a secret address.

A calendar feed is reached by a secret address (/reports/calendar/<token>.ics): whoever holds
it sees its owner's visit times. Web-server access logs and Django's "Not Found" warnings write
every address they see, and logs are kept, copied and read far more widely than the database.
So both write the address with the token cut out."""
import logging
import re

from gunicorn import glogging

SECRET_IN_ADDRESS = re.compile(r"(/calendar/)[^/?#\s]+(\.ics)")


def without_secrets(text: str) -> str:
    return SECRET_IN_ADDRESS.sub(r"\1…\2", text)


class AccessLog(glogging.Logger):
    """gunicorn's access log (`doorstep start` passes --logger-class), tokens cut out."""

    def atoms(self, resp, req, environ, request_time):
        # Every atom, the request's headers too: gunicorn's types name only the fixed ones.
        atoms: dict[str, object] = dict(super().atoms(resp, req, environ, request_time))
        for key, value in atoms.items():
            if isinstance(value, str) and "/calendar/" in value:
                atoms[key] = without_secrets(value)
        return atoms


class HideSecrets(logging.Filter):
    """For Django's request and server loggers: "Not Found: /reports/calendar/<token>.ics"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(without_secrets(a) if isinstance(a, str) else a for a in record.args) \
                if isinstance(record.args, tuple) else record.args
        if isinstance(record.msg, str):
            record.msg = without_secrets(record.msg)
        request = getattr(record, "request", None)
        if request is not None and "/calendar/" in getattr(request, "path", ""):
            record.request = None  # Django's error e-mails and tracebacks would print it whole
        return True
