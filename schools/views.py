import datetime
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from visits.models import Visit, VisitList

from doorstep.forms import errors_onto

from . import calendar
from .access import SESSION_KEY, current_staff, schools_for, staff_records
from .models import SchoolClosure
from .permissions import VISITORS, can

OPEN_STATES = [Visit.State.PROPOSED, Visit.State.APPROVED, Visit.State.SCHEDULED, Visit.State.UNDER_WAY]


def staff_required(view):
    """Signed in, and acting as a member of a school's staff: sets request.staff."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        staff = current_staff(request)
        if staff is None:
            raise PermissionDenied("You are not on the staff of any school in Doorstep.")
        request.staff = staff
        return view(request, *args, **kwargs)

    return wrapper


def require(staff, action, obj=None):
    if not can(staff, action, obj):
        raise PermissionDenied("Your role at this school does not allow this.")


def safe_next(request, default):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


@login_required
def home(request):
    me = current_staff(request)
    if me is None:
        return render(request, "schools/no_school.html", status=403)
    school = me.school
    now = timezone.now()
    today = timezone.localdate()
    day_start = timezone.make_aware(datetime.datetime.combine(today, datetime.time.min))
    day_end = day_start + datetime.timedelta(days=1)
    visits = Visit.objects.filter(school=school).select_related("pupil").prefetch_related("assignments__staff")
    ctx = {"nav": "home", "schools": schools_for(request.user) if staff_records(request.user).count() > 1 else None}

    if can(me, "visit.approve"):
        ctx["awaiting_approval"] = visits.filter(state=Visit.State.PROPOSED).order_by("starts_at")
    if can(me, "visitlist.sign"):
        ctx["lists_to_sign"] = VisitList.objects.filter(school=school, signed_at__isnull=True).prefetch_related("visits")
    if me.has_role(*VISITORS):
        ctx["my_visits"] = (
            visits.filter(Q(assignments__staff=me) | Q(proposed_by=me), state__in=OPEN_STATES, ends_at__gte=now)
            .distinct()
            .order_by("starts_at")[:20]
        )
    if me.has_role("office", "headteacher", "deputy_headteacher", "dsl"):
        ctx["today"] = visits.filter(
            starts_at__gte=day_start, starts_at__lt=day_end,
            state__in=[Visit.State.APPROVED, Visit.State.SCHEDULED, Visit.State.UNDER_WAY,
                       Visit.State.COMPLETED, Visit.State.NOT_SEEN, Visit.State.ABANDONED],
        ).order_by("starts_at")
    if me.has_role(*VISITORS):
        # Reports of ended visits this person led and has not written (reports app).
        from reports.services import reports_owed

        ctx["reports_owed"] = reports_owed(me)
    if can(me, "board.view"):
        # The office board's tile (alerts app): visits under way, open alerts, watchdog.
        from alerts.board_view import home_tile

        ctx["board_tile"] = home_tile(me)
    ctx["may_propose"] = can(me, "visit.propose")
    return render(request, "schools/home.html", ctx)


@login_required
@require_POST
def switch_school(request):
    """Act as one's staff record at another school (for people on several schools' staff)."""
    try:
        school_id = int(request.POST.get("school", ""))
    except ValueError:
        school_id = None
    record = staff_records(request.user).filter(school_id=school_id).first()
    if record is None:
        raise PermissionDenied("You are not on the staff of that school.")
    request.session[SESSION_KEY] = record.school_id
    messages.success(request, f"You are now working in {record.school.name}.")
    return redirect("home")


# ----------------------------------------------------------------------------- term dates

class ClosureForm(forms.Form):
    label = forms.CharField(label="What is it", max_length=100,
                            help_text='For example "Christmas holidays", "February half-term" or "INSET day".')
    first_day = forms.DateField(label="First day closed", widget=forms.DateInput(attrs={"type": "date"}))
    last_day = forms.DateField(label="Last day closed", widget=forms.DateInput(attrs={"type": "date"}),
                               help_text="The same as the first day for a single day.")


@staff_required
def term_dates(request):
    """The school's holidays and closures: school days (reports due, follow-up visits) skip them."""
    me = request.staff
    require(me, "calendar.manage")
    form = ClosureForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            closure = calendar.add_closure(me, request=request, **form.cleaned_data)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(request, f"Added: {closure}.")
            return redirect("term_dates")
    today = timezone.localdate()
    closures = SchoolClosure.objects.filter(school=me.school)
    return render(request, "schools/term_dates.html", {
        "nav": "policy", "form": form,
        "coming": closures.filter(last_day__gte=today), "past": closures.filter(last_day__lt=today).order_by("-first_day")[:20],
    }, status=400 if form.errors else 200)


@staff_required
@require_POST
def term_date_remove(request, pk):
    me = request.staff
    closure = get_object_or_404(SchoolClosure, pk=pk, school=me.school)
    require(me, "calendar.manage", closure)
    calendar.remove_closure(me, closure, request=request)
    messages.success(request, f"Removed: {closure}.")
    return redirect("term_dates")
