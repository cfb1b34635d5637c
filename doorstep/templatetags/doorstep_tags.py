"""Template helpers. `{% can me "visit.approve" visit as may_approve %}` asks
people.permissions.can, so templates never decide permissions themselves."""
from django import template

from core.text import and_list
from people.models import ROLE_LABELS
from people.permissions import can as _can

register = template.Library()


@register.simple_tag
def can(staff, action, obj=None):
    return _can(staff, action, obj)


@register.filter
def role_label(role):
    return ROLE_LABELS.get(role, role)


@register.filter
def names(people, attribute="full_name"):
    """`{{ team|names }}`: "Sam Ali, Priya Sharma and Jo Bell" (core.text.and_list). The
    board and the police card hold people as dicts: `{{ row.staff|names:"name" }}`."""
    return and_list(p[attribute] if isinstance(p, dict) else getattr(p, attribute) for p in people)
