"""Input no field of Doorstep can hold, refused at the door for every page and the API.

NUL (U+0000): PostgreSQL text cannot contain it, so a search box or an API field given one
would fail in the database (a server error) rather than say what is wrong; SQLite would
store it and show it nowhere. Django's form fields already refuse it; this covers the
search boxes and views that read the query string or the body directly, and JSON bodies.
Found by tests/test_hostile_input.py on PostgreSQL."""
import re

from django.db import DataError
from django.http import HttpResponseBadRequest, JsonResponse

MESSAGE = "The request contains a NUL character (U+0000), which no field can hold. Remove it and try again."
JSON_NUL = re.compile(rb"(?<!\\)\\u0000", re.IGNORECASE)


def _has_nul(querydict):
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in querydict.lists())


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._bad(request):
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": MESSAGE, "field": None, "errors": None}, status=400)
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _bad(request):
        if "\x00" in request.path_info or _has_nul(request.GET):
            return True
        if request.method in ("POST", "PUT", "PATCH"):
            if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                return _has_nul(request.POST)
            if request.content_type == "application/json":
                return bool(JSON_NUL.search(request.body))
        return False


TOO_LARGE = "A number in the request is too large to be the number of any record. Check the link or the form and try again."


def _out_of_range(exception: BaseException) -> bool:
    # SQLite's driver raises OverflowError for an integer past 64 bits; PostgreSQL answers
    # "value out of range" (psycopg's NumericValueOutOfRange), which Django wraps in DataError.
    if isinstance(exception, OverflowError):
        return True
    cause = exception.__cause__
    return isinstance(exception, DataError) and type(cause).__name__ == "NumericValueOutOfRange"


class OutOfRangeNumberMiddleware:
    """A record number that no column can hold (a form field, a query string or a link edited
    to 9999999999999999999999) reaches the database from whichever view read it and fails
    there. It is the sender's mistake, not the server's: a 400 that says so, for every page
    and the API, instead of a server error from each view that forgot to check."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not _out_of_range(exception):
            return None
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": TOO_LARGE, "field": None, "errors": None}, status=400)
        return HttpResponseBadRequest(TOO_LARGE, content_type="text/plain; charset=utf-8")
