"""The single sign-on pages: start at the provider, come back, log out at both ends."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from atalaia.accounts import limits, sso, throttle, twofactor
from atalaia.accounts.actions import audit
from atalaia.accounts.views import safe_target
from atalaia.lib.clientaddress import client_address


def _refused(request, error: sso.SSOError):
    return render(request, "accounts/sso_error.html", {"error": str(error)}, status=403)


# Each sign-in through the provider costs a start and a callback; an office behind one
# address signing in at nine o'clock fits, a script replaying callbacks does not.
PER_CLIENT = limits.Rule("sso.client", capacity=60, per_seconds=600)


def _throttled(request):
    """A 429 page when this client address has started or finished too many sign-ins."""
    taken = limits.take(PER_CLIENT, client_address(request.META))
    if taken:
        return None
    return throttle.too_many(render(request, "accounts/sso_error.html",
                                    {"error": throttle.wait_text(taken)}), taken)


def sso_login(request):
    if not sso.enabled():
        raise Http404
    if refused := _throttled(request):
        return refused
    try:
        url = sso.start(request.session, request.GET.get("next", ""))
    except sso.SSOError as exc:
        return _refused(request, exc)
    response = redirect(url)
    response["Cache-Control"] = "no-store"
    return response


def sso_callback(request):
    if not sso.enabled():
        raise Http404
    if refused := _throttled(request):
        return refused
    try:
        claims, id_token, next_url = sso.finish(request.session, request.GET.dict())
        user = sso.account_for(claims)
    except sso.SSOError as exc:
        return _refused(request, exc)
    login(request, user, backend="atalaia.accounts.sso.PasswordBackend")
    # The provider did the strong authentication (its own second factor): asking for
    # Atalaia's TOTP as well would make people keep two authenticators for one sign-in.
    request.session[twofactor.SESSION_KEY] = True
    request.session[sso.ID_TOKEN_KEY] = id_token
    audit(user, "user.sso_sign_in", "user", user.username, {"role": user.role})
    return redirect(safe_target(request, next_url, reverse(settings.LOGIN_REDIRECT_URL)))


class LogoutView(auth_views.LogoutView):
    """Logging out ends the session here and, for a single sign-on session, at the
    provider too (RP-initiated logout) when it offers that."""

    # Django's default renders registration/logged_out.html, which we do not have.
    next_page = "accounts:login"

    def post(self, request, *args, **kwargs):
        id_token = request.session.get(sso.ID_TOKEN_KEY)
        response = super().post(request, *args, **kwargs)
        if not id_token or not sso.enabled():
            return response
        try:
            end_session = sso.metadata().get("end_session_endpoint")
        except sso.SSOError as exc:
            messages.warning(request, _("Logged out here, but not at the sign-in provider: "
                                        "%(error)s") % {"error": exc})
            return response
        if not end_session:
            return response
        return redirect(sso.logout_url(end_session, id_token))
