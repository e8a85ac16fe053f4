"""Check results over time: hourly and daily roll-ups, raw-result retention, and the
hourly series that the console, the status page and reports read (availability is
summed from it in summary.py).

Raw results (CheckRecord) are kept MONITOR_RAW_DAYS days. The worker rolls each
finished UTC hour up per monitor (checks by state, latency p50/p95/p99) a little
after it ends, and each finished UTC day the same way; roll-ups are kept for good.
Degraded checks count as available: the service answered, slowly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from atalaia.monitoring.models import CheckRecord, Rollup

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Results reach the database up to a flush after they are taken; a period is
# rolled up only this long after it ends.
SETTLE = timedelta(minutes=2)
PERIODS = {Rollup.HOUR: HOUR, Rollup.DAY: DAY}


@dataclass
class Bucket:
    """One hour of one monitor's results."""

    starts_at: datetime
    checks: int = 0
    up: int = 0
    degraded: int = 0
    down: int = 0
    p50: float | None = None


def floor(moment: datetime, period: str) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if period == Rollup.DAY else moment


def roll_up(now: datetime | None = None, limit: int = 48) -> int:
    """Roll up finished periods not rolled up yet (at most `limit` of each kind);
    the number of periods done. Idempotent: a period done twice is replaced."""
    now = now or timezone.now()
    done = 0
    for period, length in PERIODS.items():
        last = Rollup.objects.filter(period=period).aggregate(last=Max("starts_at"))["last"]
        start = _next_with_results(period, last + length if last else None)
        while start is not None and start + length + SETTLE <= now and done < limit:
            _roll(period, start, start + length)
            done += 1
            start = _next_with_results(period, start + length)
    return done


def _next_with_results(period: str, start: datetime | None) -> datetime | None:
    """The first period from `start` that has results (periods without any, while
    no prober ran, are skipped rather than rolled up empty)."""
    records = CheckRecord.objects.all()
    if start is not None:
        records = records.filter(checked_at__gte=start)
    first = records.aggregate(first=Min("checked_at"))["first"]
    return floor(first, period) if first else None


def _roll(period: str, start: datetime, end: datetime) -> None:
    rows = list(CheckRecord.objects.filter(checked_at__gte=start, checked_at__lt=end)
                .values_list("monitor_id", "state", "latency_ms"))
    rollups = [Rollup(monitor_id=monitor_id, period=period, starts_at=start, **figures)
               for monitor_id, figures in _figures(rows).items()]
    with transaction.atomic():
        Rollup.objects.filter(period=period, starts_at=start).delete()
        Rollup.objects.bulk_create(rollups, batch_size=2000)


def _figures(rows: list[tuple[int, str, float | None]]) -> dict[int, dict]:
    by_monitor: dict[int, list[tuple[str, float | None]]] = defaultdict(list)
    for monitor_id, state, latency in rows:
        by_monitor[monitor_id].append((state, latency))
    figures = {}
    for monitor_id, results in by_monitor.items():
        states = [state for state, _ in results]
        latencies = np.array([lat for state, lat in results
                              if lat is not None and state != "down"], dtype=float)
        p50, p95, p99 = (np.percentile(latencies, [50, 95, 99]).tolist()
                         if latencies.size else (None, None, None))
        figures[monitor_id] = {
            "checks": len(states), "up": states.count("up"),
            "degraded": states.count("degraded"), "down": states.count("down"),
            "latency_p50": p50, "latency_p95": p95, "latency_p99": p99}
    return figures


def prune_raw(now: datetime | None = None, batch: int = 5000) -> int:
    """Delete raw results older than MONITOR_RAW_DAYS, once rolled up; the number deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MONITOR_RAW_DAYS)
    rolled = Rollup.objects.filter(period=Rollup.DAY).aggregate(last=Max("starts_at"))["last"]
    if rolled is None:
        return 0
    cutoff = min(cutoff, rolled + DAY)
    ids = list(CheckRecord.objects.filter(checked_at__lt=cutoff)
               .values_list("pk", flat=True)[:batch])
    return CheckRecord.objects.filter(pk__in=ids).delete()[0] if ids else 0


def hourly(monitor_ids: list[int], since: datetime, until: datetime | None = None
           ) -> dict[int, list[Bucket]]:
    """Each monitor's results per UTC hour from `since` to `until` (now): rolled-up
    hours from Rollup, the hours not rolled up yet from the raw results."""
    until = until or timezone.now()
    start = floor(since, Rollup.HOUR)
    hours = int((until - start) / HOUR) + 1
    series = {m: [Bucket(start + i * HOUR) for i in range(hours)] for m in monitor_ids}
    rolled_until = start
    for rollup in Rollup.objects.filter(monitor_id__in=monitor_ids, period=Rollup.HOUR,
                                        starts_at__gte=start, starts_at__lt=until):
        bucket = series[rollup.monitor_id][int((rollup.starts_at - start) / HOUR)]
        bucket.checks, bucket.up, bucket.degraded, bucket.down, bucket.p50 = (
            rollup.checks, rollup.up, rollup.degraded, rollup.down, rollup.latency_p50)
        rolled_until = max(rolled_until, rollup.starts_at + HOUR)
    _fill_from_raw(series, start, rolled_until, until)
    return series


def _fill_from_raw(series: dict[int, list[Bucket]], start: datetime, rolled_until: datetime,
                   until: datetime) -> None:
    rows = CheckRecord.objects.filter(monitor_id__in=list(series), checked_at__gte=rolled_until,
                                      checked_at__lt=until)
    latencies: dict[tuple[int, int], list[float]] = defaultdict(list)
    for monitor_id, checked_at, state, latency in rows.values_list(
            "monitor_id", "checked_at", "state", "latency_ms"):
        index = int((checked_at - start) / HOUR)
        bucket = series[monitor_id][index]
        bucket.checks += 1
        if state in ("up", "degraded", "down"):
            setattr(bucket, state, getattr(bucket, state) + 1)
        if latency is not None and state != "down":
            latencies[(monitor_id, index)].append(latency)
    for (monitor_id, index), values in latencies.items():
        series[monitor_id][index].p50 = float(np.median(values))
