"""Changes to monitors and maintenance windows, for the console and the API alike.

Each change runs in one transaction and writes an audit event. A monitor's config
may hold secrets (a database password, an Authorization header), so the audit
log records which config keys changed, never their values. Edits save only the
fields they change, so a prober writing the monitor's state meanwhile loses nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.intake.actions import record_events
from atalaia.intake.formats.common import Event
from atalaia.monitoring import config
from atalaia.monitoring.models import MaintenanceWindow, Monitor, MonitorKind

# The fields a person sets (the rest is written by probers and the worker).
EDITABLE = ("service", "name", "kind", "config", "interval_seconds", "retry_interval_seconds",
            "timeout_seconds", "failures_to_down", "successes_to_up", "locations_required",
            "severity", "paused", "anomaly_detection", "anomaly_k", "anomaly_m",
            "grace_seconds")
# Bounds of the numeric fields, shared by the console form and the API schemas.
LIMITS: dict[str, tuple[float, float]] = {
    "interval_seconds": (10, 31 * 86400),
    "retry_interval_seconds": (5, 86400),
    "timeout_seconds": (0.5, 120),
    "failures_to_down": (1, 100),
    "successes_to_up": (1, 100),
    "locations_required": (1, 20),
    "anomaly_k": (1, 60),
    "anomaly_m": (1, 60),
    "grace_seconds": (0, 31 * 86400),
}


class MonitorError(ValueError):
    """A monitor that cannot be saved; `field` names the wrong field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def check_monitor(fields: dict[str, Any]) -> dict[str, Any]:
    """The rules that span fields: the config against the kind, k of m. Raises
    MonitorError; for the config its message names the key (`config.url: …`)."""
    try:
        fields["config"] = config.validate(fields["kind"], fields.get("config") or {})
    except config.ConfigError as exc:
        raise MonitorError("config", str(exc)) from None
    try:
        json.dumps(fields["config"], allow_nan=False)
    except (TypeError, ValueError):
        raise MonitorError("config", _("config: values must be text, numbers, true/false, "
                                       "lists or mappings")) from None
    if fields["anomaly_k"] > fields["anomaly_m"]:
        raise MonitorError("anomaly_k", _("anomaly_k: must not exceed anomaly_m (k of the "
                                          "last m checks)"))
    return fields


@transaction.atomic
def create_monitor(fields: dict[str, Any], actor: User | None) -> Monitor:
    fields = check_monitor(dict(fields))
    monitor = Monitor.objects.create(**fields)
    audit(actor, "monitor.create", "monitor", str(monitor),
          {"kind": monitor.kind, "config_keys": sorted(monitor.config)})
    return monitor


@transaction.atomic
def update_monitor(monitor: Monitor, changes: dict[str, Any], actor: User | None,
                   action: str = "monitor.update") -> Monitor:
    """Apply `changes` (any of EDITABLE); nothing is written when nothing changes."""
    monitor = (Monitor.objects.select_for_update(of=("self",)).select_related("service")
               .get(pk=monitor.pk))
    before = {name: getattr(monitor, name) for name in EDITABLE}
    after = check_monitor({**before, **changes})
    changed = [name for name in EDITABLE if after[name] != before[name]]
    if not changed:
        return monitor
    for name in changed:
        setattr(monitor, name, after[name])
    if _reschedule_heartbeat(monitor, before):
        changed.append("deadline_at")
    monitor.save(update_fields=changed)
    audit(actor, action, "monitor", str(monitor), _described(before, after))
    return monitor


def set_paused(monitor: Monitor, paused: bool, actor: User | None) -> Monitor:
    return update_monitor(monitor, {"paused": paused}, actor,
                          "monitor.pause" if paused else "monitor.resume")


@transaction.atomic
def delete_monitor(monitor: Monitor, actor: User | None) -> None:
    """Delete the monitor, clearing the signals it had open (nothing else will)."""
    audit(actor, "monitor.delete", "monitor", str(monitor), {"kind": monitor.kind})
    keys = [monitor.dedup_key] + [f"{monitor.dedup_key}-{suffix}"
                                  for suffix in ("degraded", "flapping")]
    summary = f"{monitor.service.name}: {monitor.name} was deleted"
    with transaction.atomic():
        record_events(None, "monitor", [Event(action="resolve", dedup_key=key,
                                              summary=summary) for key in keys])
        monitor.delete()


def _reschedule_heartbeat(monitor: Monitor, before: dict[str, Any]) -> bool:
    """Move a heartbeat's deadline after its period changed or it was resumed;
    True when it moved. A heartbeat never pinged keeps no deadline."""
    if monitor.kind != MonitorKind.HEARTBEAT or monitor.deadline_at is None \
            or monitor.run_started_at is not None:
        return False
    period = timedelta(seconds=monitor.interval_seconds + monitor.grace_seconds)
    if before["paused"] and not monitor.paused:
        # No ping was expected while paused: a full period from now, not a late alarm.
        monitor.deadline_at = timezone.now() + period
        return True
    if monitor.last_ping_at is not None and (
            before["interval_seconds"], before["grace_seconds"]) != (
            monitor.interval_seconds, monitor.grace_seconds):
        monitor.deadline_at = monitor.last_ping_at + period
        return True
    return False


def _described(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in EDITABLE:
        old, new = before[name], after[name]
        if old == new:
            continue
        if name == "config":
            changes["config_keys"] = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
        elif name == "service":
            changes["service"] = [old.slug, new.slug]
        else:
            changes[name] = [old, new]
    return changes


# -- maintenance windows -------------------------------------------------------------

WINDOW_FIELDS = ("title", "starts_at", "duration_minutes", "time_zone", "recurrence",
                 "weekdays", "until")


@transaction.atomic
def create_window(fields: dict[str, Any], services: list, actor: User | None
                  ) -> MaintenanceWindow:
    window = MaintenanceWindow.objects.create(**{k: fields[k] for k in WINDOW_FIELDS})
    window.services.set(services)
    audit(actor, "maintenance.create", "maintenance_window", window.title,
          _window_facts(window, services))
    return window


@transaction.atomic
def update_window(window: MaintenanceWindow, fields: dict[str, Any], services: list,
                  actor: User | None) -> MaintenanceWindow:
    for name in WINDOW_FIELDS:
        setattr(window, name, fields[name])
    window.save()
    window.services.set(services)
    audit(actor, "maintenance.update", "maintenance_window", window.title,
          _window_facts(window, services))
    return window


@transaction.atomic
def delete_window(window: MaintenanceWindow, actor: User | None) -> None:
    audit(actor, "maintenance.delete", "maintenance_window", window.title)
    window.delete()


def _window_facts(window: MaintenanceWindow, services: list) -> dict[str, Any]:
    return {"services": sorted(s.slug for s in services),
            "starts_at": window.starts_at.isoformat(), "time_zone": window.time_zone,
            "duration_minutes": window.duration_minutes, "recurrence": window.recurrence}
