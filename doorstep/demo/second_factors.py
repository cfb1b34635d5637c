"""Second factors for the demo trust (doorstep/management/commands/load_demo.py): the demo
accounts that must use a code get an authenticator key and two backup codes, printed by
load_demo, so someone trying Doorstep can sign in with or without an app."""
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import second_factor

DEMO_BACKUP_CODES = 2


def give_second_factor(user):
    """A confirmed authenticator device and two backup codes, for a user who must use a code."""
    if not second_factor.must_use_2fa(user):
        return False
    TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
    second_factor.new_backup_codes(user, count=DEMO_BACKUP_CODES)
    return True


def sign_in_lines(user):
    """What load_demo prints for this user: the key (base32 and as an otpauth:// link) and the
    backup codes still unused. Empty when the user has no device."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
    if device is None:
        return []
    codes = list(StaticDevice.objects.filter(user=user).values_list("token_set__token", flat=True))
    codes = [c for c in codes if c]
    return [
        f"key {second_factor.totp_secret_base32(device)}   backup codes: {' '.join(codes) or 'all used'}",
        device.config_url,
    ]
