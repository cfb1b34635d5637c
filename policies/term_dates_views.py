"""The school's term dates and closures: the page where they are recorded and removed."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.forms import DateInput, errors_onto
from people.decorators import require, staff_required
from schools.models import SchoolClosure

from . import calendar


# ----------------------------------------------------------------------------- term dates

class ClosureForm(forms.Form):
    label = forms.CharField(label="What is it", max_length=100,
                            help_text='For example "Christmas holidays", "February half-term" or "INSET day".')
    first_day = forms.DateField(label="First day closed", widget=DateInput())
    last_day = forms.DateField(label="Last day closed", widget=DateInput(),
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
    return render(request, "policies/term_dates.html", {
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
