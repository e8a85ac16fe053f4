"""The Atlassian Statuspage public API v2 shape (docs/status-api.md): the same keys,
nesting and words, so that tools written for Statuspage pages read ours.

Ids: the page's is derived from SITE_URL, a component's is its service slug, a
group's is derived from its name ("group:" and twelve hex digits: never a slug),
an incident's is its number, a maintenance's "maintenance-<number>".
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Min

from atalaia.comms import public, render
from atalaia.comms.models import ComponentState, Maintenance, MaintenanceStatus, Update
from atalaia.incidents.models import Incident, PublicStatus

NEWEST = 50
# Statuspage writes these itself when a maintenance moves on; we do the same.
MAINTENANCE_TEXTS = {
    MaintenanceStatus.IN_PROGRESS: {
        "en": "Scheduled maintenance is currently in progress. We will provide updates "
              "as necessary.",
        "pt-BR": "A manutenção programada está em andamento. Daremos notícias quando "
                 "necessário."},
    MaintenanceStatus.VERIFYING: {
        "en": "Verification is currently underway for the maintenance items.",
        "pt-BR": "Estamos verificando o resultado da manutenção."},
    MaintenanceStatus.COMPLETED: {
        "en": "The scheduled maintenance has been completed.",
        "pt-BR": "A manutenção programada foi concluída."},
}


def language(value: str | None) -> str:
    """The texts' language: pt-BR for any Portuguese tag (pt, pt-br …), else en."""
    return "pt-BR" if render.is_pt(value or "") else "en"


def iso(moment: datetime | None) -> str | None:
    """As Statuspage writes times: milliseconds and the page's offset."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(settings.STATUS_TIME_ZONE)).isoformat(
        timespec="milliseconds")


def page_id() -> str:
    return hashlib.sha256(settings.SITE_URL.encode()).hexdigest()[:12]


def group_id(name: str) -> str:
    return "group:" + hashlib.sha256(name.encode()).hexdigest()[:12]


def status_url() -> str:
    return f"{settings.SITE_URL.rstrip('/')}/status/"


def page(changed: datetime) -> dict:
    return {"id": page_id(), "name": settings.STATUS_NAME, "url": status_url(),
            "time_zone": settings.STATUS_TIME_ZONE, "updated_at": iso(changed)}


# -- components -------------------------------------------------------------------------

def _component(item: public.Component, created: datetime, position: int,
               group: str | None) -> dict:
    return {"id": item.service.slug, "name": item.service.name, "status": item.status,
            "created_at": iso(created), "updated_at": iso(item.since or created),
            "position": position, "description": item.service.description or None,
            "showcase": True, "start_date": None, "group_id": group, "page_id": page_id(),
            "group": False, "only_show_if_degraded": False}


def _group(group: public.Group, created: datetime, updated: datetime, position: int,
           children: list[dict]) -> dict:
    return {"id": group_id(group.name), "name": group.name, "status": group.status,
            "created_at": iso(created), "updated_at": iso(updated), "position": position,
            "description": None, "showcase": False, "start_date": None, "group_id": None,
            "page_id": page_id(), "group": True, "only_show_if_degraded": False,
            "components": [c["id"] for c in children]}


def component_list(items: list[public.Component], changed: datetime) -> list[dict]:
    """Flat, as Statuspage lists them: each group followed by its components.
    Groups and loose components are numbered together; a group's own from 1.
    A component was created with its first public state (or, having none, is
    taken as new as the page)."""
    first = dict(ComponentState.objects.order_by().values_list("service_id")
                 .annotate(Min("started_at")))
    result = []
    for position, group in enumerate(public.groups(items), start=1):
        created = [first.get(item.service.pk) or item.since or changed
                   for item in group.components]
        gid = group_id(group.name) if group.name else None
        children = [_component(item, made, index if gid else position, gid)
                    for index, (item, made) in enumerate(zip(group.components, created,
                                                             strict=True), start=1)]
        if gid:
            updated = max(item.since or made for item, made in zip(group.components, created,
                                                                   strict=True))
            result.append(_group(group, min(created), updated, position, children))
        result.extend(children)
    return result


# -- incidents --------------------------------------------------------------------------

def _affected(updates: list[Update]) -> dict[int, list[dict] | None]:
    """Each update's component changes, with the status before it (as the update
    recorded it, else as the incident's previous updates left it)."""
    last: dict[str, str] = {}
    result: dict[int, list[dict] | None] = {}
    for update in reversed(updates):
        rows = []
        for change in update.components or []:
            code, new = change.get("service", ""), change.get("status", "")
            old = change.get("old_status") or last.get(code, "operational")
            rows.append({"code": code, "name": change.get("name", code),
                         "old_status": old, "new_status": new})
            last[code] = new
        result[update.pk] = rows or None
    return result


def _update(update: Update, lang: str, affected: list[dict] | None) -> dict:
    return {"id": str(update.pk), "status": update.status, "body": update.body(lang),
            "incident_id": str(update.incident_id), "created_at": iso(update.published_at),
            "updated_at": iso(update.corrected_at or update.published_at),
            "display_at": iso(update.published_at), "affected_components": affected,
            "deliver_notifications": True, "custom_tweet": None, "tweet_id": None}


def _resolved_at(updates: list[Update]) -> datetime | None:
    """When the last run of "resolved" updates (newest first) began."""
    moment = None
    for update in updates:
        if update.status != PublicStatus.RESOLVED:
            break
        moment = update.published_at
    return moment


