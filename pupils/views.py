from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from audit.actions import Action
from audit.services import record_read, record_read_today
from people.permissions import can
from people.decorators import StaffRequest, require, staff_required

from .models import Pupil


@staff_required
def index(request: StaffRequest) -> HttpResponse:
    me = request.staff
    require(me, "pupil.view")
    q = request.GET.get("q", "").strip()
    # The list is the roll; a search also finds pupils who have left (marked as such): their
    # history stays, and someone looking one up after a sync marked them as left must find them.
    everyone = Pupil.objects.filter(school=me.school)
    pupils = everyone if q else everyone.filter(on_roll=True)
    if q:
        for word in q.split():
            pupils = pupils.filter(
                Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(upn__iexact=word)
                | Q(class_name__iexact=word) | Q(postcode__icontains=word)
            )
    # The list shows postcodes: who looked is on the trail, once a day.
    record_read_today(request, me.school, "the pupil list", action=Action.PUPIL_LIST_VIEWED)
    return render(request, "pupils/index.html", {"nav": "pupils", "pupils": pupils[:200], "q": q, "count": pupils.count()})


@staff_required
def detail(request: StaffRequest, pk: int) -> HttpResponse:
    me = request.staff
    require(me, "pupil.view")
    pupil = get_object_or_404(Pupil, pk=pk, school=me.school)
    # A pupil's details (address, medical needs, household notes) are a sensitive read.
    record_read(request, pupil, "pupil details", action=Action.PUPIL_VIEWED)
    notes = list(pupil.household_notes.select_related("recorded_by"))
    assessments = pupil.risk_assessments.select_related("author").prefetch_related("hazards")
    return render(request, "pupils/detail.html", {
        "nav": "pupils", "pupil": pupil,
        "contacts": pupil.contacts.all(),
        "risk_notes": [n for n in notes if n.is_risk],
        "other_notes": [n for n in notes if not n.is_risk],
        "assessments": assessments,
        "visits": pupil.visits.filter(school=me.school).prefetch_related("assignments__staff").order_by("-starts_at"),
        # The proposal form lists pupils on the roll only: no button that leads nowhere.
        "may_propose": pupil.on_roll and can(me, "visit.propose"),
        "may_edit_risk": can(me, "risk.edit"),
    })
