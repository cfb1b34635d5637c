"""What every page of a school's staff starts with: who is acting, at which school, and may
they do this. Views of every app use these."""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.utils.http import url_has_allowed_host_and_scheme

from .access import current_staff
from .models import StaffMember
from .permissions import can


P = ParamSpec("P")


class StaffRequest(HttpRequest):
    """The request a view behind staff_required receives (for the type checker only: at run
    time it is Django's request with `staff` set on it)."""

    staff: StaffMember


def staff_required(
    view: Callable[Concatenate[StaffRequest, P], HttpResponseBase],
) -> Callable[Concatenate[HttpRequest, P], HttpResponseBase]:
    """Signed in, and acting as a member of a school's staff: sets request.staff."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        staff = current_staff(request)
        if staff is None:
            raise PermissionDenied("You are not on the staff of any school in Doorstep.")
        staff_request = cast(StaffRequest, request)  # the same object, with staff set next
        staff_request.staff = staff
        return view(staff_request, *args, **kwargs)

    return wrapper


def require(staff: StaffMember | None, action: str, obj: object = None) -> None:
    if not can(staff, action, obj):
        raise PermissionDenied("Your role at this school does not allow this.")


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def local_next(request: HttpRequest) -> str:
    """The `next` a link carried (where to offer to go back to), if it is a path on this site;
    "". A full address, even to this host, or a scheme-relative "//elsewhere" is never offered:
    a link someone was sent must not lead off Doorstep from a "Back" button."""
    target = safe_next(request, "")
    return target if target.startswith("/") else ""
