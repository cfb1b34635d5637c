"""Sign-in pages: the password step (Django's LoginView, plus audit and the lock-out page),
the second factor (enrol once, then a code each time) and the API tokens page."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actions import Action
from audit.services import record
from core.forms import errors_onto
from people.access import current_staff
from people.permissions import can

from . import second_factor
from .forms import CodeForm, EnrolForm, TokenForm
from .models import SCOPES, ApiToken
from .services import issue_token, may_revoke, revoke_token
from .signals import school_of_user

# The second-factor pages are shown half signed in: no school navigation yet (it would only
# lead back here), so the context processor's staff record and school are blanked.
HALF_SIGNED_IN = {"me": None, "current_school": None}

# Wrong codes in a row before the half-finished sign-in is thrown away (django-otp's own
# throttle also makes each device wait longer after every failure).
MAX_CODE_FAILURES = 5
FAILURES_KEY = "doorstep_code_failures"


def _next_url(request, default="home"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse(default)


class SignInView(auth_views.LoginView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["expired"] = self.request.GET.get("expired") == "1"
        context["idle_minutes"] = settings.DOORSTEP_IDLE_TIMEOUT // 60
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        user = self.request.user
        needs_code = second_factor.asks_for_code(user)
        record(actor=user, school=school_of_user(user), action=Action.SIGNIN, obj=user, request=self.request,
               summary="Signed in with a password" + (", code still to give" if needs_code else ""))
        if needs_code:
            target = "accounts:verify" if second_factor.confirmed_devices(user) else "accounts:enrol"
            return redirect(f"{reverse(target)}?{urlencode({'next': self.get_success_url()})}")
        return response


class SignOutView(auth_views.LogoutView):
    """Django's sign-out, which then says so: on a shared office computer the next person must
    see that the last one's session has ended, not just a sign-in page that looks the same
    as before."""

    def post(self, request, *args, **kwargs):
        was_signed_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_signed_in:
            messages.success(request, "You have signed out. Whoever uses this computer next must sign in as themselves.")
        return response


def locked_out(request, original_response=None, credentials=None):
    """The sign-in page again, saying why: the same answer whether or not the name exists."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = AuthenticationForm(request, initial={"username": (credentials or {}).get("username", "")})
    return render(request, "registration/login.html", {
        "form": form, "locked_out": True, "cooloff_minutes": minutes,
        "next": request.POST.get("next", ""),
    }, status=429)


def _half_signed_in(request):
    """The person signed in with a password; None if they are not signed in at all."""
    return request.user if request.user.is_authenticated else None


