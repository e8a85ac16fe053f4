"""Which prober checks which monitor: one lease per (monitor, location).

Every renewal round a prober reports itself alive, renews the leases it holds,
and evens the work out among the live probers of its location: it lets go of
leases beyond its fair share and claims free or expired ones up to it. A second
prober started in a location therefore takes half the monitors within a round
or two; a prober that dies stops renewing, and once its leases and its report
are older than one lease period the others claim its monitors. A prober that
stops cleanly lets go at once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from atalaia.monitoring.models import Monitor, MonitorKind, ProbeState, ProcessBeat

# What a prober needs of each monitor it holds.
FIELDS = ("monitor_id", "state", "failures", "successes", "monitor__kind", "monitor__config",
          "monitor__interval_seconds", "monitor__retry_interval_seconds",
          "monitor__timeout_seconds", "monitor__failures_to_down", "monitor__successes_to_up",
          "monitor__anomaly_detection", "monitor__anomaly_k", "monitor__anomaly_m")


def prober_name(location: str, holder: str) -> str:
    return f"prober[{location}]@{holder}"


def renew(location: str, holder: str, now: datetime, lease_seconds: float) -> list[dict]:
    """One renewal round; the monitors this prober now holds (FIELDS, without the
    `monitor__` prefix), paused monitors left out."""
    _add_missing_probes(location)
    until = now + timedelta(seconds=lease_seconds)
    with transaction.atomic():
        _report_alive(location, holder, now)
        share = _fair_share(location, now, lease_seconds)
        mine = ProbeState.objects.filter(location=location, holder=holder)
        held = mine.update(lease_until=until)
        if held > share:
            extra = list(mine.order_by("-pk").values_list("pk", flat=True)[:held - share])
            ProbeState.objects.filter(pk__in=extra).update(holder="", lease_until=None)
        elif held < share:
            _claim(location, holder, now, until, share - held)
    rows = (ProbeState.objects.filter(location=location, holder=holder, monitor__paused=False)
            .exclude(monitor__kind=MonitorKind.HEARTBEAT).values(*FIELDS))
    return [{key.removeprefix("monitor__"): value for key, value in row.items()} for row in rows]


def release(location: str, holder: str, now: datetime) -> int:
    """Let go of every lease (a clean stop), so another prober takes over at once."""
    with transaction.atomic():
        ProcessBeat.objects.filter(name=prober_name(location, holder)).update(
            seen_at=now, stopped_at=now)
        return ProbeState.objects.filter(location=location, holder=holder).update(
            holder="", lease_until=None)


def _add_missing_probes(location: str) -> None:
    missing = (Monitor.objects.exclude(kind=MonitorKind.HEARTBEAT)
               .exclude(probes__location=location).values_list("pk", flat=True))
    ProbeState.objects.bulk_create(
        [ProbeState(monitor_id=pk, location=location) for pk in missing],
        ignore_conflicts=True, batch_size=2000)


def _report_alive(location: str, holder: str, now: datetime) -> None:
    ProcessBeat.report(prober_name(location, holder), "prober", now)


def _fair_share(location: str, now: datetime, lease_seconds: float) -> int:
    alive = ProcessBeat.objects.filter(
        kind="prober", name__startswith=prober_name(location, ""), stopped_at__isnull=True,
        seen_at__gte=now - timedelta(seconds=lease_seconds)).count()
    total = ProbeState.objects.filter(location=location).count()
    return math.ceil(total / max(alive, 1))


def _claim(location: str, holder: str, now: datetime, until: datetime, wanted: int) -> None:
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    ids = list(ProbeState.objects.select_for_update(skip_locked=True)
               .filter(free, location=location).order_by("pk")
               .values_list("pk", flat=True)[:wanted])
    # The condition again in the update: on SQLite, where nothing is locked
    # ahead, a row another prober claimed meanwhile is left alone.
    ProbeState.objects.filter(free, pk__in=ids).update(holder=holder, lease_until=until)
