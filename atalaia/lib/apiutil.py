"""Shared pieces of the JSON API: authentication, error shape, input base model."""

from django.core.exceptions import PermissionDenied
from ninja.security import HttpBearer, SessionAuth
from pydantic import BaseModel, ConfigDict

from atalaia.accounts.actions import user_for_token
from atalaia.accounts.middleware import session_fully_authenticated
from atalaia.accounts.permissions import require


class Input(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    detail: str


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
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error}


def allow(request, capability: str) -> None:
    require(request.auth, capability)


__all__ = ["AUTH", "ERRORS", "Error", "Input", "PermissionDenied", "allow"]