def enrol(request):
    user = _half_signed_in(request)
    if user is None:
        return redirect("login")
    if second_factor.confirmed_devices(user):
        if second_factor.is_verified(request):
            messages.info(request, "Two-factor sign-in is already set up for you.")
            return redirect(_next_url(request))
        return redirect(f"{reverse('accounts:verify')}?{urlencode({'next': _next_url(request)})}")
    device = second_factor.pending_totp(user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()
        if allowed and device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = second_factor.new_backup_codes(user)
            otp_login(request, device)
            request.session.pop(FAILURES_KEY, None)
            record(actor=user, school=school_of_user(user), action=Action.SIGNIN_2FA_ENROLLED, obj=user, request=request,
                   summary="Set up two-factor sign-in with an authenticator app")
            return render(request, "accounts/backup_codes.html",
                          {"codes": codes, "next": _next_url(request), **HALF_SIGNED_IN})
        form.add_error("code", "That code did not match. Check the app shows “Doorstep” for your account "
                               "and type the newest code." if allowed else
                       "Too many wrong codes: wait a minute and try the newest code.")
    uri = device.config_url
    return render(request, "accounts/enrol.html", {
        "form": form, "secret": second_factor.totp_secret_base32(device), "uri": uri,
        "qr_svg": second_factor.qr_svg(uri), "next": _next_url(request), "must": second_factor.must_use_2fa(user),
        **({} if second_factor.is_verified(request) else HALF_SIGNED_IN),
    })


def verify(request):
    user = _half_signed_in(request)
    if user is None:
        return redirect("login")
    if second_factor.is_verified(request):
        return redirect(_next_url(request))
    devices = second_factor.confirmed_devices(user)
    if not devices:
        return redirect(f"{reverse('accounts:enrol')}?{urlencode({'next': _next_url(request)})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        # Six digits are an app's code; anything else can only be a backup code.
        kind = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
        throttled = False
        for device in devices:
            if not isinstance(device, kind):
                continue
            allowed, _ = device.verify_is_allowed()
            if not allowed:
                throttled = True
                continue
            if device.verify_token(code):
                return _second_factor_given(request, user, device)
        failures = request.session.get(FAILURES_KEY, 0) + 1
        request.session[FAILURES_KEY] = failures
        record(actor=user, school=school_of_user(user), action=Action.SIGNIN_CODE_FAILED, obj=user, request=request,
               summary=f"Wrong sign-in code ({failures} in a row)")
        if failures >= MAX_CODE_FAILURES:
            logout(request)
            messages.error(request, "Too many wrong codes. Sign in again with your password.")
            return redirect("login")
        form.add_error("code", "Too many wrong codes: wait a minute, then type the newest code." if throttled
                       else "That code did not match. Type the newest code from your app, or a backup code.")
    return render(request, "accounts/verify.html", {"form": form, "next": _next_url(request), **HALF_SIGNED_IN})


def _second_factor_given(request, user, device):
    otp_login(request, device)
    request.session.pop(FAILURES_KEY, None)
    school = school_of_user(user)
    if isinstance(device, StaticDevice):
        left = device.token_set.count()
        record(actor=user, school=school, action=Action.SIGNIN_BACKUP_CODE_USED, obj=user, request=request,
               summary=f"Signed in with a backup code ({left} left)", data={"left": left})
        if left <= 2:
            messages.warning(request, f"You have {left} backup code{'s' if left != 1 else ''} left. "
                                      "Make new ones on the “Sign-in and API tokens” page.")
    else:
        record(actor=user, school=school, action=Action.SIGNIN_2FA, obj=user, request=request,
               summary="Gave the sign-in code from an authenticator app")
    return redirect(_next_url(request))


@login_required
@require_POST
def new_backup_codes(request):
    codes = second_factor.new_backup_codes(request.user)
    record(actor=request.user, school=school_of_user(request.user), action=Action.SIGNIN_BACKUP_CODES_RENEWED,
           obj=request.user, request=request, summary="Made new backup codes (the old ones no longer work)")
    return render(request, "accounts/backup_codes.html", {"codes": codes, "next": reverse("accounts:tokens")})


@login_required
def tokens(request):
    """Your API tokens (make, revoke); headteachers and deputies also see everyone's at the school."""
    me = current_staff(request)
    if me is None:
        raise PermissionDenied("API tokens belong to a member of a school's staff.")
    form = TokenForm(request.POST or None)
    new_raw = None
    if request.method == "POST" and form.is_valid():
        try:
            token, new_raw = issue_token(me, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                                         days=form.cleaned_data["days"], request=request)
        except ValidationError as exc:
            errors_onto(form, exc)
        else:
            form = TokenForm()
    see_all = can(me, "apitoken.revoke_any")
    rows = ApiToken.objects.select_related("staff").filter(staff__school=me.school)
    if not see_all:
        rows = rows.filter(staff=me)
    return render(request, "accounts/tokens.html", {
        "form": form, "new_raw": new_raw, "tokens": [(t, may_revoke(me, t)) for t in rows], "see_all": see_all,
        "scopes": SCOPES, "me": me, "has_device": bool(second_factor.confirmed_devices(request.user)),
        "must_2fa": second_factor.must_use_2fa(request.user), "nav": "tokens",
    })


@login_required
@require_POST
def revoke(request, token_id):
    me = current_staff(request)
    if me is None:
        raise PermissionDenied("API tokens belong to a member of a school's staff.")
    token = revoke_token(me, token_id, request=request)
    messages.success(request, f"Revoked “{token.name}”. It no longer works.")
    return redirect("accounts:tokens")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change. Other sessions end by themselves: each session carries a hash
    of the password it signed in with, which no longer matches (this one is kept)."""

    template_name = "accounts/password_change.html"

    def get_success_url(self):
        return reverse("accounts:tokens")

    def form_valid(self, form):
        response = super().form_valid(form)
        record(actor=self.request.user, school=school_of_user(self.request.user), action=Action.SIGNIN_PASSWORD_CHANGED,
               obj=self.request.user, request=self.request,
               summary="Changed their password (signed out everywhere else)")
        messages.success(self.request, "Password changed. You are signed out everywhere else.")
        return response
