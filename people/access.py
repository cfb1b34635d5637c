"""Which schools and which staff record a signed-in user acts as. Every query for school
data starts from here, so that nobody sees another school's records."""

from schools.models import School

from .models import StaffMember

SESSION_KEY = "doorstep_school_id"


def staff_records(user):
    if not user.is_authenticated:
        return StaffMember.objects.none()
    return StaffMember.objects.filter(user=user, active=True).select_related("school").prefetch_related("roles")


def schools_for(user):
    """Schools whose records this user may see (as a member of staff)."""
    if not user.is_authenticated:
        return School.objects.none()
    return School.objects.filter(staff__user=user, staff__active=True).distinct()


def current_staff(request):
    """The staff record the user is acting as: the school chosen in this session, or their first."""
    records = list(staff_records(request.user))
    if not records:
        return None
    chosen = request.session.get(SESSION_KEY)
    for record in records:
        if record.school_id == chosen:
            return record
    return records[0]
