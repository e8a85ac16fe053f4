"""How long each part of a crisis took, against the plan's targets (docs/review.md).

Each timing is the time between two facts of the incident: a signal first seen, a page
created or acknowledged, an update published, a public status entry, a fix run, a phase
window. `facts()` reads them for any number of incidents in a fixed number of queries, so
the review page and the aggregates over months of incidents cost the same few queries.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from django.db.models import Max, Min, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from atalaia.comms.models import Update
from atalaia.incidents.models import EntryKind, Incident, Phase, PhaseWindow, TimelineEntry
from atalaia.intake.models import Signal
from atalaia.oncall.models import Page
from atalaia.remote.models import Run

# name: (label, the plan's phase target it is compared with, or None)
MILESTONES: dict[str, tuple[Promise, str | None]] = {
    "detect": (_("Time to detect"), None),
    "acknowledge": (_("Time to acknowledge"), None),
    "first_update": (_("Time to first public update"), Phase.COMMUNICATION),
    "mitigate": (_("Time to mitigate"), Phase.RESPONSE),
    "resolve": (_("Time to resolve"), Phase.RESOLUTION),
}
PHASE_LABELS: dict[str, Promise] = {
    Phase.ASSESSMENT: _("Detection and assessment phase"),
    Phase.RESPONSE: _("Immediate response phase"),
    Phase.COMMUNICATION: _("Communication phase"),
    Phase.RESOLUTION: _("Resolution phase"),
    Phase.REVIEW: _("Review phase"),
}
NAMES = [*MILESTONES, *(f"phase_{p}" for p in PHASE_LABELS)]
GROUPINGS = ("level", "service", "plan_version", "month")
Grouping = Literal["level", "service", "plan_version", "month"]


@dataclass
class Timing:
    name: str
    label: Promise
    seconds: float | None
    target_seconds: float | None
    start: datetime | None
    end: datetime | None

    @property
    def gap(self) -> float | None:
        """Seconds over the target (negative: under it); None without both figures."""
        if self.seconds is None or self.target_seconds is None:
            return None
        return self.seconds - self.target_seconds

    @property
    def over(self) -> bool:
        return (self.gap or 0) > 0


@dataclass
class Facts:
    """What one incident's timings are computed from."""

    declared_at: datetime
    first_signal: datetime | None = None
    first_page: datetime | None = None
    first_ack: datetime | None = None
    first_update: datetime | None = None
    first_monitoring: datetime | None = None
    last_resolved: datetime | None = None
    first_fix: datetime | None = None
    windows: dict[str, tuple[datetime, datetime | None]] = field(default_factory=dict)


def facts(incidents: QuerySet[Incident]) -> dict[int, Facts]:
    """The facts of every incident of the queryset: seven queries, whatever their number.
    The queryset is used as a subquery, so no list of ids is ever sent."""
    ids = incidents.values("pk")
    found = {pk: Facts(declared_at=at)
             for pk, at in incidents.order_by().values_list("pk", "declared_at")}

    def per_incident(model, column: str, **where):
        return (model.objects.filter(incident__in=ids, **where).order_by()
                .values("incident_id").annotate(first=Min(column)).values_list(
                    "incident_id", "first"))

    for attr, rows in (
            ("first_signal", per_incident(Signal, "first_seen_at")),
            ("first_update", per_incident(Update, "published_at")),
            ("first_fix", per_incident(Run, "finished_at", is_fix=True))):
        for pk, at in rows:
            setattr(found[pk], attr, at)
    pages = (Page.objects.filter(incident__in=ids).order_by().values("incident_id")
             .annotate(created=Min("created_at"), acked=Min("acknowledged_at"))
             .values_list("incident_id", "created", "acked"))
    for pk, created, acked in pages:
        found[pk].first_page, found[pk].first_ack = created, acked
    _status_facts(ids, found)
    for pk, phase, started, ended in PhaseWindow.objects.filter(incident__in=ids).values_list(
            "incident_id", "phase", "started_at", "ended_at"):
        found[pk].windows[phase] = (started, ended)
    return found


