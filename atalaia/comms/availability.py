"""The status page's 90-day availability bars, one per component.

A component with monitors takes each day from the monitors' daily roll-ups: the
share of checks that were not down (degraded counts as up), over all its
monitors. A component without monitors takes it from its public state history:
a day's availability is 1 − (major outage time + 0.3 × partial outage time) / the
day, and degraded performance and maintenance do not count against it (as on
Statuspage). A day with no roll-up (before monitoring began) has no data; a
component without monitors is operational wherever no state says otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Sum
from django.utils import timezone

from atalaia.catalog.models import Service
from atalaia.comms.models import ComponentState, ComponentStatus
from atalaia.monitoring.models import Monitor, Rollup

DAYS = 90
WEIGHTS = {ComponentStatus.MAJOR: 1.0, ComponentStatus.PARTIAL: 0.3}


@dataclass(frozen=True)
class Day:
    day: date
    availability: float | None  # 0..1, None: no data

    @property
    def level(self) -> str:
        """The bar's colour class."""
        a = self.availability
        if a is None:
            return "nodata"
        return "ok" if a >= 0.999 else "minor" if a >= 0.99 else "partial" if a >= 0.95 \
            else "major"


@dataclass
class Bars:
    days: list[Day]

    @property
    def overall(self) -> float | None:
        known = [d.availability for d in self.days if d.availability is not None]
        return sum(known) / len(known) if known else None


def bars(services: list[Service], now: datetime | None = None, days: int = DAYS
         ) -> dict[int, Bars]:
    """{service id: its bars for the last `days` UTC days, oldest first}."""
    now = now or timezone.now()
    first = (now.astimezone(UTC) - timedelta(days=days - 1)).date()
    calendar = [first + timedelta(days=n) for n in range(days)]
    monitored = set(Monitor.objects.filter(service__in=services).values_list("service_id",
                                                                              flat=True))
    from_rollups = _from_rollups([s for s in services if s.pk in monitored], first)
    from_states = _from_states([s for s in services if s.pk not in monitored], first, now)
    result = {}
    for service in services:
        source = from_rollups if service.pk in monitored else from_states
        per_day = source.get(service.pk, {})
        default = None if service.pk in monitored else 1.0
        result[service.pk] = Bars([Day(d, per_day.get(d, default)) for d in calendar])
    return result


def _from_rollups(services: list[Service], first: date) -> dict[int, dict[date, float]]:
    rows = (Rollup.objects.filter(period=Rollup.DAY, monitor__service__in=services,
                                  starts_at__gte=datetime.combine(first, datetime.min.time(),
                                                                  UTC))
            .values("monitor__service_id", "starts_at")
            .annotate(checks=Sum("checks"), up=Sum("up"), degraded=Sum("degraded")))
    result: dict[int, dict[date, float]] = defaultdict(dict)
    for row in rows:
        if row["checks"]:
            result[row["monitor__service_id"]][row["starts_at"].astimezone(UTC).date()] = (
                (row["up"] + row["degraded"]) / row["checks"])
    return result


def _from_states(services: list[Service], first: date, now: datetime
                 ) -> dict[int, dict[date, float]]:
    start = datetime.combine(first, datetime.min.time(), UTC)
    lost: dict[int, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    states = ComponentState.objects.filter(
        service__in=services, status__in=list(WEIGHTS)).exclude(ended_at__lt=start)
    for state in states:
        _spread(lost[state.service_id], max(state.started_at, start), state.ended_at or now,
                WEIGHTS[ComponentStatus(state.status)])
    return {service: {day: max(0.0, 1 - seconds / 86_400) for day, seconds in days.items()}
            for service, days in lost.items()}


def _spread(days: dict[date, float], begin: datetime, end: datetime, weight: float) -> None:
    """Add the weighted seconds of [begin, end) to each UTC day they fall on."""
    cursor = begin.astimezone(UTC)
    end = end.astimezone(UTC)
    while cursor < end:
        midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), UTC)
        upto = min(end, midnight)
        days[cursor.date()] += weight * (upto - cursor).total_seconds()
        cursor = upto
