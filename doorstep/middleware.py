"""Input no field of Doorstep can hold, refused at the door for every page and the API.

NUL (U+0000): PostgreSQL text cannot contain it, so a search box or an API field given one
would fail in the database (a server error) rather than say what is wrong; SQLite would
store it and show it nowhere. Django's form fields already refuse it; this covers the
search boxes and views that read the query string or the body directly, and JSON bodies.
Found by tests/security/test_hostile_input.py on PostgreSQL."""
import re

from django.conf import settings
from django.db import DataError
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.urls import Resolver404, resolve

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


# Pages that take a file, and how large a request each may be: the file's own limit
# (doorstep/uploads.py) and room for the rest of the form. Every other request is a form or
# a JSON body, and Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) is far more than any needs.
UPLOAD_PAGES = {"attendance:import": 26 * 1024 * 1024}


class RequestSizeLimitMiddleware:
    """Refuse an over-large request from what it says its length is, before anything reads the
    body. Without this, the CSRF check and the NUL check parse every multipart body whoever sends
    it: two 600 MB posts to the sign-in page held both web workers for 30 s. A page that takes a
    file gets its larger limit only for someone signed in; anyone else gets the small one.
    (Put a limit in the proxy in front too: docs/security.md says which.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponseBadRequest("The request's length is not a number.", content_type="text/plain; charset=utf-8")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        if length > limit:
            limit = max(limit, self._upload_limit(request))
        if length > limit:
            message = (f"The request is too large ({length / 1_048_576:.1f} MB; this page takes up to "
                       f"{limit / 1_048_576:.1f} MB). Nothing was received or changed.")
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": message, "field": None, "errors": None}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _upload_limit(request) -> int:
        try:
            name = resolve(request.path_info).view_name
        except Resolver404:
            return 0
        if name not in UPLOAD_PAGES or not request.user.is_authenticated:
            return 0
        return UPLOAD_PAGES[name]
