"""Shared pieces of the JSON API: error shape, input base model. (Who is calling, and
what they may do, is accounts' business: atalaia/accounts/apiauth.py.)"""

from django.core.exceptions import PermissionDenied
from pydantic import BaseModel, ConfigDict


class Input(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    detail: str


ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error}


__all__ = ["ERRORS", "Error", "Input", "PermissionDenied"]
