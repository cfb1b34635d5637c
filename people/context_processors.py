from .access import current_staff


def current_school(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    staff = current_staff(request)
    return {"me": staff, "current_school": staff.school if staff else None}
