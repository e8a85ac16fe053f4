"""Is every part of Atalaia alive? For /healthz, the console's banner and the watchdog.

The worker and the prober report themselves in ProcessBeat every
HEARTBEAT_SECONDS; one that has not reported for HEARTBEAT_STALE_SECONDS is down.
The watchdog (a worker step) pings ATALAIA_WATCHDOG_URL, a Healthchecks-style
URL, only while every part is alive: when Atalaia itself fails (its worker, its
prober, its database, the machine), the pings stop and the service outside
raises the alarm that Atalaia can no longer raise.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import connection
from django.utils import timezone

from atalaia.lib import outbound
from atalaia.monitoring.models import ProcessBeat
from atalaia.web.models import JobState

log = logging.getLogger("atalaia.watchdog")
PARTS = ("worker", "prober")


@dataclass(frozen=True)
class Health:
    database: bool
    alive: frozenset[str]  # parts that reported lately
    last_seen: dict[str, datetime | None]
    # The worker's jobs whose last run failed (atalaia/lib/jobs.py), by name.
    failing: tuple[JobState, ...] = ()

    @property
    def ok(self) -> bool:
        return self.database and set(PARTS) <= self.alive and not self.failing

    @property
    def down(self) -> list[str]:
        return [part for part in PARTS if part not in self.alive]


def health(now: datetime | None = None) -> Health:
    now = now or timezone.now()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means the database is not usable
        return Health(False, frozenset(), {part: None for part in PARTS})
    fresh = now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    last_seen: dict[str, datetime | None] = {part: None for part in PARTS}
    alive = set()
    for kind, seen_at, stopped_at in ProcessBeat.objects.filter(kind__in=PARTS).values_list(
            "kind", "seen_at", "stopped_at"):
        if stopped_at is None and seen_at >= fresh:
            alive.add(kind)
        previous = last_seen[kind]
        if previous is None or seen_at > previous:
            last_seen[kind] = seen_at
    failing = tuple(JobState.objects.filter(failing__gt=0).order_by("name"))
    return Health(True, frozenset(alive), last_seen, failing)


def beat(name: str, kind: str, stopped: bool = False) -> None:
    """A process reports itself alive (or stopped): the heartbeat lib/loop.py calls."""
    ProcessBeat.report(name, kind, timezone.now(), stopped)


_next_ping = 0.0


def watchdog_step(clock=time.monotonic) -> bool:
    """Ping the watchdog URL when it is due and every part is alive; True when pinged."""
    global _next_ping
    if not settings.WATCHDOG_URL or clock() < _next_ping:
        return False
    _next_ping = clock() + settings.WATCHDOG_SECONDS
    state = health()
    if not state.ok:
        log.warning("watchdog: not pinging, down: %s", ", ".join(
            [*state.down, *(f"job {job.name}" for job in state.failing)])
            if state.database else "database")
        return False
    try:
        # No redirects, nothing sent but the request itself, one total deadline (a slow
        # watchdog service must not hold the worker); the operator chose the URL.
        reply = outbound.request("GET", settings.WATCHDOG_URL, guard=False,
                                 headers={"User-Agent": "Atalaia-watchdog/1"})
    except httpx.HTTPError as exc:
        log.warning("watchdog: the ping failed: %s", exc)
        return False
    if not 200 <= reply.status_code < 300:
        log.warning("watchdog: the ping failed: the service answered %s", reply.status_code)
        return False
    return True
