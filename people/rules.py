"""Loaded at start-up by django-rules (its app autodiscovers each app's rules.py), so that
user.has_perm("doorstep.<action>", obj) and the admin's checks are registered before the
first request, whatever module happens to be imported first. The rules themselves live in
people.permissions."""
from . import permissions  # noqa: F401 - importing it registers the rules (see above)
