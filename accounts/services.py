"""Making and revoking API tokens: each checks who may, and writes the audit trail in the
same transaction."""
import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from audit.actions import Action
from audit.services import record
from people.permissions import can

from .models import SCOPES, ApiToken

MAX_TOKEN_DAYS = 365  # default: a token outlives no school year by much


@transaction.atomic
def issue_token(staff, *, name, scopes, days, request=None):
    """A token for `staff` themself. Returns (token row, raw token to show once)."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the token a name that says what it is for."
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        errors["scopes"] = f"Choose at least one scope from: {', '.join(SCOPES)}." + (
            f" Unknown: {', '.join(unknown)}." if unknown else "")
    if not isinstance(days, int) or not 1 <= days <= MAX_TOKEN_DAYS:
        errors["days"] = f"A token lasts between 1 and {MAX_TOKEN_DAYS} days."
    if errors:
        raise ValidationError(errors)
    token, raw = ApiToken.make(
        staff=staff, name=name, scopes=scopes,
        expires_at=timezone.now() + datetime.timedelta(days=days), created_by=staff.user,
    )
    record(actor=staff, school=staff.school, action=Action.APITOKEN_CREATED, obj=token, request=request,
           summary=f"API token “{name}” ({token.prefix}…) made with scopes {', '.join(token.scopes)}",
           data={"scopes": token.scopes, "expires_at": token.expires_at})
    return token, raw


def may_revoke(staff, token):
    """Your own tokens, or (headteacher, deputy) anyone's at your school (default)."""
    if token.staff_id == staff.pk:
        return True
    return token.staff.school_id == staff.school_id and can(staff, "apitoken.revoke_any", token.staff)


@transaction.atomic
def revoke_token(staff, token_id, *, request=None):
    token = ApiToken.objects.select_for_update().select_related("staff").filter(
        pk=token_id, staff__school_id=staff.school_id).first()
    if token is None:
        raise Http404
    if not may_revoke(staff, token):
        raise PermissionDenied("Only the token's owner, the headteacher or a deputy may revoke it.")
    if token.revoked_at is None:  # revoking twice changes nothing and writes nothing
        token.revoked_at = timezone.now()
        token.revoked_by = staff.user
        token.save(update_fields=["revoked_at", "revoked_by"])
        record(actor=staff, school=staff.school, action=Action.APITOKEN_REVOKED, obj=token, request=request,
               summary=f"API token “{token.name}” ({token.prefix}…) of {token.staff.full_name} revoked")
    return token


def end_tokens_of(user, *, why: str) -> int:
    """Revoke every live API token acting as this sign-in (at any of its schools), each with
    an audit entry in its own school's trail. A token is a password by another name: when the
    password changes, whoever held the old one must not keep a way in. Returns how many."""
    now = timezone.now()
    ended = 0
    with transaction.atomic():
        for token in ApiToken.objects.live(now).select_for_update().select_related("staff__school").filter(staff__user=user):
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=now, revoked_by=user)
            record(actor=None, school=token.staff.school, action=Action.APITOKEN_REVOKED, obj=token,
                   summary=f"API token “{token.name}” ({token.prefix}…) of {token.staff.full_name} ended: {why}",
                   data={"why": why})
            ended += 1
    return ended

