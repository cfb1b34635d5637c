"""Audit entries for signing in: success, failure and lock-out (docs/security.md, "What the
audit trail records about signing in").

Successful sign-ins are recorded by accounts.views.SignInView (and the second factor by the
two-factor views), not from user_logged_in: that signal also fires for logins made without
a person signing in (e.g. a test client's force_login)."""
import datetime

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEntry
from audit.services import client_ip, record
from people.models import StaffMember

from .middleware import note_sign_in
from .services import end_tokens_of


def school_of_user(user):
    """The school a sign-in entry belongs to: the person's first school, so that its
    headteacher and DSL see it in their audit trail; None for trust-only accounts."""
    if user is None:
        return None
    staff = StaffMember.objects.filter(user=user, active=True).select_related("school").order_by("pk").first()
    return staff.school if staff else None


def _named_user(username):
    if not username:
        return None
    return get_user_model().objects.filter(username=username).first()


@receiver(user_logged_in, dispatch_uid="doorstep-session-clock")
def start_session_clock(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        note_sign_in(request.session)


# The audit trail is append-only and kept for years, and anyone can reach the sign-in page:
# without a limit, one script could fill it (452 lock-out entries in 10 s were seen). So one
# address gets this many failed-sign-in entries a minute; past that, one entry says the rest
# were not written one by one (the lock-out itself still counts every attempt).
FAILED_ENTRIES_PER_MINUTE = 20


@receiver(user_login_failed, dispatch_uid="doorstep-audit-signin-failed")
def audit_failed_sign_in(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get("username", "")[:150]
    if getattr(request, "doorstep_refused_by_lock", False):
        return  # an attempt while locked: the password was not even checked; the lock-out entry says it
    ip = client_ip(request)
    written = AuditEntry.objects.filter(action__in=("signin.failed", "signin.failures_not_written"), ip_address=ip,
                                        at__gte=timezone.now() - datetime.timedelta(minutes=1)).count()
    if written > FAILED_ENTRIES_PER_MINUTE:
        return
    if written == FAILED_ENTRIES_PER_MINUTE:
        record(actor=None, school=None, action=Action.SIGNIN_FAILURES_NOT_WRITTEN, obj=None, request=request,
               summary=f"Over {FAILED_ENTRIES_PER_MINUTE} failed sign-ins a minute from one address: "
                       "the rest of this minute's are not written one by one",
               data={"limit_per_minute": FAILED_ENTRIES_PER_MINUTE})
        return
    user = _named_user(username)
    # Who typed the name is not known; the entry is not theirs (actor None), but it is kept
    # with the named person's school so their headteacher can see someone is trying.
    record(actor=None, school=school_of_user(user), action=Action.SIGNIN_FAILED, obj=user, request=request,
           summary=f"Failed sign-in as “{username}”", data={"username": username})


@receiver(user_locked_out, dispatch_uid="doorstep-audit-locked-out")
def audit_locked_out(sender, request, username=None, ip_address=None, **kwargs):
    # Each attempt during a lock-out signals again; the trail needs the lock-out once.
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    if AuditEntry.objects.filter(action=Action.SIGNIN_LOCKED_OUT, at__gte=since, ip_address=client_ip(request),
                                 data__username=username).exists():
        return
    user = _named_user(username)
    record(actor=None, school=school_of_user(user), action=Action.SIGNIN_LOCKED_OUT, obj=user, request=request,
           summary=f"Sign-in as “{username}” locked for {_cooloff_words()} after repeated failures",
           data={"username": username, "ip_address": ip_address})


def _cooloff_words():
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return f"{minutes} minutes"


@receiver(post_save, sender=get_user_model(), dispatch_uid="doorstep-password-ends-tokens")
def end_api_tokens_when_the_password_changes(sender, instance, created, **kwargs):
    """Every way a password is set (the change-password page, the admin, a reset, the shell)
    goes through set_password(), which leaves the new password on `_password` until save()
    has finished. Django's own upgrade of an old hash at sign-in clears it first, so signing
    in never ends anyone's tokens."""
    if not created and getattr(instance, "_password", None) is not None:
        end_tokens_of(instance, why="the password was changed")

