from __future__ import annotations

from typing import TYPE_CHECKING

from django import template

from notify.services import unread_count as _unread_count

if TYPE_CHECKING:
    from people.models import StaffMember

register = template.Library()


@register.simple_tag
def unread_count(staff: StaffMember | None) -> int:
    """How many in-app messages this person has not read (0 for nobody)."""
    return _unread_count(staff) if staff else 0
