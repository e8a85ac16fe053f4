"""Who is calling the JSON API, and what they may do: a bearer token or the console's
own session (with CSRF, once two-factor is passed)."""

from ninja.security import HttpBearer, SessionAuth

from atalaia.accounts.actions import user_for_token
from atalaia.accounts.middleware import session_fully_authenticated
from atalaia.accounts.permissions import require


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


class ConsoleSession(SessionAuth):
    """The console's own session (with CSRF), only once two-factor is passed."""

    def authenticate(self, request, key):
        if session_fully_authenticated(request):
            return request.user
        return None


AUTH = [BearerToken(), ConsoleSession()]


def allow(request, capability: str) -> None:
    require(request.auth, capability)
