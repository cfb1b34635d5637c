import datetime
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.actions import Action
from audit.services import record_read, record_read_today
from people.permissions import VISITORS, can
from core.forms import errors_onto
from people.decorators import StaffRequest, local_next, require, staff_required

from . import register_edits
from .forms import ROW_FORMS, DetailsForm
from .models import DbsCheck, StaffMember

SOON = datetime.timedelta(days=30)
DEFAULT_RECHECK_MONTHS = 36


def _status(due, today):
    """'expired', 'soon' (within 30 days) or 'ok' for a date something must be renewed by."""
    if due is None:
        return None
    if due < today:
        return "expired"
    if due <= today + SOON:
        return "soon"
    return "ok"


def recheck_months(school):
    """How old a DBS certificate may be before a recheck, from the school's policy
    (vetting.recheck_months; None means the policy asks for no recheck)."""
    version = school.current_policy()
    if version is None:
        return DEFAULT_RECHECK_MONTHS
    try:
        return version.load().vetting.recheck_months.value
    except ValueError:  # a stored version that no longer parses (PolicyError)
        return DEFAULT_RECHECK_MONTHS


def _register_row(staff, today, months=None):
    dbs = staff.dbs_checks.all()[0] if staff.dbs_checks.all() else None
    vehicles = [v for v in staff.vehicles.all() if v.active]
    vehicle = vehicles[-1] if vehicles else None
    recheck = dbs.recheck_due_on(months) if dbs and months else None
    training = list(staff.training.all())
    row = {
        "staff": staff,
        "dbs": dbs,
        "dbs_recheck": recheck,
        "dbs_status": _status(recheck, today),
        "dbs_enhanced_barred": bool(dbs and dbs.level == DbsCheck.Level.ENHANCED and dbs.barred_list_checked),
        "vehicle": vehicle,
        "insurance_status": _status(vehicle.insurance_expires_on, today) if vehicle else None,
        "training": [(t, _status(t.expires_on, today)) for t in training],
    }
    row["flagged"] = row["dbs_status"] in ("expired", "soon") or row["insurance_status"] in ("expired", "soon") or (not dbs and staff.has_role(*VISITORS))
    return row


def _back(request) -> dict[str, str] | None:
    """Where the person came from to put a record right (a blocked visit's "where to fix it"
    link carries it as `next`), kept through every form of the record so that after saving they
    are offered the way back; None when they came from nowhere in particular."""
    target = local_next(request)
    if not target:
        return None
    try:
        match = resolve(urlsplit(target).path)
    except Resolver404:
        return None
    label = "Back to the visit" if match.view_name == "visits:detail" else "Back to where you were"
    return {"url": target, "label": label, "query": "?" + urlencode({"next": target})}


def _to_record(staff: StaffMember, back: dict[str, str] | None) -> str:
    return reverse("people:staff_detail", args=[staff.pk]) + (back["query"] if back else "")


@staff_required
def register(request):
    me = request.staff
    require(me, "staff.view_register")
    today = timezone.localdate()
    staff = (
        StaffMember.objects.filter(school=me.school)
        .prefetch_related("roles", "dbs_checks", "vehicles", "training")
        .order_by("-active", "full_name")
    )
    months = recheck_months(me.school)
    rows = [_register_row(s, today, months) for s in staff]
    record_read_today(request, me.school, "the staff register (mobiles, vehicles, checks)", action=Action.STAFF_REGISTER_VIEWED)
    return render(request, "people/register.html", {
        "nav": "staff", "rows": rows, "today": today, "recheck_months": months,
        "attention": [r for r in rows if r["flagged"] and r["staff"].active],
    })


@staff_required
def staff_detail(request, pk):
    me = request.staff
    require(me, "staff.view_register")
    staff = get_object_or_404(
        StaffMember.objects.prefetch_related("roles", "dbs_checks", "vehicles", "training"), pk=pk, school=me.school,
    )
    today = timezone.localdate()
    record_read_today(request, staff, "a member of staff's record (mobile, vehicle, checks)", action=Action.STAFF_VIEWED)
    return render(request, "people/staff_detail.html", {
        "nav": "staff", "row": _register_row(staff, today, recheck_months(me.school)), "dbs_checks": staff.dbs_checks.all(),
        "vehicles": staff.vehicles.all(), "may_edit": can(me, "staff.edit", staff), "back": _back(request),
    })


ROW_TITLES = {"dbs": "DBS check", "training": "training", "vehicle": "vehicle"}


def _editable(request: StaffRequest, pk: int) -> StaffMember:
    me = request.staff
    require(me, "staff.edit")
    return get_object_or_404(StaffMember.objects.prefetch_related("roles"), pk=pk, school=me.school)


@staff_required
def staff_edit(request: StaffRequest, pk: int) -> HttpResponse:
    """A person's details and roles (staff.edit)."""
    staff = _editable(request, pk)
    if request.method == "GET":  # the form shows their mobile: every opening is on the trail (it is rare)
        record_read(request, staff, "a member of staff's details, to change them", action=Action.STAFF_VIEWED)
    form = DetailsForm(request.POST or None, instance=staff, initial={"roles": staff.role_names})
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in register_edits.DETAIL_FIELDS}
        staff.refresh_from_db()  # the form wrote its values onto the instance; the service compares with the stored ones
        try:
            changes = register_edits.change_details(staff, data, list(form.cleaned_data["roles"]), by=request.staff,
                                                    request=request)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(request, "Saved." if changes else "Nothing was changed.")
            return redirect(_to_record(staff, _back(request)))
    return render(request, "people/staff_edit.html", {"form": form, "staff": staff, "nav": "staff", "back": _back(request)})


@staff_required
def staff_row(request: StaffRequest, pk: int, kind: str, row_id: int | None = None) -> HttpResponse:
    """Add or change a DBS check, training record or vehicle (staff.edit)."""
    if kind not in ROW_FORMS:
        raise Http404
    staff = _editable(request, pk)
    model = register_edits.ROW_MODELS[kind]
    instance = None if row_id is None else get_object_or_404(model._default_manager.all(), pk=row_id, staff=staff)
    form = ROW_FORMS[kind](request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            register_edits.save_row(staff, kind, data, row_id=row_id, by=request.staff, request=request)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            messages.success(request, f"Saved the {ROW_TITLES[kind]}.")
            return redirect(_to_record(staff, _back(request)))
    return render(request, "people/staff_row.html", {
        "form": form, "staff": staff, "kind": kind, "what": ROW_TITLES[kind], "row_id": row_id, "nav": "staff",
        "back": _back(request),
    })


@staff_required
@require_POST
def staff_row_remove(request: StaffRequest, pk: int, kind: str, row_id: int) -> HttpResponse:
    if kind not in ROW_FORMS:
        raise Http404
    staff = _editable(request, pk)
    if not register_edits.ROW_MODELS[kind]._default_manager.filter(pk=row_id, staff=staff).exists():
        raise Http404
    register_edits.remove_row(staff, kind, row_id, by=request.staff, request=request)
    messages.success(request, f"Removed the {ROW_TITLES[kind]}.")
    return redirect(_to_record(staff, _back(request)))
