"""The invitation page: /accounts/invitation/<token>/ (accounts/invitations.py)."""
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from audit.actions import Action
from audit.services import record
from core.errors import NotAllowed

from . import invitations, second_factor

HALF_SIGNED_IN = {"me": None, "current_school": None}


@never_cache
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    found = invitations.find(token)
    context: dict = {"invitation": found, **HALF_SIGNED_IN}
    if found is None:
        return render(request, "accounts/invitation_closed.html", {**context, "state": "unknown"}, status=404)
    if request.method == "POST" and request.POST.get("ask") == "renew":
        renewed = invitations.renew_expired(found, request=request)
        return render(request, "accounts/invitation_closed.html",
                      {**context, "state": found.state, "renewed": renewed is not None, "asked": True})
    if found.state != "open" or not found.staff.active:
        state = found.state if found.staff.active else "left"
        return render(request, "accounts/invitation_closed.html", {**context, "state": state}, status=410)
    user = found.staff.user
    assert user is not None  # invite() gives everyone it invites a sign-in
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.accept(found, form.cleaned_data["new_password1"], request=request)
        except NotAllowed as exc:
            messages.error(request, str(exc))
            return redirect(request.path)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        must = second_factor.must_use_2fa(user)
        record(actor=user, school=found.staff.school, action=Action.SIGNIN, obj=user, request=request,
               summary="Signed in with the password just set from an invitation"
                       + (", code still to set up" if must else ""))
        if must:
            messages.info(request, "Password set. Your role needs a second step when you sign in: set it up now.")
            return redirect(f"{reverse('accounts:enrol')}?{urlencode({'next': reverse('home')})}")
        messages.success(request, "Password set. Welcome to Doorstep.")
        return redirect("home")
    return render(request, "accounts/invitation.html", {
        **context, "form": form, "staff": found.staff, "username": user.get_username(),
        "needs_2fa": bool(found.staff.roles.filter(role__in=second_factor.ROLES_NEEDING_2FA).exists()),
    })
