"""Template helpers. `{% can me "visit.approve" visit as may_approve %}` asks
schools.permissions.can, so templates never decide permissions themselves."""
from django import template

from schools.permissions import can as _can

register = template.Library()


@register.simple_tag
def can(staff, action, obj=None):
    return _can(staff, action, obj)


@register.filter
def role_label(role):
    from people.models import ROLE_LABELS

    return ROLE_LABELS.get(role, role)
