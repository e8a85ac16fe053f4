"""PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/).

An event: {routing_key, event_action: trigger|acknowledge|resolve, dedup_key?,
payload: {summary, source, severity, timestamp?, component?, group?, class?,
custom_details?}, links?, images?, client?, client_url?}. Fields we do not use
are kept with the signal.

Alertmanager's `pagerduty_configs` send, by default, `source: "Alertmanager"`, no
`component`, `severity: error`, and the alert labels and annotations only as text in
`custom_details.firing` (its template `pagerduty.default.instances`). That text is read
back: the labels name the service and the severity, the annotations the summary.
"""

import re
import uuid
from datetime import datetime

from atalaia.intake.formats.alertmanager import SEVERITY_WORDS
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
    _from_alertmanager(payload, event)


def _from_alertmanager(payload: dict, event: Event) -> None:
    """An event from Alertmanager's default PagerDuty receiver: the first firing alert's
    labels decide the service (`service`, else `job`, unless a `component` was sent) and,
    when Alertmanager sent its default `error`, the severity; a lone alert's `summary`
    (else `description`) annotation is the summary."""
    details = payload.get("custom_details")
    firing = details.get("firing") if isinstance(details, dict) else None
    alerts = alertmanager_alerts(firing) if isinstance(firing, str) else []
    if not alerts:
        return
    labels, annotations = alerts[0]["labels"], alerts[0]["annotations"]
    event.details["labels"] = labels
    named = labels.get("service") or labels.get("job")
    if named and not payload.get("component"):
        event.service_hint = named
    word = SEVERITY_WORDS.get(labels.get("severity", "").lower())
    if word and event.severity == "error":
        event.severity = word
    summary = annotations.get("summary") or annotations.get("description")
    if summary and len(alerts) == 1:
        event.summary = summary[:1024]


# A line of Alertmanager's `__text_alert_list` template: " - name = value".
PAIR = re.compile(r"^ - ([A-Za-z_][A-Za-z0-9_]*) = (.*)$")


def alertmanager_alerts(text: str) -> list[dict]:
    """The alerts of Alertmanager's alert-list text, each {labels, annotations, source}:

        Labels:
         - alertname = CheckoutDown
        Annotations:
         - summary = Checkout is down
        Source: http://prometheus/graph?...

    once per alert. A value may span lines (a multi-line description): a line that
    starts no pair and no section continues the value before it."""
    alerts: list[dict] = []
    section: dict | None = None
    last = ""
    for line in text.split("\n"):
        if line == "Labels:":
            alerts.append({"labels": {}, "annotations": {}, "source": ""})
            section, last = alerts[-1]["labels"], ""
        elif line == "Annotations:" and alerts:
            section, last = alerts[-1]["annotations"], ""
        elif line.startswith("Source:") and alerts:
            alerts[-1]["source"], section = line.removeprefix("Source:").strip(), None
        elif section is not None and (pair := PAIR.match(line)):
            last = pair.group(1)
            section[last] = pair.group(2)
        elif section is not None and last:
            section[last] += "\n" + line
    return alerts


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
