"""Invitations: how a member of staff gets their first password (docs/security.md,
"Invitations and leavers").

`invite(staff, by=...)` makes a one-time link that expires after INVITATION_DAYS, stores only a
SHA-256 hash of its token (like API tokens: 32 random bytes leave nothing to guess), ends any
earlier link for the same person, writes the audit trail and has the email written to the
outbox. Accepting (`accept`) sets the password through Django's password validators; the
invitation page then sends anyone whose role needs two-factor sign-in straight on to enrol it.

Who may invite: the school's headteacher or business manager (`staff.edit`), or an
administrator of the school's trust (or a superuser), who may not be on any school's staff.

The email goes out through notify (the outbox), which sits above this app in the import
layers: notify hands its sender to `connect_sender` when Django starts (notify/apps.py). If no
sender is connected, `invite` refuses loudly rather than leave someone waiting for an email
that was never written."""
from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed
from people.models import StaffMember
from people.permissions import can

from .models import Invitation

INVITATION_DAYS = 7
TOKEN_BYTES = 32

# (invitation, link path with the raw token, e.g. "/accounts/invitation/abc.../") -> None
Sender = Callable[[Invitation, str], None]
_senders: list[Sender] = []


def connect_sender(sender: Sender) -> None:
    """Called once by the app that writes emails (notify) when Django starts."""
    if sender not in _senders:
        _senders.append(sender)


def hash_invitation_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def invitation_path(raw: str) -> str:
    return f"/accounts/invitation/{raw}/"


def may_invite(by: StaffMember | User, staff: StaffMember) -> bool:
    """The school's head or business manager (staff.edit), or an administrator of its trust."""
    if isinstance(by, StaffMember):
        return by.active and by.school_id == staff.school_id and can(by, "staff.edit", staff)
    if getattr(by, "is_authenticated", False) and getattr(by, "is_active", False):
        if getattr(by, "is_superuser", False):
            return True
        trust_id = staff.school.trust_id
        return trust_id is not None and by.administered_trusts.filter(pk=trust_id).exists()
    return False


def _user_of(by: StaffMember | User) -> User | None:
    return by.user if isinstance(by, StaffMember) else by


def _name_of(by: StaffMember | User) -> str:
    if isinstance(by, StaffMember):
        return by.full_name
    return by.get_full_name() or by.get_username()


def _account_for(staff: StaffMember) -> Any:
    """The person's sign-in, made (with no usable password) on first invitation. The username
    is their email address, which is what they will type on the sign-in page."""
    if staff.user_id:
        return staff.user
    User = get_user_model()
    email = staff.email.strip().lower()
    if User.objects.filter(username__iexact=email).exists():
        raise ValidationError({"email": f"Someone already signs in as {email}. Use a different email address, "
                                        "or ask the trust's administrator to link the existing sign-in."})
    first, _, last = staff.full_name.strip().partition(" ")
    user = User(username=email, email=email, first_name=first[:150], last_name=last[:150], is_active=True)
    user.set_unusable_password()
    user.save()
    staff.user = user
    staff.save(update_fields=["user"])
    return user


def invite(staff: StaffMember, *, by: StaffMember | User, request: HttpRequest | None = None) -> Invitation:
    """A new invitation for `staff`, replacing any earlier one that is still open, and its email
    in the outbox. The returned invitation carries `raw_token` (never stored). Raises NotAllowed
    when `by` may not invite this person, ValidationError when they cannot be invited (left, no email)."""
    if not _senders:
        raise RuntimeError("No email sender is connected for invitations (notify connects one when Django starts): "
                           "nothing was sent and no invitation was made.")
    if not may_invite(by, staff):
        raise NotAllowed("Only the school's headteacher or business manager, or the trust's administrator, "
                         "may invite staff.")
    with transaction.atomic():
        staff = StaffMember.objects.select_for_update(of=("self",)).select_related("school", "user").get(pk=staff.pk)
        if not staff.active:
            raise ValidationError(f"{staff.full_name} has left the school; reactivate them before inviting them.")
        if not staff.email.strip():
            raise ValidationError({"email": f"Add an email address for {staff.full_name} first: the invitation "
                                            "is sent by email."})
        user = _account_for(staff)
        if not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
        now = timezone.now()
        replaced = Invitation.objects.filter(staff=staff, used_at__isnull=True, replaced_at__isnull=True).update(
            replaced_at=now)
        raw = secrets.token_urlsafe(TOKEN_BYTES)
        by_user = _user_of(by)
        invitation = Invitation.objects.create(
            staff=staff, token_hash=hash_invitation_token(raw), created_at=now,
            created_by=by_user if getattr(by_user, "pk", None) else None, created_by_name=_name_of(by)[:200],
            expires_at=now + datetime.timedelta(days=INVITATION_DAYS),
        )
        invitation.raw_token = raw
        record(actor=by, school=staff.school, action=Action.STAFF_INVITED, obj=staff, request=request,
               summary=f"Invited {staff.full_name} to Doorstep by email (link lasts {INVITATION_DAYS} days)"
                       + (", replacing the earlier link" if replaced else ""),
               data={"invitation": invitation.pk, "expires_at": invitation.expires_at, "replaced": replaced})
        for sender in _senders:
            sender(invitation, invitation_path(raw))
    return invitation


