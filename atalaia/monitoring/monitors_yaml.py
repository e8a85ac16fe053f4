"""Monitors as code: every monitor and maintenance window in one YAML file, and back.

export_monitors() writes a file that import_monitors() reads back unchanged; the
format is in docs/monitors-as-code.md. A monitor is known by its service and name,
a maintenance window by its title. An import is all or nothing, and every problem
is listed with its line, naming the monitor or window and the key.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.catalog.models import SLUG_PATTERN, Service
from atalaia.intake.models import Severity
from atalaia.lib import yamldoc as y
from atalaia.monitoring.actions import LIMITS
from atalaia.monitoring.config import ConfigError, keys, validate
from atalaia.monitoring.maintenance import WindowError, validate_window
from atalaia.monitoring.models import MaintenanceWindow, Monitor, MonitorKind, Recurrence

WHOLE = 2**31 - 1  # the largest PositiveIntegerField
HEARTBEAT = MonitorKind.HEARTBEAT


def _timeout(value: Any, path: y.Path, checker: y.Checker) -> float:
    value = y.number(*LIMITS["timeout_seconds"])(value, path, checker)
    if value != value:  # NaN, which compares false with any bound
        checker.error(path, "expected a number of seconds, got .nan")
    return value


def _whole(field: str) -> y.Validator:
    """The bounds the console and the API keep (actions.LIMITS), so that a file
    cannot set what the form would refuse."""
    low, high = LIMITS[field]
    return y.integer(int(low), int(high))


# A monitor's settings in file order: file key -> (Monitor field, validator).
SETTINGS: dict[str, tuple[str, y.Validator]] = {
    "interval": ("interval_seconds", _whole("interval_seconds")),
    "retry_interval": ("retry_interval_seconds", _whole("retry_interval_seconds")),
    "timeout": ("timeout_seconds", _timeout),
    "failures_to_down": ("failures_to_down", _whole("failures_to_down")),
    "successes_to_up": ("successes_to_up", _whole("successes_to_up")),
    "locations_required": ("locations_required", _whole("locations_required")),
    "severity": ("severity", y.one_of(*Severity.values)),
    "paused": ("paused", y.boolean()),
    "anomaly_detection": ("anomaly_detection", y.boolean()),
    "anomaly_k": ("anomaly_k", _whole("anomaly_k")),
    "anomaly_m": ("anomaly_m", _whole("anomaly_m")),
    "grace": ("grace_seconds", _whole("grace_seconds")),  # heartbeat monitors only
}
DEFAULTS = {f.name: f.get_default() for f in Monitor._meta.concrete_fields
            if f.name in {name for name, _ in SETTINGS.values()}}
WINDOW_FIELDS = ["starts_at", "duration_minutes", "time_zone", "recurrence", "weekdays", "until"]
EXAMPLE_TIME = "such as 2026-12-01T02:00:00"


def _local_time(value: Any, path: y.Path, checker: y.Checker) -> datetime | None:
    """Wall-clock time in the window's time zone: no offset, so it reads the same all year."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            checker.error(path, f"{value!r} is not a date and time {EXAMPLE_TIME}")
            return None
    if not isinstance(value, datetime):
        checker.error(path, f"expected a date and time {EXAMPLE_TIME}")
        return None
    if value.tzinfo is not None:
        checker.error(path, "write the local time in time_zone, without an offset")
    return value


def _optional_local_time(value: Any, path: y.Path, checker: y.Checker) -> datetime | None:
    return None if value is None else _local_time(value, path, checker)


class _About(y.Checker):
    """A checker that names the monitor or window before each problem."""

    def __init__(self, checker: y.Checker, about: str):
        super().__init__(checker.lines, checker.problems)
        self.about = about

    def error(self, path: y.Path, message: str) -> None:
        super().error(path, f"{self.about}: {message}" if self.about else message)


def _monitor_about(item: Any) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return ""
    label = f"{item.get('service', '?')}: {item['name']}"
    return f"monitor {label!r}"


def _window_about(item: Any) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("title"), str):
        return ""
    return f"maintenance window {item['title']!r}"


def _named(schema: y.Validator, about: Callable[[Any], str]) -> y.Validator:
    return lambda value, path, checker: schema(value, path, _About(checker, about(value)))


