"""The set-up pages: the trust administrator's (the trust, its schools, their headteachers)
and each school's set-up checklist (its headteacher and business manager)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render

from core.forms import errors_onto
from people.decorators import StaffRequest, require, staff_required
from schools.models import School, Trust

from . import services
from .forms import HeadteacherForm, SchoolForm, TrustForm

ADMINS_ONLY = ("These pages are for the installation's administrator and the trust's administrators. "
               "If you work in a school, ask your headteacher.")


def _trust_admin_or_first(request: HttpRequest) -> None:
    if not (services.is_first_administrator(request.user) or services.administered_trusts(request.user)):
        raise PermissionDenied(ADMINS_ONLY)


@login_required
def start(request: HttpRequest) -> HttpResponseBase:
    """The first administrator's page: make the trust, then its schools."""
    _trust_admin_or_first(request)
    trusts = services.administered_trusts(request.user)
    form = TrustForm()
    status = 200
    if request.method == "POST":
        form = TrustForm(request.POST)
        if form.is_valid():
            try:
                trust = services.create_trust(request.user, request=request, **form.cleaned_data)
            except ValidationError as exc:
                errors_onto(form, exc)
            else:
                messages.success(request, f"{trust.name} is set up. Now add its schools.")
                return redirect("setup:school_add")
        status = 400
    return render(request, "setup/start.html", {
        "trusts": trusts, "rows": services.trust_schools(request.user), "form": form,
        "may_create_trust": services.is_first_administrator(request.user),
    }, status=status)


def _school(request: HttpRequest, pk: int) -> School:
    school = School.objects.select_related("trust").filter(pk=pk).first()
    if school is None or not services.manages(request.user, school):
        raise Http404("No such school in your trust.")
    return school


@login_required
def school_add(request: HttpRequest) -> HttpResponseBase:
    trusts = services.administered_trusts(request.user)
    if not trusts:
        if services.is_first_administrator(request.user):
            return redirect("setup:start")
        raise PermissionDenied(ADMINS_ONLY)
    form = SchoolForm()
    status = 200
    if request.method == "POST":
        form = SchoolForm(request.POST)
        # One trust: the school is its (whatever was sent). Several: the one chosen, which must be theirs.
        trust: Trust | None = trusts[0] if len(trusts) == 1 else next(
            (t for t in trusts if str(t.pk) == request.POST.get("trust")), None)
        if trust is None:
            form.is_valid()
            form.add_error(None, "Choose which of your trusts the school belongs to.")
        elif form.is_valid():
            try:
                school = services.add_school(request.user, trust, form.cleaned_data, request=request)
            except ValidationError as exc:
                errors_onto(form, exc)
            else:
                messages.success(request, f"{school.name} is added. Now invite its headteacher.")
                return redirect("setup:school", school.pk)
        status = 400
    return render(request, "setup/school_form.html", {"form": form, "trusts": trusts, "school": None},
                  status=status)


@login_required
def school(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A school of the trust: its details (to change) and its headteacher (to invite)."""
    school = _school(request, pk)
    form = SchoolForm(initial={k: getattr(school, k) for k in services.SCHOOL_FIELDS})
    head_form = HeadteacherForm()
    status = 200
    if request.method == "POST" and request.POST.get("what") == "school":
        form = SchoolForm(request.POST)
        if form.is_valid():
            try:
                services.change_school(request.user, school, form.cleaned_data, request=request)
            except ValidationError as exc:
                errors_onto(form, exc)
            else:
                messages.success(request, "The school's details are saved.")
                return redirect("setup:school", school.pk)
        status = 400
    elif request.method == "POST" and request.POST.get("what") == "head":
        head_form = HeadteacherForm(request.POST)
        if head_form.is_valid():
            try:
                head, _ = services.add_headteacher(request.user, school, request=request, **head_form.cleaned_data)
            except ValidationError as exc:
                errors_onto(head_form, exc)
            else:
                messages.success(request, f"{head.full_name} is on the staff register and has been sent an "
                                          f"invitation to {head.email}. The link lasts a week.")
                return redirect("setup:school", school.pk)
        status = 400
    return render(request, "setup/school_form.html", {
        "form": form, "head_form": head_form, "school": school, "heads": services.headteachers(school),
        "trusts": [school.trust],
    }, status=status)


@staff_required
def checklist(request: StaffRequest) -> HttpResponse:
    """The set-up checklist of the school the person is working in (never another's)."""
    me = request.staff
    require(me, "setup.view", me.school)
    items = services.checklist(me.school)
    invitations = [r for i in items for r in i.invitations]
    return render(request, "setup/checklist.html", {
        "nav": "home", "items": items, "done": sum(1 for i in items if i.done),
        "accepted": sum(1 for r in invitations if r.state == "accepted"),
        "blocking": [i for i in items if i.critical and not i.done],
        "gated": services.is_gated(me.school),
    })
