from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation

from atalaia.accounts.twofactor import SESSION_KEY

# Paths a half-signed-in user may still reach: the 2FA pages themselves,
# logging out, and what is public anyway.
OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/accounts/login/", "/static/",
                 "/healthz", "/api/", "/i18n/", "/intake/", "/v2/", "/ping/", "/status/",
                 "/i/", "/ack/", "/feedback/", "/metrics")


class TwoFactorMiddleware:
    """Session users must pass TOTP when they have it, and enrol when required."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated
                and not request.path.startswith(OPEN_PREFIXES)
                and not request.session.get(SESSION_KEY)):
            if user.totp_confirmed:
                return redirect(reverse("accounts:2fa_verify") + "?next=" + request.path)
            if user.needs_totp:
                return redirect("accounts:2fa_enrol")
        return self.get_response(request)


class UserLanguageMiddleware:
    """A signed-in user's chosen language wins over the browser's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return self.get_response(request)


def session_fully_authenticated(request) -> bool:
    """True for a session user who passed (or needs no) second factor."""
    user = request.user
    if not user.is_authenticated:
        return False
    if request.session.get(SESSION_KEY):
        return True
    return not user.totp_confirmed and not user.needs_totp
