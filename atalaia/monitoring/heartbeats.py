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

from atalaia.monitoring.models import Monitor, MonitorKind, MonitorState
from atalaia.monitoring.transitions import set_state


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
            set_state(monitor, MonitorState.DOWN, message, now)
        monitor.save()
    return monitor


def _succeed(monitor: Monitor, now) -> None:
    if monitor.run_started_at is not None:
        monitor.last_run_seconds = (now - monitor.run_started_at).total_seconds()
        monitor.run_started_at = None
    monitor.deadline_at = now + timedelta(seconds=monitor.interval_seconds
                                          + monitor.grace_seconds)
    set_state(monitor, MonitorState.UP, "pinged on time", now)


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
            set_state(monitor, MonitorState.DOWN, f"no ping in time; last ping: {since}{started}",
                    now)
            monitor.save()
            marked += 1
    return marked
