from django.http import HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from atalaia.accounts.twofactor import SESSION_KEY

# Paths a half-signed-in user may still reach: the 2FA pages themselves,
# logging out, what is public anyway, and what browsers fetch on their own.
OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/accounts/login/", "/static/",
                 "/favicon.ico", "/robots.txt",
                 "/healthz", "/api/", "/i18n/", "/intake/", "/v2/", "/ping/", "/status/",
                 "/i/", "/ack/", "/feedback/", "/metrics")


def is_page_navigation(request) -> bool:
    """A person opening a page or sending a form, as opposed to the browser fetching an
    icon, an image, a script or a live stream for a page already shown. Only a navigation
    may be sent to the two-factor pages: anything else would land where nobody sees it,
    and once acted on them (a GET of the enrolment page made a new secret)."""
    mode = request.headers.get("Sec-Fetch-Mode")
    # Clients that do not say (older browsers, scripts) get the redirect, as before.
    return mode is None or mode == "navigate"


class TwoFactorMiddleware:
    """Session users must pass TOTP when they have it, and enrol when required."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated
                and not request.path.startswith(OPEN_PREFIXES)
                and not request.session.get(SESSION_KEY)
                and (user.totp_confirmed or user.needs_totp)):
            return self.second_factor_first(request, user)
        return self.get_response(request)

    @staticmethod
    def second_factor_first(request, user):
        if not is_page_navigation(request):
            return HttpResponseForbidden(
                _("Finish signing in first: two-factor authentication is required."),
                content_type="text/plain; charset=utf-8")
        if user.totp_confirmed:
            return redirect(reverse("accounts:2fa_verify") + "?next=" + request.path)
        return redirect("accounts:2fa_enrol")


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
