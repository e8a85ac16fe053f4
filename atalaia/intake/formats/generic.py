"""The generic JSON webhook (docs/intake.md): one event, or {"events": [...]}.

Fields: summary (required to trigger), dedup_key (generated when absent),
action (trigger | acknowledge | resolve; default trigger), severity (critical |
error | warning | info; default error), service (a service slug), details (an
object), links (a list of {href, text}). Other fields are kept as details.
"""

import uuid

from atalaia.intake.formats.common import SEVERITIES, Event, InvalidEvent, safe_links, text

KNOWN = ("summary", "dedup_key", "action", "severity", "service", "details", "links")


def parse(body) -> list[Event]:
    items = body.get("events") if isinstance(body, dict) and "events" in body else [body]
    if not isinstance(items, list) or not items:
        raise InvalidEvent(["'events' must be a non-empty list"])
    errors: list[str] = []
    events = [_event(item, f"events[{i}]." if len(items) > 1 else "", errors)
              for i, item in enumerate(items[:1000])]
    if errors:
        raise InvalidEvent(errors)
    return events


def _event(item, where: str, errors: list[str]) -> Event:
    if not isinstance(item, dict):
        errors.append(f"{where or 'the event'} must be a JSON object")
        return Event(action="", dedup_key="")
    action = item.get("action", "trigger")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append(f"'{where}action' must be trigger, acknowledge or resolve")
    severity = item.get("severity", "error")
    if severity not in SEVERITIES:
        errors.append(f"'{where}severity' must be one of {', '.join(SEVERITIES)}")
    dedup_key = text(item.get("dedup_key"), where + "dedup_key", errors,
                     required=action != "trigger", max_length=255)
    summary = text(item.get("summary"), where + "summary", errors, required=action == "trigger")
    details = item.get("details", {})
    if not isinstance(details, dict):
        errors.append(f"'{where}details' must be an object")
        details = {}
    links = item.get("links", [])
    if not isinstance(links, list) or not all(isinstance(x, dict) for x in links):
        errors.append(f"'{where}links' must be a list of objects")
        links = []
    extra = {k: v for k, v in item.items() if k not in KNOWN}
    return Event(action=action, dedup_key=dedup_key or uuid.uuid4().hex, severity=severity,
                 summary=summary, service_hint=text(item.get("service"), where + "service",
                                                    errors, max_length=63),
                 details={**details, **({"extra": extra} if extra else {})},
                 links=safe_links(links))
