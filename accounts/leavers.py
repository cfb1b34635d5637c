"""Leavers (docs/security.md, "Invitations and leavers"): a member of staff who leaves is
deactivated, never deleted. Their sign-in stops (unless they are still on another school's
staff), their API tokens and calendar addresses are ended, their PINs cleared and any open
invitation closed; the visits, check-ins and audit entries they wrote stay as they were.

Refused while they are on visits that have not happened yet: those must be handed to someone
else or withdrawn first (visits.services.reassign / withdraw_for_leaver, from the leaver's
visits page), so that no approved visit is left
with a visitor who can no longer check in. `reactivate` undoes a mistake (PINs and tokens
are not brought back: the person sets new ones).

Here, in accounts, because it ends API tokens (this app's). The visits and calendar
addresses are read through the staff record's reverse relations (people.StaffMember.visits,
.calendar_feeds): those apps sit above this one in the import layers."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed
from people.models import StaffMember
from people.permissions import can

from .models import ApiToken, Invitation

# A visit in one of these states has not happened yet (or is happening now).
AHEAD = ("proposed", "approved", "scheduled", "under_way")


class HasVisitsAhead(NotAllowed):
    """Refused: the person is on visits still to come. `visits` lists them (soonest first)."""

    def __init__(self, staff: StaffMember, visits: list[Any]) -> None:
        self.visits = visits
        super().__init__(
            f"{staff.full_name} is on {len(visits)} visit{'s' if len(visits) != 1 else ''} still to come. "
            "Give each one to someone else, or withdraw or cancel it, before marking them as left.")


def visits_ahead(staff: StaffMember) -> list[Any]:
    return list(staff.visits.filter(state__in=AHEAD).select_related("pupil").order_by("starts_at").distinct())


def _check_may(by: StaffMember, staff: StaffMember) -> None:
    if not (by.active and by.school_id == staff.school_id and can(by, "staff.edit", staff)):
        raise NotAllowed("Only the school's headteacher or business manager may mark staff as left or bring them back.")
    if by.pk == staff.pk:
        raise NotAllowed("You cannot mark yourself as left: ask the headteacher or business manager.")


def deactivate(staff: StaffMember, *, by: StaffMember, request: HttpRequest | None = None) -> StaffMember:
    """Mark `staff` as having left. Raises NotAllowed (who may), HasVisitsAhead (visits to come).
    Doing it twice changes nothing the second time."""
    _check_may(by, staff)
    with transaction.atomic():
        staff = StaffMember.objects.select_for_update(of=("self",)).select_related("school", "user").get(pk=staff.pk)
        if not staff.active:
            return staff
        ahead = visits_ahead(staff)
        if ahead:
            raise HasVisitsAhead(staff, ahead)
        now = timezone.now()
        pins_cleared = staff.has_pins
        staff.active = False
        staff.safe_pin = ""
        staff.duress_pin = ""
        staff.save(update_fields=["active", "safe_pin", "duress_pin"])
        tokens = ApiToken.objects.live(now).filter(staff=staff).update(revoked_at=now, revoked_by=by.user)
        feeds = staff.calendar_feeds.filter(revoked_at__isnull=True).update(revoked_at=now)
        Invitation.objects.filter(staff=staff, used_at__isnull=True, replaced_at__isnull=True).update(replaced_at=now)
        user = staff.user
        sign_in_ended = False
        if user is not None and not StaffMember.objects.filter(user=user, active=True).exists():
            user.is_active = False  # Django's backends refuse an inactive account, sessions included
            user.save(update_fields=["is_active"])
            sign_in_ended = True
        record(actor=by, school=staff.school, action=Action.STAFF_DEACTIVATED, obj=staff, request=request,
               summary=f"Marked {staff.full_name} as having left: "
                       + ("cannot sign in" if sign_in_ended else "no longer acts for this school")
                       + f", {tokens} API token(s) and {feeds} calendar address(es) ended"
                       + (", PINs cleared" if pins_cleared else ""),
               data={"active": ["yes", "no"], "api_tokens_ended": tokens, "calendar_feeds_ended": feeds,
                     "pins_cleared": pins_cleared, "sign_in_ended": sign_in_ended})
    return staff


def reactivate(staff: StaffMember, *, by: StaffMember, request: HttpRequest | None = None) -> StaffMember:
    """Bring back someone marked as left by mistake. They can sign in again with their old
    password; PINs, API tokens and calendar addresses are not restored."""
    _check_may(by, staff)
    with transaction.atomic():
        staff = StaffMember.objects.select_for_update(of=("self",)).select_related("school", "user").get(pk=staff.pk)
        if staff.active:
            return staff
        staff.active = True
        staff.save(update_fields=["active"])
        if staff.user is not None and not staff.user.is_active:
            staff.user.is_active = True
            staff.user.save(update_fields=["is_active"])
        record(actor=by, school=staff.school, action=Action.STAFF_REACTIVATED, obj=staff, request=request,
               summary=f"Brought back {staff.full_name} (marked as left by mistake); they must set new PINs",
               data={"active": ["no", "yes"]})
    return staff
