"""Changes to a member of staff's own safety settings."""
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from audit import services as audit
from audit.actions import Action

from .models import StaffMember
from .pins import hash_pin

PIN_PATTERN = re.compile(r"^\d{4,8}$")


def set_pins(staff: StaffMember, *, safe_pin, duress_pin, by: StaffMember, request=None) -> StaffMember:
    """Set a member of staff's safe PIN and duress PIN. Only the person themselves may, because
    nobody else should know either (a duress PIN is personal: it raises the alarm silently, so
    only the visitor may know it; docs/safety-core.md, "PINs and duress"). The two must be
    4 to 8 digits and must differ, or a duress entry could not be told from a safe one."""
    if by is None or by.pk != staff.pk or not staff.active:
        raise PermissionDenied("Only the member of staff can set their own PINs.")
    safe_pin, duress_pin = str(safe_pin or "").strip(), str(duress_pin or "").strip()
    errors = {}
    if not PIN_PATTERN.match(safe_pin):
        errors["safe_pin"] = "The safe PIN must be 4 to 8 digits."
    if not PIN_PATTERN.match(duress_pin):
        errors["duress_pin"] = "The duress PIN must be 4 to 8 digits."
    if not errors and safe_pin == duress_pin:
        errors["duress_pin"] = "The duress PIN must be different from the safe PIN."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        StaffMember.objects.filter(pk=staff.pk).update(
            safe_pin=hash_pin(safe_pin), duress_pin=hash_pin(duress_pin),
        )
        # The audit says the PINs changed, never what they are.
        audit.record(actor=by, school=staff.school, action=Action.STAFF_PINS_SET, obj=staff, request=request,
                     summary=f"{staff.full_name} set a new safe PIN and duress PIN")
    staff.refresh_from_db(fields=["safe_pin", "duress_pin"])
    return staff