slug = y.string(63, SLUG_PATTERN)
MONITOR = y.mapping({
    "service": (slug, True),
    "name": (y.string(200), True),
    "kind": (y.one_of(*MonitorKind.values), True),
    **{key: (validator, False) for key, (_, validator) in SETTINGS.items()},
    "ping_key": (y.string(100), False),
    "config": (y.any_value(), False),
})
WINDOW = y.mapping({
    "title": (y.string(200), True),
    "services": (y.list_of(slug, min_items=1), True),
    "starts_at": (_local_time, True),
    "duration_minutes": (y.integer(1, WHOLE), True),
    "time_zone": (y.string(64), False),
    "recurrence": (y.one_of(*Recurrence.values), False),
    "weekdays": (y.list_of(y.integer(0, 6)), False),
    "until": (_optional_local_time, False),
})
DOCUMENT = y.mapping({
    "monitors": (y.list_of(_named(MONITOR, _monitor_about)), False),
    "maintenance": (y.list_of(_named(WINDOW, _window_about)), False),
})


def parse_monitors(text: str) -> dict:
    """Check a monitors file: schema, then services, configs and keys. Raises DocumentError.

    Windows come back checked by validate_window (times aware, in UTC); ping keys as UUIDs.
    """
    data, lines = y.load(text)
    checker = y.Checker(lines)
    doc = DOCUMENT(data if data is not None else {}, (), checker)
    checker.raise_if_any()
    _check_monitors(doc.get("monitors", []), checker)
    _check_windows(doc.get("maintenance", []), checker)
    checker.raise_if_any()
    return doc


def _check_monitors(items: list[dict], checker: y.Checker) -> None:
    known = set(Service.objects.filter(slug__in={m["service"] for m in items})
                .values_list("slug", flat=True))
    rows = list(Monitor.objects.values_list("service__slug", "name", "ping_key"))
    stored_keys = {(service, name): key for service, name, key in rows}
    owners = {key: (service, name) for service, name, key in rows}
    counts = Counter((service, name) for service, name, _ in rows)
    seen: set[tuple[str, str]] = set()
    seen_keys: set[uuid.UUID] = set()
    for i, item in enumerate(items):
        about, path = _About(checker, _monitor_about(item)), ("monitors", i)
        ident = (item["service"], item["name"])
        if ident in seen:
            about.error(path + ("name",), "appears twice in the file")
        seen.add(ident)
        if item["service"] not in known:
            about.error(path + ("service",), f"unknown service {item['service']!r}")
        if counts[ident] > 1:
            about.error(path + ("name",), f"{counts[ident]} stored monitors of this service "
                                          "have this name; rename all but one first")
        _check_settings(item, path, about)
        if "ping_key" in item:
            _check_ping_key(item, path + ("ping_key",), about, stored_keys.get(ident),
                            owners, seen_keys)


def _check_settings(item: dict, path: y.Path, about: y.Checker) -> None:
    """The rules that span keys: k of m, grace for heartbeats, the config for the kind."""
    k, m = (item.get(key, DEFAULTS[key]) for key in ("anomaly_k", "anomaly_m"))
    if k > m:
        about.error(path + ("anomaly_k",), "must not exceed anomaly_m (k of the last m checks)")
    if "grace" in item and item["kind"] != HEARTBEAT:
        about.error(path + ("grace",), "only heartbeat monitors have a grace")
    item.setdefault("config", {})
    try:
        json.dumps(item["config"], allow_nan=False)
    except (TypeError, ValueError):
        about.error(path + ("config",), "values must be text, numbers, true/false, lists "
                                        "or mappings")
        return
    try:
        validate(item["kind"], item["config"])
    except ConfigError as exc:
        # ConfigError says "config.<key>: problem"; the key becomes the path, for its line.
        where, _, problem = str(exc).partition(": ")
        if where.split(".")[0] == "config" and problem:
            about.error(path + tuple(where.split(".")), problem)
        else:
            about.error(path + ("config",), str(exc))


def _check_ping_key(item: dict, path: y.Path, about: y.Checker, current: uuid.UUID | None,
                    owners: dict, seen_keys: set[uuid.UUID]) -> None:
    """A ping key is kept when a file creates its heartbeat; it never changes one."""
    if item["kind"] != HEARTBEAT:
        about.error(path, "only heartbeat monitors have a ping key")
        return
    try:
        key = uuid.UUID(item["ping_key"])
    except ValueError:
        about.error(path, f"{item['ping_key']!r} is not a UUID")
        return
    owner = owners.get(key)
    if key in seen_keys:
        about.error(path, "appears twice in the file")
    elif owner is not None and owner != (item["service"], item["name"]):
        label = f"{owner[0]}: {owner[1]}"
        about.error(path, f"already the key of monitor {label!r}")
    elif owner is None and current is not None:
        about.error(path, f"this monitor's ping key is {current}; a file cannot change it")
    seen_keys.add(key)
    item["ping_key"] = key