def incident(item: Incident, lang: str, by_service: dict[int, dict]) -> dict:
    updates = list(item.updates.all())  # newest first, prefetched
    affected = _affected(updates)
    monitoring = [u.published_at for u in updates if u.status == PublicStatus.MONITORING]
    return {
        "id": str(item.pk), "name": item.title, "status": public.public_status(item),
        "created_at": iso(updates[-1].published_at if updates else item.declared_at),
        "updated_at": iso(max((u.corrected_at or u.published_at for u in updates),
                              default=item.declared_at)),
        "monitoring_at": iso(min(monitoring, default=None)),
        "resolved_at": iso(_resolved_at(updates)),
        "impact": public.impact(item), "shortlink": render.tracking_url(item),
        "started_at": iso(item.declared_at), "page_id": page_id(),
        "incident_updates": [_update(u, lang, affected[u.pk]) for u in updates],
        "components": [by_service[s.pk] for s in item.services.all() if s.pk in by_service],
    }


# -- scheduled maintenance --------------------------------------------------------------

def _maintenance_updates(item: Maintenance, lang: str) -> list[dict]:
    """Its life as Statuspage updates, newest first: announced, started, verifying,
    completed, each at the time it happened."""
    steps = [(MaintenanceStatus.SCHEDULED, item.created_at,
              item.body(lang) or item.title(lang))]
    if item.started_at:
        steps.append((MaintenanceStatus.IN_PROGRESS, item.started_at, ""))
    if item.status == MaintenanceStatus.VERIFYING:
        steps.append((MaintenanceStatus.VERIFYING, item.updated_at, ""))
    if item.completed_at:
        steps.append((MaintenanceStatus.COMPLETED, item.completed_at, ""))
    mid = f"maintenance-{item.pk}"
    return [{"id": f"{mid}-{status}", "status": str(status),
             "body": body or MAINTENANCE_TEXTS[status][lang], "incident_id": mid,
             "created_at": iso(at), "updated_at": iso(at), "display_at": iso(at),
             "affected_components": None, "deliver_notifications": True,
             "custom_tweet": None, "tweet_id": None}
            for status, at, body in reversed(steps)]


def maintenance(item: Maintenance, lang: str, by_service: dict[int, dict]) -> dict:
    return {
        "id": f"maintenance-{item.pk}", "name": item.title(lang), "status": item.status,
        "created_at": iso(item.created_at), "updated_at": iso(item.updated_at),
        "monitoring_at": None, "resolved_at": iso(item.completed_at), "impact": "maintenance",
        "shortlink": status_url(), "started_at": iso(item.started_at or item.scheduled_for),
        "page_id": page_id(), "incident_updates": _maintenance_updates(item, lang),
        "components": [by_service[s.pk] for s in item.components.all() if s.pk in by_service],
        "scheduled_for": iso(item.scheduled_for), "scheduled_until": iso(item.scheduled_until),
    }


# -- the payloads, one per route --------------------------------------------------------

class _Page:
    """What every payload shares: the page, and the components by service."""

    def __init__(self):
        self.changed = public.changed_at()
        self.items = public.components()
        self.listed = component_list(self.items, self.changed)
        by_slug = {c["id"]: c for c in self.listed if not c["group"]}
        self.by_service = {item.service.pk: by_slug[item.service.slug] for item in self.items}

    def page(self) -> dict:
        return page(self.changed)


def _status(open_incidents: list[Incident], items: list[public.Component]) -> dict:
    value = public.indicator(open_incidents, items)
    return {"indicator": value, "description": public.describe(value)}


def summary(lang: str = "en") -> dict:
    base = _Page()
    open_incidents = public.incidents(resolved=False)
    coming = public.maintenances(active=True) + public.maintenances(upcoming=True)
    return {"page": base.page(), "components": base.listed,
            "incidents": [incident(i, lang, base.by_service) for i in open_incidents],
            "scheduled_maintenances": [maintenance(m, lang, base.by_service) for m in coming],
            "status": _status(open_incidents, base.items)}


def status(lang: str = "en") -> dict:
    changed = public.changed_at()
    return {"page": page(changed), "status": _status(public.incidents(resolved=False),
                                                     public.components())}


def components(lang: str = "en") -> dict:
    base = _Page()
    return {"page": base.page(), "components": base.listed}


def _incidents(found: list[Incident], base: _Page, lang: str) -> dict:
    return {"page": base.page(),
            "incidents": [incident(i, lang, base.by_service) for i in found]}


def incidents(lang: str = "en") -> dict:
    return _incidents(public.incidents(limit=NEWEST), _Page(), lang)


def unresolved_incidents(lang: str = "en") -> dict:
    return _incidents(public.incidents(resolved=False), _Page(), lang)


def _maintenances(found: list[Maintenance], base: _Page, lang: str) -> dict:
    return {"page": base.page(),
            "scheduled_maintenances": [maintenance(m, lang, base.by_service) for m in found]}


def scheduled_maintenances(lang: str = "en") -> dict:
    return _maintenances(public.recent_maintenances(NEWEST), _Page(), lang)


def upcoming_maintenances(lang: str = "en") -> dict:
    return _maintenances(public.maintenances(upcoming=True), _Page(), lang)


def active_maintenances(lang: str = "en") -> dict:
    return _maintenances(public.maintenances(active=True), _Page(), lang)
