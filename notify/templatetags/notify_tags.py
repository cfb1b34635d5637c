from django import template

from notify.services import unread_count as _unread_count

register = template.Library()


@register.simple_tag
def unread_count(staff):
    """How many in-app messages this person has not read (0 for nobody)."""
    return _unread_count(staff) if staff else 0
