"""What the public sees, read once for every public rendering (the status page, the
tracking pages, the Statuspage JSON, the feeds, the banner, the static export).

An incident is public once a communicator has published an update about it: the
public story is its updates, nothing else. Components are the services marked as
components in the catalog; their state is the current ComponentState row
(operational when there is none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Prefetch
from django.utils import timezone

from atalaia.catalog.models import Service
from atalaia.comms.models import (
    ComponentState,
    ComponentStatus,
    Maintenance,
    MaintenanceStatus,
    StatusVersion,
    Update,
)
from atalaia.incidents.models import Incident, PublicStatus

# Worst first: a group, and the page, show the worst state among theirs.
SEVERITY = [ComponentStatus.MAJOR, ComponentStatus.PARTIAL, ComponentStatus.DEGRADED,
            ComponentStatus.MAINTENANCE, ComponentStatus.OPERATIONAL]
# Statuspage's incident impact from our level.
IMPACT = {"critical": "critical", "large_scale": "major", "localized": "minor"}
INDICATORS = ("none", "minor", "major", "critical")


@dataclass
class Component:
    service: Service
    status: str
    since: datetime | None


@dataclass
class Group:
    name: str
    components: list[Component] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst(c.status for c in self.components)


def worst(statuses) -> str:
    found = set(statuses)
    return next((s for s in SEVERITY if s in found), ComponentStatus.OPERATIONAL)


def components() -> list[Component]:
    """Every component with its current public state, by group then name."""
    current = {s.service_id: s for s in ComponentState.objects.filter(ended_at__isnull=True)}
    result = []
    for service in Service.objects.filter(is_component=True).order_by("component_group",
                                                                      "name"):
        state = current.get(service.pk)
        result.append(Component(service, state.status if state else ComponentStatus.OPERATIONAL,
                                state.started_at if state else None))
    return result


def groups(items: list[Component] | None = None) -> list[Group]:
    """Components in their groups; components without a group each stand alone
    (a group named "")."""
    grouped: dict[str, Group] = {}
    loose = []
    for item in items if items is not None else components():
        name = item.service.component_group
        if name:
            grouped.setdefault(name, Group(name)).components.append(item)
        else:
            loose.append(Group("", [item]))
    return [*grouped.values(), *loose]


def published():
    """The incidents the public may see: not confidential, with a published update."""
    return Incident.objects.filter(updates__isnull=False, confidential=False).distinct()


def incidents(resolved: bool | None = None, limit: int | None = None):
    """Public incidents (those with an update), newest first, with their updates
    (newest first) and affected services."""
    found = (published().select_related("review")
             .prefetch_related(Prefetch("updates", queryset=Update.objects.order_by(
                 "-published_at", "-pk")), "services")
             .order_by("-declared_at", "-pk"))
    if resolved is True:
        found = found.filter(public_status=PublicStatus.RESOLVED)
    elif resolved is False:
        found = found.exclude(public_status=PublicStatus.RESOLVED)
    return list(found[:limit] if limit else found)


def public_status(incident: Incident) -> str:
    """The status the public was last told (the newest update's), or *postmortem* once
    the review's post-mortem is published (Statuspage's word)."""
    updates = list(incident.updates.all())
    status = updates[0].status if updates else incident.public_status
    try:
        published = incident.review.published_at is not None  # type: ignore[attr-defined]
    except ObjectDoesNotExist:
        published = False
    return "postmortem" if status == PublicStatus.RESOLVED and published else status


def impact(incident: Incident) -> str:
    return IMPACT.get(incident.level, "minor")


def maintenances(active: bool | None = None, upcoming: bool | None = None):
    found = Maintenance.objects.prefetch_related("components").order_by("scheduled_for", "pk")
    if active:
        found = found.filter(status__in=[MaintenanceStatus.IN_PROGRESS,
                                         MaintenanceStatus.VERIFYING])
    if upcoming:
        found = found.filter(status=MaintenanceStatus.SCHEDULED)
    return list(found)


def recent_maintenances(limit: int) -> list[Maintenance]:
    """The `limit` latest maintenances by start, latest first."""
    return list(Maintenance.objects.prefetch_related("components")
                .order_by("-scheduled_for", "-pk")[:limit])


def recent_updates(limit: int) -> list[Update]:
    """The `limit` newest updates of every public incident, newest first."""
    return list(Update.objects.select_related("incident").order_by("-published_at", "-pk")
                [:limit])


def changed_at() -> datetime:
    """When the public last saw a change (now, before anything was ever published)."""
    found = StatusVersion.objects.filter(pk=1).values_list("changed_at", flat=True).first()
    return found or timezone.now()


def indicator(open_incidents: list[Incident], items: list[Component]) -> str:
    """The page's indicator (docs/status-page.md): the worst of the open incidents'
    impacts and of the component states, where a major outage counts as major, a
    partial outage or degraded performance as minor, and maintenance as nothing."""
    rank = 0
    for incident in open_incidents:
        rank = max(rank, INDICATORS.index(impact(incident)))
    for item in items:
        if item.status == ComponentStatus.MAJOR:
            rank = max(rank, 2)
        elif item.status in (ComponentStatus.PARTIAL, ComponentStatus.DEGRADED):
            rank = max(rank, 1)
    return INDICATORS[rank]


def describe(indicator_value: str) -> str:
    """Statuspage's status description for an indicator (English, as in their API)."""
    return {"none": "All Systems Operational", "minor": "Minor Service Outage",
            "major": "Partial System Outage", "critical": "Major System Outage"}[indicator_value]
