"""Prometheus Alertmanager webhook, payload version 4 (and Grafana's variant).

{version: "4", status, receiver, groupKey, alerts: [{status: firing|resolved,
labels, annotations, startsAt, endsAt, generatorURL, fingerprint}], ...}.
Each alert is one signal, identified by its fingerprint.
"""

import hashlib
import json

from atalaia.intake.formats.common import SEVERITIES, Event, InvalidEvent, safe_links

SEVERITY_WORDS = {"critical": "critical", "page": "critical", "high": "error",
                  "error": "error", "major": "error", "warning": "warning", "warn": "warning",
                  "minor": "warning", "info": "info", "none": "info", "low": "info"}


def parse(body) -> list[Event]:
    if not isinstance(body, dict):
        raise InvalidEvent(["the webhook body must be a JSON object"])
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidEvent(["'alerts' must be a list"])
    errors: list[str] = []
    events = [_event(alert, i, errors) for i, alert in enumerate(alerts[:1000])]
    if len(alerts) > 1000:
        errors.append("at most 1000 alerts per request")
    if errors:
        raise InvalidEvent(errors)
    return events


def _event(alert, index: int, errors: list[str]) -> Event:
    if not isinstance(alert, dict):
        errors.append(f"alerts[{index}] must be an object")
        return Event(action="", dedup_key="")
    labels = alert.get("labels")
    annotations = alert.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        errors.append(f"alerts[{index}].labels and .annotations must be objects")
        return Event(action="", dedup_key="")
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        errors.append(f"alerts[{index}].status must be firing or resolved")
    fingerprint = alert.get("fingerprint") or _fingerprint(labels)
    severity = SEVERITY_WORDS.get(str(labels.get("severity", "")).lower(), "error")
    summary = (annotations.get("summary") or annotations.get("description")
               or labels.get("alertname") or "alert")
    links = safe_links([{"href": alert.get("generatorURL") or "", "text": "source"}])
    return Event(action="trigger" if status == "firing" else "resolve",
                 dedup_key=str(fingerprint)[:255], severity=severity,
                 summary=str(summary)[:1024],
                 service_hint=str(labels.get("service") or labels.get("job") or ""),
                 details={"labels": labels, "annotations": annotations,
                          "startsAt": alert.get("startsAt"), "endsAt": alert.get("endsAt")},
                 links=links)


def _fingerprint(labels: dict) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


assert set(SEVERITY_WORDS.values()) <= set(SEVERITIES)