STATE_WORDS = {
    "used": "This invitation link has already been used. If that was not you, tell the school office.",
    "replaced": "This invitation link was replaced by a newer one: use the link in the most recent email.",
    "expired": "This invitation link has expired.",
}


def find(raw: str) -> Invitation | None:
    """The invitation this link's token belongs to, whatever its state, or None."""
    raw = (raw or "").strip()
    if not raw or len(raw) > 100:
        return None
    digest = hash_invitation_token(raw)
    invitation = Invitation.objects.select_related("staff__school", "staff__user").filter(token_hash=digest).first()
    if invitation is None or not hmac.compare_digest(invitation.token_hash, digest):
        return None
    return invitation


def check_password_for(invitation: Invitation, password: str) -> None:
    """Django's password validators, against this person's account. Raises ValidationError."""
    validate_password(password, invitation.staff.user)


def accept(invitation: Invitation, password: str, *, request: HttpRequest | None = None) -> Any:
    """Set the person's password from an open invitation; the link is then used. Returns the
    user. Raises ValidationError (a weak password: nothing changes) or NotAllowed (a link that
    is used, replaced or expired, or a person who has left)."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update(of=("self",)).select_related("staff__school", "staff__user").get(
            pk=invitation.pk)
        if invitation.state != "open":
            raise NotAllowed(STATE_WORDS[invitation.state])
        staff = invitation.staff
        if not staff.active or staff.user is None:
            raise NotAllowed("This invitation is for someone who is no longer on the school's staff.")
        user = staff.user
        validate_password(password, user)
        user.set_password(password)
        user.is_active = True
        user.save()
        invitation.used_at = timezone.now()
        invitation.save(update_fields=["used_at"])
        record(actor=user, school=staff.school, action=Action.STAFF_INVITATION_ACCEPTED, obj=staff, request=request,
               summary=f"{staff.full_name} accepted their invitation and set a password",
               data={"invitation": invitation.pk})
    return user


def renew_expired(invitation: Invitation, *, request: HttpRequest | None = None) -> Invitation | None:
    """The person's own "send me a new link" from an expired invitation: a fresh link to the
    same email address on the register (only its owner can read it). Only from the newest
    invitation, and only once it has expired: renewing replaces it, so asking again from the
    same link sends nothing more. Returns the new invitation, or None when there was nothing
    to renew (the link is used, replaced or still open, or the person has left)."""
    if not _senders:
        raise RuntimeError("No email sender is connected for invitations: nothing was sent.")
    with transaction.atomic():
        staff = StaffMember.objects.select_for_update(of=("self",)).select_related("school", "user").get(pk=invitation.staff_id)
        invitation = Invitation.objects.get(pk=invitation.pk)
        if invitation.state != "expired" or not staff.active or not staff.email.strip() or staff.user is None:
            return None
        now = timezone.now()
        Invitation.objects.filter(staff=staff, used_at__isnull=True, replaced_at__isnull=True).update(replaced_at=now)
        raw = secrets.token_urlsafe(TOKEN_BYTES)
        renewed = Invitation.objects.create(
            staff=staff, token_hash=hash_invitation_token(raw), created_at=now, created_by=None,
            created_by_name=invitation.created_by_name, expires_at=now + datetime.timedelta(days=INVITATION_DAYS),
        )
        renewed.raw_token = raw
        record(actor=None, school=staff.school, action=Action.STAFF_INVITED, obj=staff, request=request,
               summary=f"Sent {staff.full_name} a new invitation link at their request (the old one had expired)",
               data={"invitation": renewed.pk, "expires_at": renewed.expires_at, "renewed_from": invitation.pk})
        for sender in _senders:
            sender(renewed, invitation_path(raw))
    return renewed
