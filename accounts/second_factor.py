"""Who must prove a second factor, and the helpers around django-otp's devices.

Headteachers, deputies, designated safeguarding leads, office staff and administrators
(superusers and trust administrators) must sign in with a one-time code; everyone else may
choose to. Anyone who has confirmed a device is asked for a code, whatever their role."""
import base64
import io
import secrets

import segno
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from people.models import StaffRole
from people.permissions import ROLE_MATRIX

# Who must have a second factor follows what a role can read, not a list kept by hand: anyone
# who reads safeguarding concerns, the audit trail, a subject access export or the police card
# (home addresses, household risks, staff mobiles). A role given one of these later needs a
# code from that day on. Today: headteacher, deputy headteacher, DSL and office (the deputy,
# who reads concerns, once signed in with a password alone).
SENSITIVE_READS = ("concern.view", "audit.view", "records.subject_access", "alert.police_card")
ROLES_NEEDING_2FA = frozenset().union(*(ROLE_MATRIX[action] for action in SENSITIVE_READS))
BACKUP_CODE_COUNT = 10
ISSUER = "Doorstep"


def must_use_2fa(user):
    """True when this person's role obliges them to sign in with a code."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.administered_trusts.exists():
        return True
    return StaffRole.objects.filter(staff__user=user, staff__active=True, role__in=ROLES_NEEDING_2FA).exists()


def asks_for_code(user):
    """True when sign-in is not finished until a code has been given."""
    return must_use_2fa(user) or user_has_device(user, confirmed=True)


def is_verified(request):
    user = request.user
    return bool(getattr(user, "is_verified", None) and user.is_verified())


def confirmed_devices(user):
    return list(devices_for_user(user, confirmed=True))


def pending_totp(user):
    """The unconfirmed TOTP device being enrolled, made on first asking (one per person)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def new_backup_codes(user, count=BACKUP_CODE_COUNT):
    """Replace the person's backup codes with `count` fresh ones and return them (shown once)."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Backup codes", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [_backup_code() for _ in range(count)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _backup_code():
    # Eight characters from an alphabet without look-alikes (no 0/o, 1/l/i): easy to type from paper.
    alphabet = "23456789abcdefghjkmnpqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(8))


def totp_secret_base32(device):
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def qr_svg(uri):
    """The otpauth:// URI as an inline SVG QR code: drawn here, so no request leaves the page."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True,
                                    title="QR code for your authenticator app", dark="#0b0c0c", light="#ffffff")
    return buffer.getvalue().decode("utf-8")
