"""PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/).

An event: {routing_key, event_action: trigger|acknowledge|resolve, dedup_key?,
payload: {summary, source, severity, timestamp?, component?, group?, class?,
custom_details?}, links?, images?, client?, client_url?}. Fields we do not use
are kept with the signal.
"""

import uuid
from datetime import datetime

from atalaia.intake.formats.common import SEVERITIES, Event, InvalidEvent, safe_links, text

ACTIONS = ("trigger", "acknowledge", "resolve")


def parse_event(body) -> tuple[str, Event]:
    """(routing_key, event) from a decoded JSON body. Raises InvalidEvent."""
    if not isinstance(body, dict):
        raise InvalidEvent(["the event must be a JSON object"])
    errors: list[str] = []
    routing_key = text(body.get("routing_key"), "routing_key", errors, required=True, max_length=64)
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = text(body.get("dedup_key"), "dedup_key", errors, max_length=255)
    event = Event(action=action or "", dedup_key=dedup_key, links=_links(body, errors))
    if action == "trigger":
        _payload(body.get("payload"), event, errors)
        event.dedup_key = dedup_key or uuid.uuid4().hex
    elif action in ("acknowledge", "resolve") and not dedup_key:
        errors.append(f"'dedup_key' is required to {action}")
    if errors:
        raise InvalidEvent(errors)
    event.details.update({k: v for k, v in body.items()
                          if k not in ("routing_key", "payload", "links")})
    return routing_key, event


def _payload(payload, event: Event, errors: list[str]) -> None:
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        return
    event.summary = text(payload.get("summary"), "payload.summary", errors, required=True)
    text(payload.get("source"), "payload.source", errors, required=True, max_length=255)
    severity = payload.get("severity")
    if severity not in SEVERITIES:
        errors.append("'payload.severity' must be one of critical, error, warning, info")
    event.severity = severity if severity in SEVERITIES else "error"
    event.service_hint = str(payload.get("component") or payload.get("source") or "")
    event.happened_at = _timestamp(payload.get("timestamp"), errors)
    event.details = {"payload": payload}


def _timestamp(value, errors: list[str]) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        errors.append("'payload.timestamp' must be an ISO 8601 date and time")
        return None
    if moment.tzinfo is None:
        errors.append("'payload.timestamp' needs a time zone")
        return None
    return moment


def _links(body: dict, errors: list[str]) -> list:
    links = body.get("links") or []
    if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
        errors.append("'links' must be a list of objects with 'href'")
        return []
    return safe_links(links)


def parse_change(body) -> tuple[str, dict]:
    """(routing_key, change) for POST /v2/change/enqueue. Raises InvalidEvent."""
    if not isinstance(body, dict):
        raise InvalidEvent(["the event must be a JSON object"])
    errors: list[str] = []
    routing_key = text(body.get("routing_key"), "routing_key", errors, required=True, max_length=64)
    payload = body.get("payload")
    change: dict = {"links": _links(body, errors)}
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
    else:
        change["summary"] = text(payload.get("summary"), "payload.summary", errors,
                                 required=True)
        change["source"] = text(payload.get("source"), "payload.source", errors,
                                max_length=255)
        change["happened_at"] = _timestamp(payload.get("timestamp"), errors)
        change["details"] = payload.get("custom_details") or {}
    if errors:
        raise InvalidEvent(errors)
    return routing_key, change
