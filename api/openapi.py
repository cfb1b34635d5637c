"""Answers every endpoint can give that its own decorator does not list, added to the OpenAPI
document in one place so the document says what the API really does (the schemathesis run in
tests/api/test_api_fuzz.py checks every answer against it):

  400  a parameter or body that does not validate ({"detail", "field", "errors"})
  401  not signed in, second factor not given, or an API token that is unknown, revoked or expired
  403  signed in, but the role (or the token's scope) does not allow it
  404  an id that does not exist or belongs to another school (never told apart)

and `not_found`, the JSON 404 for any /api/ address that matches no endpoint (e.g. a visit id
that is not a number, or one too long to be any record's), instead of Django's HTML page.

A number too large for the database (ids are 64-bit) in a body or query, e.g. `visit_ids:
[10**30]`, is a 400 naming the problem: SQLite's driver refuses to bind it (OverflowError)
before anything is sent, so nothing has changed. Found by the fuzzing run."""
from django.http import JsonResponse

ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
DESCRIPTIONS = {
    "400": "The request does not validate: `field` names the part at fault, `errors` lists the messages.",
    "401": "Not signed in (or the second factor not given), or an API token that is unknown, revoked or expired.",
    "403": "Signed in, but your role at this school (or the token's scope) does not allow this.",
    "404": "Not found: it does not exist, or it belongs to a school you are not in.",
}


def add_shared_responses(schema: dict) -> dict:
    for path, operations in schema.get("paths", {}).items():
        for op in operations.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            codes = set()
            if op.get("security"):
                codes |= {"401", "403"}
            if op.get("parameters") or op.get("requestBody"):
                codes.add("400")
            if "{" in path:
                codes.add("404")
            for code in sorted(codes):
                # django-ninja keys an operation's own responses by number (403), these by text
                # ("403"): both become "403" in the JSON, a duplicated key Swagger UI cannot parse.
                if int(code) not in op["responses"]:
                    op["responses"].setdefault(code, {"description": DESCRIPTIONS[code], **ERROR})
    return schema


def install(api):
    """Wrap the API's document builder (django-ninja builds it on each request to openapi.json)."""
    build = api.get_openapi_schema

    def get_openapi_schema(*args, **kwargs):
        return add_shared_responses(build(*args, **kwargs))

    api.get_openapi_schema = get_openapi_schema
    api.add_exception_handler(OverflowError, number_too_large)


def number_too_large(request, exc):
    return JsonResponse({"detail": "A number in the request is too large to be an id or a count.",
                         "field": None, "errors": None}, status=400)


def not_found(request, *args, **kwargs):
    return JsonResponse({"detail": "Not found."}, status=404)
