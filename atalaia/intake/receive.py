"""One intake request, from its bytes to its answer, for every intake endpoint.

Used by the Django views and by the WSGI front (front.py) that serves these
endpoints without the console's middleware. The formats belong to other
systems, so the answers are in those systems' terms: PagerDuty's
status/message/errors, and for webhooks 401 for an unknown key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from atalaia.accounts import limits
from atalaia.intake import actions, groupcommit
from atalaia.intake.formats import alertmanager, generic, pagerduty
from atalaia.intake.formats.common import InvalidEvent
from atalaia.intake.models import IntegrationKind
from atalaia.lib import jsondoc

PAGERDUTY = (IntegrationKind.PAGERDUTY,)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes:
        return json.dumps(self.body).encode()


def invalid(errors: list[str], status: int = 400) -> Answer:
    return Answer(status, {"status": "invalid event", "message": "Event object is invalid",
                           "errors": errors})


def throttled(retry_after: float) -> Answer:
    """PagerDuty's answer to an integration over its rate, with when to send again."""
    return Answer(429, {"status": "throttle event", "message": "Requests for this "
                        "integration are temporarily rate limited", "errors": []},
                  (("Retry-After", str(limits.seconds_text(retry_after))),))


UNAUTHORIZED = Answer(401, {"status": "unauthorized", "message": "unknown integration key",
                            "errors": []})
UNAVAILABLE = Answer(503, {"status": "error", "message": "the event could not be stored; "
                           "send it again", "errors": []})


def too_large() -> Answer:
    return invalid([f"the body is larger than {settings.INTAKE_MAX_BYTES} bytes"], 413)


def content_length(value: str | None) -> int | Answer:
    try:
        return int(value or 0)
    except ValueError:
        return invalid(["the Content-Length header is not a number"])


def decode(raw: bytes) -> Any:
    """The JSON body, or an Answer saying why there is none: a 4xx, never retried,
    for a body that could never be stored."""
    try:
        return jsondoc.parse(raw, max_bytes=settings.INTAKE_MAX_BYTES)
    except jsondoc.JSONInputError as exc:
        return invalid([str(exc)], exc.status)


def pagerduty_event(raw: bytes) -> Answer:
    """POST /v2/enqueue."""
    return _pagerduty(raw, pagerduty.parse_event, lambda key, event: groupcommit.Item(
        PAGERDUTY, key, events=[event]), lambda event: {
        "status": "success", "message": "Event processed", "dedup_key": event.dedup_key})


def pagerduty_change(raw: bytes) -> Answer:
    """POST /v2/change/enqueue."""
    return _pagerduty(raw, pagerduty.parse_change, lambda key, change: groupcommit.Item(
        PAGERDUTY, key, change=change), lambda change: {
        "status": "success", "message": "Change event processed"})


def _pagerduty(raw: bytes, parse: Callable, item: Callable, success: Callable) -> Answer:
    body = decode(raw)
    if isinstance(body, Answer):
        return body
    try:
        key, parsed = parse(body)
    except InvalidEvent as exc:
        return invalid(exc.errors)
    refusal = _commit(item(key, parsed), unknown=invalid(
        ["'routing_key' does not match an integration"]))
    return refusal or Answer(202, success(parsed))


WEBHOOKS: dict[str, tuple[str, Callable[[Any], list]]] = {
    "alertmanager": (IntegrationKind.ALERTMANAGER, alertmanager.parse),
    "generic": (IntegrationKind.GENERIC, generic.parse),
}


def webhook(name: str, raw: bytes, key: str) -> Answer:
    """POST /intake/alertmanager[/KEY] and /intake/generic[/KEY]."""
    kind, parse = WEBHOOKS[name]
    body = decode(raw)
    if isinstance(body, Answer):
        return body
    try:
        events = parse(body)
    except InvalidEvent as exc:
        # An unknown key is said first, as before: a sender with a wrong key learns
        # nothing about what the endpoint accepts.
        if actions.integration_for_key(key, (kind,)) is not None:
            return invalid(exc.errors)
        return UNAUTHORIZED
    refusal = _commit(groupcommit.Item((kind,), key, events=events), unknown=UNAUTHORIZED)
    return refusal or Answer(202, {"status": "success", "message": "Events processed",
                                   "count": len(events)})


def _commit(item: groupcommit.Item, unknown: Answer) -> Answer | None:
    outcome = groupcommit.submit(item)
    if outcome.accepted:
        return None
    if outcome.refusal == "rate":
        return throttled(outcome.retry_after)
    return unknown if outcome.refusal == "unknown key" else UNAVAILABLE


def webhook_key(path_key: str | None, authorization: str, query_key: str) -> str:
    """The integration key: `Authorization: Bearer KEY`, the path, or `?key=`."""
    bearer = authorization[7:].strip() if authorization.startswith("Bearer ") else ""
    return bearer or path_key or query_key
