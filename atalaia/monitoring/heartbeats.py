"""Heartbeat monitors: pings from cron jobs and batch work, and the deadlines they keep.

A success sets the next deadline to now + interval + grace; /start begins a run
that must succeed within the grace; /fail (or a non-zero exit code) is down at
once. The worker marks a monitor down when its deadline passes. State changes go
through transitions.set_state, like the prober's: history, flapping and signals.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from atalaia.monitoring import baselines
from atalaia.monitoring.models import CheckRecord, Monitor, MonitorKind, MonitorState
from atalaia.monitoring.transitions import set_state

# Pings are stored as results of this location; run times are their "latency".
LOCATION = "ping"
# Run times read for a baseline, at most (the newest).
HISTORY_LIMIT = 5000


def ping(key, kind: str = "success", exit_code: int | None = None) -> Monitor | None:
    """Record a ping; None when no active heartbeat monitor has this key."""
    with transaction.atomic():
        monitor = (Monitor.objects.select_for_update(of=("self",)).select_related("service")
                   .filter(ping_key=key, kind=MonitorKind.HEARTBEAT).first())
        if monitor is None:
            return None
        now = timezone.now()
        if exit_code is not None:
            kind = "success" if exit_code == 0 else "fail"
        if kind == "start":
            monitor.run_started_at = now
            monitor.deadline_at = now + timedelta(seconds=monitor.grace_seconds)
            monitor.save(update_fields=["run_started_at", "deadline_at"])
            return monitor
        monitor.last_ping_at = now
        if kind == "success":
            _succeed(monitor, now)
        else:
            message = f"the job reported failure (exit code {exit_code})" \
                if exit_code is not None else "the job reported failure"
            monitor.run_started_at = None
            _record(monitor, MonitorState.DOWN, None, message, now)
            set_state(monitor, MonitorState.DOWN, message, now)
        monitor.save()
    return monitor


def _succeed(monitor: Monitor, now) -> None:
    run_ms = None
    if monitor.run_started_at is not None:
        monitor.last_run_seconds = (now - monitor.run_started_at).total_seconds()
        monitor.run_started_at = None
        run_ms = monitor.last_run_seconds * 1000
    monitor.deadline_at = now + timedelta(seconds=monitor.interval_seconds
                                          + monitor.grace_seconds)
    _record(monitor, MonitorState.UP, run_ms, "", now)
    anomaly = _run_time_deviation(monitor, now) if run_ms is not None else None
    monitor.anomaly = {} if anomaly is None else {
        "message": anomaly.message, "factor": anomaly.factor, "observed_ms": anomaly.observed,
        "baseline": anomaly.baseline.as_dict()}
    if anomaly is not None:
        monitor.baseline = anomaly.baseline.as_dict()
        set_state(monitor, MonitorState.DEGRADED, anomaly.message, now)
    else:
        set_state(monitor, MonitorState.UP, "pinged on time", now)


def _record(monitor: Monitor, state: str, run_ms: float | None, message: str, now) -> None:
    """Pings are results too: for availability, and run times for their baseline."""
    CheckRecord.objects.create(monitor=monitor, location=LOCATION, checked_at=now,
                               state=state, latency_ms=run_ms, message=message[:255])


def _run_time_deviation(monitor: Monitor, now) -> baselines.Deviation | None:
    """The last runs against the baseline of the runs before them (the same method
    as latency: k of the last m runs, over at least five minutes)."""
    if not monitor.anomaly_detection:
        return None
    try:
        params = baselines.Params(k=monitor.anomaly_k, m=monitor.anomaly_m)
    except ValueError:
        params = baselines.DEFAULTS
    since = now - timedelta(days=params.lookback_days)
    rows = list(CheckRecord.objects.filter(
        monitor=monitor, location=LOCATION, latency_ms__isnull=False, checked_at__gte=since)
        .order_by("-checked_at").values_list("checked_at", "latency_ms")[:HISTORY_LIMIT])
    rows.reverse()
    times = [at.timestamp() for at, value in rows if value is not None]
    values = [value for _, value in rows if value is not None]
    span = max(params.min_window_seconds, params.m * monitor.interval_seconds) \
        + monitor.interval_seconds
    recent = sum(1 for t in times if t >= now.timestamp() - span)
    window = max(recent, params.m)
    baseline = baselines.compute_baseline(times[:-window], values[:-window], now.timestamp(),
                                          params)
    return baselines.deviation(times[-window:], values[-window:], baseline,
                               monitor.interval_seconds, params, metric="run time")


def check_deadlines(limit: int = 500) -> int:
    """Mark late heartbeats down (one worker turn); the number marked."""
    now = timezone.now()
    marked = 0
    with transaction.atomic():
        late = (Monitor.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("service")
                .filter(kind=MonitorKind.HEARTBEAT, paused=False, deadline_at__lte=now)
                .exclude(state=MonitorState.DOWN)[:limit])
        for monitor in late:
            since = monitor.last_ping_at.isoformat(timespec="seconds") \
                if monitor.last_ping_at else "never"
            started = " (a run started and did not finish)" if monitor.run_started_at else ""
            message = f"no ping in time; last ping: {since}{started}"
            _record(monitor, MonitorState.DOWN, None, message, now)
            set_state(monitor, MonitorState.DOWN, message, now)
            monitor.save()
            marked += 1
    return marked
