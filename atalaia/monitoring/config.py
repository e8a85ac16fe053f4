"""A monitor's `config` (plain JSON, as stored and as written in YAML) and the check it builds.

The keys of each kind are the fields of its check in checks.py, except `timeout`,
which is the monitor's own `timeout_seconds`. HTTP `expected_status` is a list of
codes and ranges written "200-399". validate() names the first wrong key.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from atalaia.monitoring import checks
from atalaia.monitoring.models import Monitor, MonitorKind

CHECK_CLASSES: dict[str, type] = {
    MonitorKind.HTTP: checks.HttpCheck,
    MonitorKind.TCP: checks.TcpCheck,
    MonitorKind.PING: checks.PingCheck,
    MonitorKind.SMTP: checks.SmtpCheck,
    MonitorKind.POSTGRESQL: checks.DatabaseCheck,
    MonitorKind.MYSQL: checks.DatabaseCheck,
    MonitorKind.DNS: checks.DnsCheck,
    MonitorKind.TLS: checks.TlsExpiryCheck,
}
# Keys whose values must be of these JSON types (the rest: str, or None when optional).
TYPES: dict[str, tuple[type, ...]] = {
    "port": (int,), "headers": (dict,), "expected_status": (list,), "keyword_absent": (bool,),
    "degraded_after_ms": (int, float), "verify_tls": (bool,), "follow_redirects": (bool,),
    "starttls": (bool,), "expected": (list,), "degraded_days": (int, float),
    "down_days": (int, float), "json_value": (str, int, float, bool, list, dict),
}
REQUIRED = {"http": ["url"], "tcp": ["host", "port"], "ping": ["host"], "smtp": ["host"],
            "dns": ["name"], "tls": ["host"], "postgresql": [], "mysql": ["host"]}
STATUS_RANGE = re.compile(r"^(\d{3})-(\d{3})$")


class ConfigError(ValueError):
    """The configuration is wrong; the message names the key."""


def keys(kind: str) -> list[str]:
    """The keys a kind of monitor accepts."""
    if kind == MonitorKind.HEARTBEAT:
        return []
    return [f.name for f in dataclasses.fields(CHECK_CLASSES[kind])
            if f.name not in ("timeout", "kind")]


def validate(kind: str, config: Any) -> dict:
    """The config, checked; raises ConfigError naming the first wrong key."""
    if not isinstance(config, dict):
        raise ConfigError("config must be a mapping of keys to values")
    if kind not in MonitorKind.values:
        raise ConfigError(f"unknown monitor kind {kind!r}: one of "
                          f"{', '.join(MonitorKind.values)}")
    allowed = keys(kind)
    for key, value in config.items():
        if key not in allowed:
            hint = f"; {kind} monitors take: {', '.join(allowed)}" if allowed else \
                "; heartbeat monitors take none (set interval and grace instead)"
            raise ConfigError(f"config.{key}: unknown key{hint}")
        _check_type(key, value)
    for key in REQUIRED.get(kind, []):
        if config.get(key) in (None, ""):
            raise ConfigError(f"config.{key}: required for {kind} monitors")
    if kind != MonitorKind.HEARTBEAT:
        try:
            build(kind, config, timeout=10.0)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"config: {exc}") from exc
    return config


def _check_type(key: str, value: Any) -> None:
    if value is None:
        return
    wanted = TYPES.get(key, (str,))
    if isinstance(value, bool) and bool not in wanted:
        wanted_names = " or ".join(t.__name__ for t in wanted)
        raise ConfigError(f"config.{key}: must be {wanted_names}, not a boolean")
    if not isinstance(value, wanted):
        wanted_names = " or ".join(t.__name__ for t in wanted)
        raise ConfigError(f"config.{key}: must be {wanted_names}, not {type(value).__name__}")
    _check_value(key, value)


def _check_value(key: str, value: Any) -> None:
    if key == "port" and not 0 < value < 65536:
        raise ConfigError(f"config.port: {value} is not a port (1-65535)")
    if key == "expected_status":
        _statuses(value)
    if key in ("headers",) and not all(isinstance(v, str) for v in value.values()):
        raise ConfigError("config.headers: every header value must be a string")
    if key == "expected" and not all(isinstance(v, str) for v in value):
        raise ConfigError("config.expected: a list of answers written as strings")


def _statuses(values: list) -> tuple[int | range, ...]:
    statuses: list[int | range] = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            statuses.append(value)
            continue
        match = STATUS_RANGE.match(str(value))
        if match and 100 <= int(match[1]) <= int(match[2]) <= 599:
            statuses.append(range(int(match[1]), int(match[2]) + 1))
            continue
        raise ConfigError(f"config.expected_status: {value!r} is neither a status code "
                          "nor a range such as \"200-399\"")
    if not statuses:
        raise ConfigError("config.expected_status: list at least one code")
    return tuple(statuses)


def build(kind: str, config: dict, timeout: float) -> checks.Check:
    arguments = {k: v for k, v in config.items() if v is not None}
    if "expected_status" in arguments:
        arguments["expected_status"] = _statuses(arguments["expected_status"])
    if "expected" in arguments:
        arguments["expected"] = tuple(arguments["expected"])
    if kind in (MonitorKind.POSTGRESQL, MonitorKind.MYSQL):
        arguments["kind"] = kind
    return CHECK_CLASSES[kind](timeout=timeout, **arguments)


def to_check(monitor: Monitor) -> checks.Check:
    """The check a monitor runs (not for heartbeat monitors, which are pinged)."""
    return build(monitor.kind, monitor.config, monitor.timeout_seconds)
