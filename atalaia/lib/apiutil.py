"""Shared pieces of the JSON API: error shape, input base model. (Who is calling, and
what they may do, is accounts' business: atalaia/accounts/apiauth.py.)"""

from datetime import date, datetime
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied
from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict


class Input(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped, and JSON types
    are taken as sent: 0 or "true" is not a boolean, false or "5" not a number, 5 not
    text. Every body model, and every model nested in one, derives from this class
    (tests/test_api_strict.py checks it)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _iso_text(value: Any) -> Any:
    # Pydantic's lax mode would read a number as seconds since 1970: only ISO 8601 text
    # (or null, where the field allows it) is a time here.
    if not isinstance(value, str):
        raise ValueError("must be ISO 8601 text: 2026-12-01 or 2026-12-01T10:00:00Z")
    return value


# Ninja validates bodies as Python objects, not as JSON text, and strict mode would then
# refuse the ISO 8601 text JSON carries for times: these two read that text, and only it.
Timestamp = Annotated[datetime, Strict(False), BeforeValidator(_iso_text)]
Day = Annotated[date, Strict(False), BeforeValidator(_iso_text)]


class Error(BaseModel):
    detail: str


# Every route may answer these (413: a body over DATA_UPLOAD_MAX_MEMORY_SIZE, refused
# before the route runs), so every route declares them in the OpenAPI document.
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 413: Error, 422: Error}


__all__ = ["ERRORS", "Day", "Error", "Input", "PermissionDenied", "Timestamp"]