def _check_windows(items: list[dict], checker: y.Checker) -> None:
    known = set(Service.objects.filter(slug__in={s for w in items for s in w["services"]})
                .values_list("slug", flat=True))
    counts = Counter(MaintenanceWindow.objects.values_list("title", flat=True))
    seen: set[str] = set()
    for i, item in enumerate(items):
        about, path = _About(checker, _window_about(item)), ("maintenance", i)
        if item["title"] in seen:
            about.error(path + ("title",), "appears twice in the file")
        seen.add(item["title"])
        if counts[item["title"]] > 1:
            about.error(path + ("title",), f"{counts[item['title']]} stored windows have this "
                                           "title; rename all but one first")
        for j, service in enumerate(item["services"]):
            if service not in known:
                about.error(path + ("services", j), f"unknown service {service!r}")
        try:
            items[i] = validate_window(item)
        except WindowError as exc:
            about.error(path + (exc.field,), exc.message)


# -- import --------------------------------------------------------------------------


@dataclass
class Changes:
    """What an import did to one kind of thing, by name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    def __str__(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.deleted)} deleted, {self.unchanged} unchanged")


@dataclass
class Summary:
    monitors: Changes = field(default_factory=Changes)
    maintenance: Changes = field(default_factory=Changes)
    dry_run: bool = False

    def __str__(self) -> str:
        prefix = "dry run, nothing saved: " if self.dry_run else ""
        return f"{prefix}monitors: {self.monitors}; maintenance windows: {self.maintenance}"

    def lines(self) -> list[str]:
        """One line per change, then the totals."""
        out = []
        for noun, changes in (("monitor", self.monitors), ("maintenance window",
                                                         self.maintenance)):
            for verb in ("created", "updated", "deleted"):
                out += [f"{verb} {noun} {name!r}" for name in getattr(changes, verb)]
        return [*out, str(self)]


def import_monitors(text: str, actor: User | None = None, *, prune: bool = False,
                    dry_run: bool = False) -> Summary:
    """Create or update what the file lists; all of it or nothing. Raises DocumentError.

    prune: also delete the monitors (and windows) that a section of the file leaves
    out; a section missing from the file prunes nothing. dry_run: save nothing.
    """
    summary = Summary(dry_run=dry_run)
    with transaction.atomic():
        doc = parse_monitors(text)
        if "monitors" in doc:
            _apply_monitors(doc["monitors"], prune, summary.monitors)
        if "maintenance" in doc:
            _apply_windows(doc["maintenance"], prune, summary.maintenance)
        audit(actor, "monitors.import", "monitoring", "monitors file",
              {"monitors": str(summary.monitors), "maintenance": str(summary.maintenance),
               "prune": prune})
        if dry_run:
            transaction.set_rollback(True)
    return summary


def _apply_monitors(items: list[dict], prune: bool, changes: Changes) -> None:
    services = {s.slug: s for s in Service.objects.filter(slug__in={m["service"] for m in items})}
    # Locked, so a ping arriving meanwhile waits rather than being overwritten.
    stored = {(m.service.slug, m.name): m for m in
              Monitor.objects.select_for_update(of=("self",)).select_related("service")}
    for item in items:
        label = f"{item['service']}: {item['name']}"
        monitor = stored.pop((item["service"], item["name"]), None)
        if monitor is None:
            extra = {"ping_key": item["ping_key"]} if "ping_key" in item else {}
            Monitor.objects.create(service=services[item["service"]], name=item["name"],
                                   **_monitor_fields(item), **extra)
            changes.created.append(label)
        elif _update_monitor(monitor, item):
            changes.updated.append(label)
        else:
            changes.unchanged += 1
    if prune and stored:
        Monitor.objects.filter(pk__in=[m.pk for m in stored.values()]).delete()
        changes.deleted += sorted(f"{service}: {name}" for service, name in stored)


def _monitor_fields(item: dict) -> dict[str, Any]:
    """The Monitor fields the file sets; a key left out is the field's default."""
    fields = {"kind": item["kind"], "config": item["config"]}
    for key, (name, _) in SETTINGS.items():
        fields[name] = item.get(key, DEFAULTS[name])
    return fields


def _update_monitor(monitor: Monitor, item: dict) -> bool:
    """Change a stored monitor in place, keeping its key, state and history; True if changed."""
    before, was_paused = monitor_document(monitor), monitor.paused
    fields = _monitor_fields(item)
    for name, value in fields.items():
        setattr(monitor, name, value)
    if monitor_document(monitor) == before:
        return False
    if monitor.kind == HEARTBEAT and monitor.deadline_at is not None:
        monitor.deadline_at = _deadline(monitor, resumed=was_paused and not monitor.paused)
        fields["deadline_at"] = monitor.deadline_at
    # Only what the file sets: the state is the prober's and the pings' to write.
    monitor.save(update_fields=list(fields))
    return True


