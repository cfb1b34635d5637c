"""Staff pages that need invitations or end sign-ins: add one person, add from a CSV file, mark
a leaver and bring them back (accounts/staff_intake.py, accounts/leavers.py). The register and
its edits are people/views.py."""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.forms import errors_onto
from core.uploads import check as check_upload
from people.decorators import StaffRequest, require, safe_next, staff_required
from people.models import ROLE_LABELS, StaffMember

from . import leavers
from .staff_forms import AddStaffForm, ImportStaffForm
from .invitations import invite
from .staff_intake import ImportRefused, NewStaff, add_staff, import_staff

EXAMPLE = [("Nia Newhead", "nia.newhead@school.example", "07700 900123", "Headteacher"),
           ("Sam Smith", "sam.smith@school.example", "", "Teacher; Designated safeguarding lead")]


@staff_required
def add(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "staff.edit")
    form = AddStaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            staff = add_staff(me.school, NewStaff(full_name=data["full_name"], email=data["email"],
                                                  mobile=data["mobile"], roles=list(data["roles"])),
                              by=me, request=request)
        except ValidationError as exc:
            errors_onto(form, exc, {"name": "full_name"})
        else:
            messages.success(request, f"Added {staff.full_name} and emailed them an invitation (it lasts 7 days).")
            return redirect("people:staff_detail", staff.pk)
    return render(request, "accounts/staff_add.html", {"form": form, "nav": "staff"})


@staff_required
def import_file(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "staff.edit")
    form = ImportStaffForm(request.POST or None, request.FILES or None)
    problems = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            check_upload(upload, "csv")
            text = upload.read().decode("utf-8-sig")
        except ValidationError as exc:
            form.add_error("file", exc.messages)
        except UnicodeDecodeError:
            form.add_error("file", "The file is not readable text (UTF-8). Save it from the spreadsheet as “CSV UTF-8”.")
        else:
            try:
                added = import_staff(me.school, text, by=me, file_name=upload.name, request=request)
            except ImportRefused as exc:
                problems = exc.problems
            else:
                people = "1 member" if len(added) == 1 else f"{len(added)} members"
                messages.success(request, f"Added {people} of staff to the register and emailed each an invitation.")
                return redirect("people:register")
    return render(request, "accounts/staff_import.html", {
        "form": form, "problems": problems, "example": EXAMPLE, "role_names": list(ROLE_LABELS.values()), "nav": "staff",
    })


@staff_required
def leave(request: StaffRequest, pk: int) -> HttpResponse:
    me = request.staff
    require(me, "staff.edit")
    staff = get_object_or_404(StaffMember, pk=pk, school=me.school)
    ahead = leavers.visits_ahead(staff)
    if request.method == "POST":
        try:
            leavers.deactivate(staff, by=me, request=request)
        except leavers.HasVisitsAhead as exc:
            ahead = exc.visits
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{staff.full_name} is marked as having left. Their records stay.")
            return redirect("people:staff_detail", staff.pk)
    return render(request, "accounts/staff_leave.html", {"staff": staff, "ahead": ahead, "is_me": staff.pk == me.pk,
                                                        "nav": "staff"})


@staff_required
@require_POST
def reactivate(request: StaffRequest, pk: int) -> HttpResponse:
    me = request.staff
    require(me, "staff.edit")
    staff = get_object_or_404(StaffMember, pk=pk, school=me.school)
    leavers.reactivate(staff, by=me, request=request)
    messages.success(request, f"{staff.full_name} is back on the staff. They need to set new PINs before a visit.")
    return redirect("people:staff_detail", staff.pk)


@staff_required
@require_POST
def send_invitation(request: StaffRequest, pk: int) -> HttpResponse:
    """Invite again: a new link, the old one stops working."""
    me = request.staff
    require(me, "staff.edit")
    staff = get_object_or_404(StaffMember, pk=pk, school=me.school)
    try:
        invite(staff, by=me, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Emailed {staff.full_name} a new invitation; any earlier link no longer works.")
    # Back where it was pressed: the person's page, or the set-up checklist's list of invitations.
    return redirect(safe_next(request, reverse("people:staff_detail", args=[staff.pk])))
