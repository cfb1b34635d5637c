"""The signed-in person's own in-app messages. Thin: reading and marking read go through
notify.services, which only ever touches the person's own rows."""
from django.contrib import messages as flash
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from people.decorators import StaffRequest, safe_next, staff_required

from . import services
from .models import Channel, Message


@staff_required
def inbox(request: StaffRequest) -> HttpResponse:
    show_all = request.GET.get("show") == "all"
    rows = services.inbox(request.staff, unread_only=not show_all)[:100]
    return render(request, "notify/inbox.html", {
        "nav": "messages", "rows": rows, "show_all": show_all, "unread": services.unread_count(request.staff),
    })


@require_POST
@staff_required
def mark_read(request: StaffRequest, pk: int) -> HttpResponse:
    # Only the person's own in-app rows can be found here: anyone else's is a 404.
    message = get_object_or_404(Message, pk=pk, recipient=request.staff, channel=Channel.IN_APP)
    services.mark_read(request.staff, message)
    return redirect(safe_next(request, reverse("notify:inbox")))


@require_POST
@staff_required
def mark_all_read(request: StaffRequest) -> HttpResponse:
    changed = services.mark_read(request.staff)
    flash.success(request, f"Marked {changed} message{'s' if changed != 1 else ''} read." if changed else "Nothing was unread.")
    return redirect(reverse("notify:inbox"))