def _status_facts(ids, found: dict[int, Facts]) -> None:
    # The first "monitoring" is when users were first told the fix was in; the last
    # "resolved" is the one that held (an earlier one was followed by a reopening).
    rows = (TimelineEntry.objects.filter(incident__in=ids, kind=EntryKind.STATUS,
                                         body__to__in=["monitoring", "resolved"])
            .order_by().values("incident_id", "body__to")
            .annotate(first=Min("created_at"), last=Max("created_at"))
            .values_list("incident_id", "body__to", "first", "last"))
    for pk, to, first, last in rows:
        if to == "monitoring":
            found[pk].first_monitoring = first
        else:
            found[pk].last_resolved = last


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def compute(f: Facts, targets: dict[str, int] | None) -> list[Timing]:
    """Every timing of one incident, in the order of docs/review.md."""
    targets = targets or {}
    spans = {
        "detect": (f.first_signal, f.declared_at),
        "acknowledge": (f.first_page, f.first_ack),
        "first_update": (f.declared_at, f.first_update),
        "mitigate": (f.declared_at, _earliest(f.first_monitoring, f.first_fix)),
        "resolve": (f.declared_at, f.last_resolved),
    }
    timings = []
    for name, (label, target_phase) in MILESTONES.items():
        start, end = spans[name]
        target = targets.get(target_phase) if target_phase else None
        timings.append(Timing(name, label, _between(start, end),
                              target * 60.0 if target else None, start, end))
    for phase, label in PHASE_LABELS.items():
        start, end = f.windows.get(phase, (None, None))
        target = targets.get(phase)
        timings.append(Timing(f"phase_{phase}", label, _between(start, end),
                              target * 60.0 if target else None, start, end))
    return timings


def plan_targets(incident: Incident) -> dict[str, int]:
    """Minutes per phase for the incident's level, in the plan it was declared under."""
    if incident.plan_version is None:
        return {}
    levels = incident.plan_version.plan.get("levels", {})
    return dict(levels.get(incident.level, {}).get("targets", {}))


def for_incident(incident: Incident) -> list[Timing]:
    found = facts(Incident.objects.filter(pk=incident.pk))
    return compute(found[incident.pk], plan_targets(incident))


# -- aggregates ---------------------------------------------------------------------------

def _summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "mean": None, "median": None, "p90": None}
    ordered = sorted(values)
    # Nearest rank: the p90 is a duration that some incident really took.
    p90 = ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]
    return {"count": len(ordered), "mean": statistics.fmean(ordered),
            "median": statistics.median(ordered), "p90": p90}


def _keys(incident: Incident, by: str, services: dict[int, list[str]]) -> Iterable[str]:
    if by == "level":
        return [incident.level]
    if by == "service":
        return services.get(incident.pk, [])
    if by == "plan_version":
        return [str(incident.plan_version.number) if incident.plan_version else "none"]
    return [timezone.localtime(incident.declared_at).strftime("%Y-%m")]


def aggregate(incidents: QuerySet[Incident], by: Grouping) -> dict[str, dict[str, dict]]:
    """{key: {timing name: {count, mean, median, p90}}} in seconds. An incident counts
    once per key (under each of its services when grouped by service); timings not yet
    known (an open phase, an incident not resolved) are left out of the figures."""
    if by not in GROUPINGS:
        raise ValueError(f"group by one of {', '.join(GROUPINGS)}")
    rows = list(incidents.select_related("plan_version").only(
        "pk", "level", "declared_at", "plan_version__number").order_by("declared_at", "pk"))
    found = facts(incidents)
    services: dict[int, list[str]] = defaultdict(list)
    if by == "service":
        through = Incident.services.through.objects.filter(incident__in=incidents.values("pk"))
        for pk, slug in through.values_list("incident_id", "service__slug"):
            services[pk].append(slug)
    values: dict[str, dict[str, list[float]]] = {}
    for incident in rows:
        buckets = [values.setdefault(key, defaultdict(list))
                   for key in _keys(incident, by, services)]
        for timing in compute(found[incident.pk], None):
            if timing.seconds is not None:
                for bucket in buckets:
                    bucket[timing.name].append(timing.seconds)
    return {key: {name: _summary(per_name.get(name, [])) for name in NAMES}
            for key, per_name in sorted(values.items())}
