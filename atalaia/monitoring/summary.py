"""What the console and the API show of monitors: availability over time windows,
the 24-hour latency sparkline, a monitor's target, and its config without secrets.

Windows:
- "24 h" is the current UTC hour so far and the 23 hours before it (hourly series);
- "N d" is the current UTC day so far and the N-1 UTC days before it: whole days
  from the daily roll-ups, the hours after the last rolled-up day from the hourly
  series. A list page therefore reads one hourly series for all of its monitors and
  one set of daily roll-ups, whatever the number of monitors.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db.models import Max, Min
from django.utils import timezone

from atalaia.monitoring.models import CheckRecord, Monitor, MonitorKind, Rollup
from atalaia.monitoring.rollups import DAY, HOUR, Bucket, floor, hourly

SECRET_KEYS = frozenset({"password", "dsn", "body"})  # what may carry credentials
HIDDEN = "********"
SPARK_WIDTH, SPARK_HEIGHT, SPARK_HOURS = 120, 28, 24


@dataclass
class Totals:
    checks: int = 0
    up: int = 0
    degraded: int = 0
    down: int = 0

    def add(self, checks: int, up: int, degraded: int, down: int) -> None:
        self.checks += checks
        self.up += up
        self.degraded += degraded
        self.down += down

    @property
    def availability(self) -> float | None:
        """Share of checks not down (degraded counts as available); None without checks."""
        return (self.up + self.degraded) / self.checks if self.checks else None

    @property
    def percent(self) -> float | None:
        """The availability in percent, rounded down to 0.01: 99.999 % shows as
        99.99 %, never as 100 %."""
        share = self.availability
        return None if share is None else math.floor(share * 10000 + 1e-9) / 100


@dataclass
class Overview:
    hours: list[Bucket]  # the last SPARK_HOURS hours, oldest first
    windows: dict[str, Totals] = field(default_factory=dict)  # "24h", "7d", "30d"


def overviews(monitor_ids: list[int], days: tuple[int, ...] = (30,),
              now: datetime | None = None) -> dict[int, Overview]:
    """Each monitor's last 24 hours and its availability over 24 h and `days` days,
    in four queries (five before the first daily roll-up)."""
    if not monitor_ids:
        return {}
    now = now or timezone.now()
    today = floor(now, Rollup.DAY)
    first_day = today - (max(days, default=1) - 1) * DAY
    recent = floor(now, Rollup.HOUR) - (SPARK_HOURS - 1) * HOUR
    covered = _days_rolled_until(first_day, today)
    series = hourly(monitor_ids, min(recent, covered), now)
    daily = _daily(monitor_ids, first_day, covered)
    result = {}
    for pk in monitor_ids:
        buckets = series[pk]
        overview = Overview(hours=[b for b in buckets if b.starts_at >= recent])
        overview.windows["24h"] = totals(overview.hours)
        for count in days:
            since = today - (count - 1) * DAY
            window = totals(b for b in buckets if b.starts_at >= max(since, covered))
            for starts_at, figures in daily[pk]:
                if starts_at >= since:
                    window.add(*figures)
            overview.windows[f"{count}d"] = window
        result[pk] = overview
    return result


def _days_rolled_until(first_day: datetime, today: datetime) -> datetime:
    """The end of the daily roll-ups to use: days before it come from them, later
    hours from the hourly series. Roll-ups run for all monitors at once."""
    last = Rollup.objects.filter(period=Rollup.DAY).aggregate(last=Max("starts_at"))["last"]
    if last is None:
        # Nothing rolled up yet (a new installation): the raw results start late.
        first = CheckRecord.objects.aggregate(first=Min("checked_at"))["first"]
        until = floor(first, Rollup.DAY) if first is not None else today
    else:
        until = last + DAY
    return min(max(until, first_day), today)


def _daily(monitor_ids: list[int], first_day: datetime, covered: datetime
           ) -> dict[int, list[tuple[datetime, tuple[int, int, int, int]]]]:
    rows: dict[int, list[tuple[datetime, tuple[int, int, int, int]]]] = defaultdict(list)
    if covered <= first_day:
        return rows
    for pk, starts_at, checks, up, degraded, down in Rollup.objects.filter(
            monitor_id__in=monitor_ids, period=Rollup.DAY, starts_at__gte=first_day,
            starts_at__lt=covered).values_list("monitor_id", "starts_at", "checks", "up",
                                               "degraded", "down"):
        rows[pk].append((starts_at, (checks, up, degraded, down)))
    return rows


def totals(buckets) -> Totals:
    """Hourly buckets summed: their checks by state, and so their availability."""
    summed = Totals()
    for b in buckets:
        summed.add(b.checks, b.up, b.degraded, b.down)
    return summed


def availability_windows(monitor: Monitor, now: datetime | None = None) -> dict[str, Totals]:
    """One monitor's 24 h, 7 d and 30 d."""
    return overviews([monitor.pk], (7, 30), now)[monitor.pk].windows


# -- the sparkline ---------------------------------------------------------------------

@dataclass
class Sparkline:
    """An SVG sparkline as numbers only: polylines (runs of hours with a median
    latency; hours without one are gaps), dots for single-hour runs, and marks
    under the hours that had down checks."""

    width: int
    height: int
    lines: list[str]
    dots: list[tuple[str, str]]
    down_marks: list[str]
    peak_ms: float | None
    step: str


def sparkline(hours: list[Bucket], width: int = SPARK_WIDTH,
              height: int = SPARK_HEIGHT) -> Sparkline:
    values = [b.p50 for b in hours]
    known = [v for v in values if v is not None]
    peak = max(known) if known else None
    step = width / max(len(hours) - 1, 1)
    plot = height - 4  # room for the down marks below the line

    def point(index: int, value: float) -> tuple[str, str]:
        y = plot - (value / peak * (plot - 2) if peak else 0)
        return f"{index * step:.1f}", f"{y:.1f}"

    runs: list[list[tuple[str, str]]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append(point(index, value))
    lines = [" ".join(f"{x},{y}" for x, y in run) for run in runs if len(run) > 1]
    dots = [run[0] for run in runs if len(run) == 1]
    marks = [f"{max(index * step - step / 2, 0):.1f}" for index, b in enumerate(hours)
             if b.down]
    return Sparkline(width, height, lines, dots, marks, peak, f"{max(step, 1.0):.1f}")


# -- targets and secrets ------------------------------------------------------------

def target(monitor: Monitor) -> str:
    """What the monitor checks, in one line, without credentials."""
    cfg = monitor.config or {}
    if monitor.kind == MonitorKind.HTTP:
        return _without_userinfo(str(cfg.get("url", "")))
    if monitor.kind == MonitorKind.DNS:
        return f"{cfg.get('name', '')} {cfg.get('record_type', 'A')}"
    if monitor.kind == MonitorKind.HEARTBEAT:
        return ""
    host = cfg.get("host")
    if host is None:
        return "dsn" if cfg.get("dsn") else ""
    port = cfg.get("port")
    return f"{host}:{port}" if port is not None else str(host)


def _without_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redacted(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config as someone who may not edit the monitor sees it: passwords, DSNs,
    request bodies, header values and credentials in URLs hidden."""
    shown: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in SECRET_KEYS and value is not None:
            shown[key] = HIDDEN
        elif key == "headers" and isinstance(value, dict):
            shown[key] = {name: HIDDEN for name in value}
        elif key == "url" and isinstance(value, str):
            shown[key] = _without_userinfo(value)
        else:
            shown[key] = value
    return shown