def _deadline(monitor: Monitor, resumed: bool) -> datetime | None:
    """A heartbeat's deadline after its period or grace changed, or it was resumed."""
    if monitor.run_started_at is not None:
        return monitor.run_started_at + timedelta(seconds=monitor.grace_seconds)
    period = timedelta(seconds=monitor.interval_seconds + monitor.grace_seconds)
    if resumed:  # no ping was expected while paused: a full period from now, not an alarm
        return timezone.now() + period
    return monitor.last_ping_at + period if monitor.last_ping_at else monitor.deadline_at


def _apply_windows(items: list[dict], prune: bool, changes: Changes) -> None:
    services = {s.slug: s for s in Service.objects.filter(
        slug__in={slug for w in items for slug in w["services"]})}
    stored = {w.title: w for w in MaintenanceWindow.objects.prefetch_related("services")}
    for item in items:
        fields = {name: item[name] for name in WINDOW_FIELDS}
        targets = sorted(set(item["services"]))
        window = stored.pop(item["title"], None)
        if window is None:
            window = MaintenanceWindow.objects.create(title=item["title"], **fields)
            window.services.set([services[s] for s in targets])
            changes.created.append(item["title"])
            continue
        current = sorted(s.slug for s in window.services.all())
        if current == targets and all(getattr(window, k) == v for k, v in fields.items()):
            changes.unchanged += 1
            continue
        for name, value in fields.items():
            setattr(window, name, value)
        window.save(update_fields=list(fields))
        window.services.set([services[s] for s in targets])
        changes.updated.append(item["title"])
    if prune and stored:
        MaintenanceWindow.objects.filter(pk__in=[w.pk for w in stored.values()]).delete()
        changes.deleted += sorted(stored)


# -- export --------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Writes the file the way the docs show it: list items indented under their key,
    and wall-clock times as 2026-12-01T02:00:00."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


_Dumper.add_representer(
    datetime, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:timestamp",
                                                           value.isoformat()))


def export_monitors() -> str:
    """Every monitor and maintenance window, as a file import_monitors reads back unchanged."""
    doc = {
        "monitors": [monitor_document(m) for m in
                     Monitor.objects.select_related("service").order_by("service__slug",
                                                                        "name", "pk")],
        "maintenance": [window_document(w) for w in
                        MaintenanceWindow.objects.prefetch_related("services")
                        .order_by("starts_at", "title", "pk")],
    }
    header = ("# Atalaia monitors and maintenance windows; the format is in "
              "docs/monitors-as-code.md.\n"
              "# Read back with `atalaia monitors import FILE`. A heartbeat's ping URL is\n"
              f"# {settings.SITE_URL}/ping/<ping_key>.\n")
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              default_flow_style=None, width=100)


def monitor_document(monitor: Monitor) -> dict:
    """A monitor as the file writes it: every key, grace and ping_key for heartbeats only."""
    item: dict[str, Any] = {"service": monitor.service.slug, "name": monitor.name,
                            "kind": monitor.kind}
    for key, (name, _) in SETTINGS.items():
        if key != "grace" or monitor.kind == HEARTBEAT:
            item[key] = getattr(monitor, name)
    timeout = float(item["timeout"])
    item["timeout"] = int(timeout) if timeout.is_integer() else timeout
    if monitor.kind == HEARTBEAT:
        item["ping_key"] = str(monitor.ping_key)
    item["config"] = _ordered_config(monitor.kind, monitor.config)
    return item


def _ordered_config(kind: str, config: dict) -> dict:
    """In the order of the check's fields, so the file reads the same on every database."""
    order = {key: i for i, key in enumerate(keys(kind) if kind in MonitorKind.values else [])}
    return {key: config[key] for key in sorted(config, key=lambda k: (order.get(k, 999), k))}


def window_document(window: MaintenanceWindow) -> dict:
    """A window as the file writes it: times are wall-clock times in its time zone."""
    zone = ZoneInfo(window.time_zone)
    return {
        "title": window.title,
        "services": sorted(s.slug for s in window.services.all()),
        "starts_at": window.starts_at.astimezone(zone).replace(tzinfo=None),
        "duration_minutes": window.duration_minutes,
        "time_zone": window.time_zone,
        "recurrence": window.recurrence,
        "weekdays": list(window.weekdays),
        "until": window.until.astimezone(zone).replace(tzinfo=None) if window.until else None,
    }
