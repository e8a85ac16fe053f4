"""A monitor's state changes: history, flapping, maintenance, and the signals they raise.

Only changes create signals. Down is a signal of the monitor's own severity
(dedup key `monitor-<id>`) that clears when the monitor leaves down; degraded
(slow, or off its latency baseline) is a warning (`monitor-<id>-degraded`).
A monitor that changes state FLAP_CHANGES times within FLAP_WINDOW_MINUTES is
*flapping*: it raises one warning and no further signals until it has held one
state for half the window; then the signal of the state it settled in follows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from atalaia.intake.actions import record_events
from atalaia.intake.formats.common import Event
from atalaia.monitoring import confirm
from atalaia.monitoring.maintenance import active_window
from atalaia.monitoring.models import Monitor, MonitorState, ProbeState, StateChange

DOWN, DEGRADED = MonitorState.DOWN, MonitorState.DEGRADED


def set_state(monitor: Monitor, state: str, message: str, now: datetime) -> bool:
    """Move the monitor (locked by the caller, saved by the caller) to `state`;
    True when that was a change."""
    previous = monitor.state
    monitor.message = message[:1024]
    if state == previous or monitor.paused:
        return False
    monitor.state, monitor.state_since = state, now
    StateChange.objects.create(monitor=monitor, at=now, previous=previous, state=state,
                               message=monitor.message)
    if monitor.flapping:
        return True
    # Leaving unknown (a new monitor's first answer) is no flapping and no news.
    if previous != MonitorState.UNKNOWN and \
            _changes_within_window(monitor, now) >= settings.FLAP_CHANGES:
        monitor.flapping = True
        _emit(monitor, "trigger", "flapping", "warning", now,
              f"{monitor.service.name}: {monitor.name} is flapping — "
              f"{settings.FLAP_CHANGES} state changes within "
              f"{_minutes(settings.FLAP_WINDOW_MINUTES)}; its signals pause until it settles")
        return True
    _signal_change(monitor, previous, state, now)
    return True


def _changes_within_window(monitor: Monitor, now: datetime) -> int:
    since = now - timedelta(minutes=settings.FLAP_WINDOW_MINUTES)
    return StateChange.objects.filter(monitor=monitor, at__gt=since).count()


def _signal_change(monitor: Monitor, previous: str, state: str, now: datetime) -> None:
    summary = f"{monitor.service.name}: {monitor.name} is {state} — {monitor.message}"
    if previous == DEGRADED:
        _emit(monitor, "resolve", "degraded", "warning", now, summary)
    if previous == DOWN:
        _emit(monitor, "resolve", "", monitor.severity, now, summary)
    if state == DOWN:
        _emit(monitor, "trigger", "", monitor.severity, now, summary)
    elif state == DEGRADED:
        _emit(monitor, "trigger", "degraded", "warning", now, summary)


def _emit(monitor: Monitor, action: str, suffix: str, severity: str, now: datetime,
          summary: str) -> None:
    key = f"{monitor.dedup_key}-{suffix}" if suffix else monitor.dedup_key
    window = active_window(monitor.service_id, now) if action == "trigger" else None
    details = {"monitor": monitor.pk, "kind": monitor.kind, "state": monitor.state}
    if window is not None:
        details["maintenance"] = window.title
    if monitor.anomaly and suffix == "degraded":
        details["anomaly"] = monitor.anomaly
    record_events(None, "monitor", [Event(
        action=action, dedup_key=key, severity=severity, summary=summary[:1024],
        service_hint=monitor.service.slug, details=details)],
        in_maintenance=window is not None)


def settle_flapping(now: datetime | None = None) -> int:
    """End flapping for monitors that held one state for half the window (a worker
    step); the number settled."""
    now = now or timezone.now()
    quiet_since = now - timedelta(minutes=settings.FLAP_WINDOW_MINUTES / 2)
    settled = 0
    for monitor_id in Monitor.objects.filter(flapping=True, state_since__lte=quiet_since) \
            .values_list("pk", flat=True):
        with transaction.atomic():
            monitor = Monitor.objects.select_for_update(of=("self",)) \
                .select_related("service").get(pk=monitor_id)
            if not monitor.flapping:
                continue
            monitor.flapping = False
            monitor.save(update_fields=["flapping"])
            summary = f"{monitor.service.name}: {monitor.name} settled {monitor.state} — " \
                      f"{monitor.message}"
            _emit(monitor, "resolve", "flapping", "warning", now, summary)
            # Of the signals the flapping held back, only the state it settled in
            # counts (resolving a signal that is not open does nothing).
            _emit(monitor, "trigger" if monitor.state == DOWN else "resolve", "",
                  monitor.severity, now, summary)
            _emit(monitor, "trigger" if monitor.state == DEGRADED else "resolve", "degraded",
                  "warning", now, summary)
        settled += 1
    return settled


def resolve_votes(monitor_ids: list[int] | int, now: datetime) -> int:
    """Recompute monitors' states from their locations' votes (after votes changed),
    in one transaction; the number whose state changed."""
    ids = [monitor_ids] if isinstance(monitor_ids, int) else list(monitor_ids)
    changed = 0
    with transaction.atomic():
        monitors = list(Monitor.objects.select_for_update(of=("self",))
                        .select_related("service").filter(pk__in=ids, paused=False))
        votes = fresh_votes(monitors, now)
        for monitor in monitors:
            verdict = confirm.quorum(votes.get(monitor.pk, {}), monitor.locations_required)
            if verdict is None:
                continue
            if set_state(monitor, verdict.state, verdict.message, now):
                changed += 1
            monitor.save(update_fields=["state", "state_since", "message", "flapping"])
    return changed


def fresh_votes(monitors: list[Monitor], now: datetime) -> dict[int, dict[str, tuple[str, str]]]:
    """Each monitor's votes by the locations that checked it lately: a location whose
    prober stopped stops counting after three intervals (or lease periods)."""
    oldest = {m.pk: now - timedelta(seconds=max(3 * m.interval_seconds,
                                                3 * settings.PROBER_LEASE_SECONDS))
              for m in monitors}
    since = min(oldest.values(), default=now)
    votes: dict[int, dict[str, tuple[str, str]]] = {}
    for probe in ProbeState.objects.filter(monitor_id__in=list(oldest), checked_at__gte=since):
        if probe.checked_at is not None and probe.checked_at >= oldest[probe.monitor_id]:
            votes.setdefault(probe.monitor_id, {})[probe.location] = (probe.state, probe.message)
    return votes


def _minutes(value: float) -> str:
    return f"{value:g} minutes"
