"""Heartbeat monitors: pings from cron jobs and batch work, and the deadlines they keep.

A success sets the next deadline to now + interval + grace; /start begins a run
that must succeed within the grace; /fail (or a non-zero exit code) is down at
once. The worker marks a monitor down when its deadline passes. Every state
change is a signal (source "monitor"), so it groups into incidents like any other.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from atalaia.intake.actions import record_events
from atalaia.intake.formats.common import Event
from atalaia.monitoring.models import Monitor, MonitorKind, MonitorState


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
            _change(monitor, MonitorState.DOWN, message, now)
        monitor.save()
    return monitor


def _succeed(monitor: Monitor, now) -> None:
    if monitor.run_started_at is not None:
        monitor.last_run_seconds = (now - monitor.run_started_at).total_seconds()
        monitor.run_started_at = None
    monitor.deadline_at = now + timedelta(seconds=monitor.interval_seconds
                                          + monitor.grace_seconds)
    _change(monitor, MonitorState.UP, "pinged on time", now)


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
            _change(monitor, MonitorState.DOWN, f"no ping in time; last ping: {since}{started}",
                    now)
            monitor.save()
            marked += 1
    return marked


def _change(monitor: Monitor, state: str, message: str, now) -> None:
    """Set the state; a change to or from down is a signal that triggers or clears."""
    previous = monitor.state
    monitor.message = message
    if state == previous:
        return
    monitor.state, monitor.state_since = state, now
    if monitor.paused:
        return
    if state == MonitorState.DOWN or previous == MonitorState.DOWN:
        action = "trigger" if state == MonitorState.DOWN else "resolve"
        record_events(None, "monitor", [Event(
            action=action, dedup_key=monitor.dedup_key, severity=monitor.severity,
            summary=f"{monitor.service.name}: {monitor.name} is {state} — {message}",
            service_hint=monitor.service.slug,
            details={"monitor": monitor.pk, "kind": monitor.kind, "state": state})])
