"""Input no field of Doorstep can hold, refused at the door for every page and the API.

NUL (U+0000): PostgreSQL text cannot contain it, so a search box or an API field given one
would fail in the database (a server error) rather than say what is wrong; SQLite would
store it and show it nowhere. Django's form fields already refuse it; this covers the
search boxes and views that read the query string or the body directly, and JSON bodies.
Found by tests/test_hostile_input.py on PostgreSQL."""
import re

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
