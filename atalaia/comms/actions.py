"""Every change the public can see: one function each, in one transaction, with its
timeline entry, its broadcasts and the status version bump in that same
transaction (so the cache, the subscribers and the timeline never disagree)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaia.accounts.models import User
from atalaia.catalog.models import Service
from atalaia.comms import render, version
from atalaia.comms.models import (
    Broadcast,
    CompanyChannel,
    ComponentState,
    ComponentStatus,
    Maintenance,
    MaintenanceStatus,
    TicketLink,
    Update,
)
from atalaia.incidents.actions import IncidentError, append_entry, set_public_status
from atalaia.incidents.models import EntryKind, Incident, PublicStatus
from atalaia.monitoring.models import MaintenanceWindow

MAX_BODY = 5_000


class CommsError(IncidentError):
    """Input a communication action cannot accept; the message says what is wrong."""


def _components(changes: dict[str, str]) -> list[tuple[Service, str]]:
    found = {s.slug: s for s in Service.objects.filter(slug__in=changes, is_component=True)}
    unknown = [slug for slug in changes if slug not in found]
    if unknown:
        raise CommsError(f"not a public component: {', '.join(unknown)}")
    bad = [s for s in changes.values() if s not in ComponentStatus.values]
    if bad:
        raise CommsError(f"a component status is one of {', '.join(ComponentStatus.values)}")
    return [(found[slug], status) for slug, status in changes.items()]


def _texts(incident: Incident, status: str, body_en: str, body_pt: str,
           names: list[str], eta: datetime | None) -> tuple[str, str]:
    """Both languages: one written, the other from the plan's template when left empty."""
    body_en, body_pt = (body_en or "").strip(), (body_pt or "").strip()
    body_en = body_en or render.from_template(incident, status, "en", names, eta)
    body_pt = body_pt or render.from_template(incident, status, "pt-br", names, eta)
    if not body_en or not body_pt:
        raise CommsError("write the update in both languages (the plan has no template "
                         "for this status to fill the other)")
    if max(len(body_en), len(body_pt)) > MAX_BODY:
        raise CommsError(f"an update is at most {MAX_BODY} characters")
    return body_en, body_pt


def prepare_update(incident: Incident, status: str, body_en: str = "", body_pt: str = "",
                   eta: datetime | None = None,
                   components: dict[str, str] | None = None) -> render.Draft:
    """The update as it will go out, checked and complete (texts filled from the
    plan's templates, component changes in name order). The console previews this
    and publish_update publishes this: one function, so a preview is what is sent."""
    return _prepare(incident, status, body_en, body_pt, eta, components)[0]


def _prepare(incident: Incident, status: str, body_en: str, body_pt: str,
             eta: datetime | None, components: dict[str, str] | None
             ) -> tuple[render.Draft, list[tuple[Service, str]]]:
    if status not in PublicStatus.values:
        raise CommsError(f"status is one of {', '.join(PublicStatus.values)}")
    if incident.confidential:
        raise CommsError("the incident is confidential: make it visible to everyone in the "
                         "team before telling the public about it")
    if eta is not None and timezone.is_naive(eta):
        raise CommsError("the ETA needs a time zone")
    if not components and status == PublicStatus.RESOLVED != incident.public_status:
        # The closing update puts back to operational what the last one named: the
        # preview says so too.
        components = _closing_components(incident.updates.order_by("-published_at",
                                                                   "-pk").first())
    changes = sorted(_components(components or {}), key=lambda change: change[0].name)
    names = [service.name for service, _ in changes] or list(
        incident.services.filter(is_component=True).values_list("name", flat=True))
    body_en, body_pt = _texts(incident, status, body_en, body_pt, names, eta)
    draft = render.Draft(incident, status, body_en, body_pt, eta, [
        {"service": service.slug, "name": service.name, "status": new}
        for service, new in changes])
    return draft, changes


@transaction.atomic
def publish_update(incident: Incident, actor: User | None, status: str, body_en: str = "",
                   body_pt: str = "", eta: datetime | None = None,
                   components: dict[str, str] | None = None) -> Update:
    """Publish an update: the incident's public status moves (by the incident's
    rules), component states change, and one broadcast per channel is queued."""
    draft, changes = _prepare(incident, status, body_en, body_pt, eta, components)
    body_en, body_pt = draft.body_en, draft.body_pt
    components = {service.slug: new for service, new in changes}  # cleaned, in name order
    if status == PublicStatus.RESOLVED and incident.public_status != status:
        # Resolving publishes the one closing update (announce_closing, on the
        # incident's RESOLVED event): this text and these components go with it.
        set_public_status(incident, actor, status, body_en, closing={
            "body_en": body_en, "body_pt": body_pt, "eta": eta, "components": components})
        return incident.updates.order_by("-published_at", "-pk")[0]
    if incident.public_status != status:
        set_public_status(incident, actor, status, body_en)
        incident.refresh_from_db()
    return _publish(incident, actor, status, body_en, body_pt, eta, changes)


def _publish(incident: Incident, actor: User | None, status: str, body_en: str, body_pt: str,
             eta: datetime | None, changes: list[tuple[Service, str]]) -> Update:
    now = timezone.now()
    update = Update.objects.create(
        incident=incident, status=status, body_en=body_en, body_pt=body_pt, eta=eta,
        published_at=now, author=actor, components=[])
    update.components = [_set_state(service, new, now, update) for service, new in changes]
    update.save(update_fields=["components"])
    if eta != incident.eta:
        Incident.objects.filter(pk=incident.pk).update(eta=eta)
    append_entry(incident, EntryKind.UPDATE, actor, {
        "update": update.pk, "status": status, "text": body_en, "text_pt": body_pt,
        "eta": eta.isoformat() if eta else None, "components": update.components})
    _broadcast(now, update=update, event="update")
    version.bump()
    return update


def _set_state(service: Service, status: str, now: datetime, update: Update | None) -> dict:
    """End the component's current state and start the new one (if it changed)."""
    current = ComponentState.objects.select_for_update().filter(
        service=service, ended_at__isnull=True).first()
    old = current.status if current else ComponentStatus.OPERATIONAL
    if old != status:
        if current:
            current.ended_at = now
            current.save(update_fields=["ended_at"])
        ComponentState.objects.create(service=service, status=status, started_at=now,
                                      update=update)
    return {"service": service.slug, "name": service.name, "old_status": old,
            "status": status}


@transaction.atomic
def set_component_status(service: Service, status: str, actor: User | None) -> dict:
    """A component's state set on its own (outside an update): shown on the page."""
    ((service, status),) = _components({service.slug: status})
    change = _set_state(service, status, timezone.now(), None)
    version.bump()
    return change


def _broadcast(now: datetime, event: str, update: Update | None = None,
               maintenance: Maintenance | None = None) -> None:
    """One row per audience and per company channel: constant work whatever the
    number of subscribers; the worker expands them (broadcasts.py)."""
    rows = [Broadcast(update=update, maintenance=maintenance, event=event, audience=audience,
                      created_at=now) for audience in ("email", "webhook")]
    rows += [Broadcast(update=update, maintenance=maintenance, event=event, audience="channel",
                       channel=channel, created_at=now)
             for channel in CompanyChannel.objects.filter(enabled=True)]
    Broadcast.objects.bulk_create(rows)


def announce_closing(incident: Incident, actor: User | None, message: str = "",
                     closing: dict | None = None) -> None:
    """The official closing, published once per resolve (on the incident's RESOLVED
    event, whichever way it was resolved). `closing` is what an update published
    with status resolved asked to say (texts, ETA, component changes); otherwise an
    incident the public heard about gets the plan's resolved template, or the message
    given, on every channel. Components go back to operational unless told otherwise."""
    if closing is not None:
        # Prepared (and previewed) by publish_update: the components there already
        # default to the last update's, back to operational.
        _publish(incident, actor, PublicStatus.RESOLVED, closing["body_en"],
                 closing["body_pt"], closing["eta"], _components(closing["components"]))
        return
    latest = incident.updates.order_by("-published_at", "-pk").first()
    if latest is None or latest.status == PublicStatus.RESOLVED or incident.confidential:
        return
    names = [c["name"] for c in latest.components] or list(
        incident.services.filter(is_component=True).values_list("name", flat=True))
    fallback = {}
    for language in ("en", "pt-br"):
        with translation.override(language):
            fallback[language] = (render.from_template(incident, "resolved", language, names,
                                                       None)
                                  or _("The incident is resolved. Thank you for your patience."))
    _publish(incident, actor, PublicStatus.RESOLVED, message or fallback["en"],
             fallback["pt-br"], None, _components(_closing_components(latest)))


def _closing_components(latest: Update | None) -> dict[str, str]:
    """The components the last update named, back to operational."""
    return {c["service"]: ComponentStatus.OPERATIONAL
            for c in (latest.components if latest is not None else [])}


@transaction.atomic
def correct_update(update: Update, actor: User, body_en: str, body_pt: str) -> Update:
    """Fix what an update says. The page marks it corrected; the old text is kept."""
    update = Update.objects.select_for_update().get(pk=update.pk)
    body_en, body_pt = (body_en or "").strip(), (body_pt or "").strip()
    if not body_en or not body_pt:
        raise CommsError("a correction gives both languages")
    if max(len(body_en), len(body_pt)) > MAX_BODY:
        raise CommsError(f"an update is at most {MAX_BODY} characters")
    now = timezone.now()
    update.previous = [*update.previous, {"at": now.isoformat(), "by": actor.username,
                                          "body_en": update.body_en, "body_pt": update.body_pt}]
    update.body_en, update.body_pt, update.corrected_at = body_en, body_pt, now
    update.save(update_fields=["body_en", "body_pt", "corrected_at", "previous"])
    append_entry(update.incident, EntryKind.UPDATE, actor, {
        "update": update.pk, "corrected": True, "status": update.status, "text": body_en,
        "text_pt": body_pt})
    version.bump()
    return update


# -- cadence ---------------------------------------------------------------------------

def cadence_minutes(incident: Incident) -> int | None:
    plan = incident.plan_version.plan if incident.plan_version else None
    level = (plan or {}).get("levels", {}).get(incident.level)
    return level["update_every_minutes"] if level else None


def next_update_due(incident: Incident, updates: list[Update] | None = None) -> datetime | None:
    """When users must next hear from us: the last update (or the declaration) plus
    the plan's cadence for the level; None once the communication track is closed.
    `updates`: the incident's updates newest first, when the caller has them already."""
    minutes = cadence_minutes(incident)
    if minutes is None or not incident.communication_open:
        return None
    if updates is None:
        last = incident.updates.order_by("-published_at").values_list(
            "published_at", flat=True).first()
    else:
        last = updates[0].published_at if updates else None
    return (last or incident.declared_at) + timedelta(minutes=minutes)


def late_updates(incident: Incident) -> list[dict]:
    """Every time users waited longer than the cadence: for the review."""
    minutes = cadence_minutes(incident)
    if minutes is None:
        return []
    times = [incident.declared_at, *incident.updates.order_by("published_at").values_list(
        "published_at", flat=True)]
    end = incident.phases.filter(phase="communication").values_list("ended_at", flat=True).first()
    times.append(end or timezone.now())
    allowed = timedelta(minutes=minutes)
    return [{"due": a + allowed, "came": b, "late_minutes": round((b - a - allowed) /
                                                                  timedelta(minutes=1))}
            for a, b in zip(times, times[1:], strict=False) if b - a > allowed]


# -- tickets ---------------------------------------------------------------------------

@transaction.atomic
def link_ticket(incident: Incident, actor: User | None, reference: str, system: str = "",
                url: str = "") -> tuple[TicketLink, bool]:
    reference, system = (reference or "").strip(), (system or "").strip()
    if not reference:
        raise CommsError("a ticket needs its reference")
    link, created = TicketLink.objects.get_or_create(
        incident=incident, system=system[:50], reference=reference[:200],
        defaults={"url": url, "created_by": actor})
    if created:
        append_entry(incident, EntryKind.TICKET, actor,
                     {"system": system, "reference": reference, "url": url})
    return link, created


# -- scheduled maintenance ----------------------------------------------------------

def _check_maintenance(fields: dict, components: Iterable[str]) -> list[Service]:
    if not (fields.get("title_en") or "").strip() or not (fields.get("title_pt") or "").strip():
        raise CommsError("a maintenance needs a title in both languages")
    start, end = fields.get("scheduled_for"), fields.get("scheduled_until")
    if not start or not end or timezone.is_naive(start) or timezone.is_naive(end):
        raise CommsError("a maintenance needs a start and an end with a time zone")
    if end <= start:
        raise CommsError("the maintenance ends before it starts")
    services = [s for s, _ in _components({slug: "under_maintenance" for slug in components})]
    if not services:
        raise CommsError("name at least one affected component")
    return services


@transaction.atomic
def schedule_maintenance(actor: User | None, fields: dict, components: Iterable[str]
                         ) -> Maintenance:
    """Announce planned work: subscribers hear of it now, at its start and at its end."""
    services = _check_maintenance(fields, components)
    maintenance = Maintenance.objects.create(
        title_en=fields["title_en"].strip(), title_pt=fields["title_pt"].strip(),
        body_en=fields.get("body_en", ""), body_pt=fields.get("body_pt", ""),
        scheduled_for=fields["scheduled_for"], scheduled_until=fields["scheduled_until"],
        created_by=actor)
    maintenance.components.set(services)
    # The same work silences the components' alerts: one act, not two forms.
    window = MaintenanceWindow.objects.create(
        title=maintenance.title_en, starts_at=maintenance.scheduled_for,
        duration_minutes=max(1, round((maintenance.scheduled_until - maintenance.scheduled_for)
                                      / timedelta(minutes=1))))
    window.services.set(services)
    _broadcast(timezone.now(), "announced", maintenance=maintenance)
    version.bump()
    return maintenance


@transaction.atomic
def move_maintenance(maintenance: Maintenance, actor: User | None, status: str) -> None:
    """A person moves the maintenance on (from then on the worker leaves it alone),
    or the worker does at its times (actor None)."""
    if status not in MaintenanceStatus.values:
        raise CommsError(f"status is one of {', '.join(MaintenanceStatus.values)}")
    maintenance = Maintenance.objects.select_for_update().get(pk=maintenance.pk)
    if maintenance.status == status:
        return
    now = timezone.now()
    maintenance.status, maintenance.sequence = status, maintenance.sequence + 1
    if actor is not None:
        maintenance.automatic = False
    if status == MaintenanceStatus.IN_PROGRESS:
        maintenance.started_at = now
    if status == MaintenanceStatus.COMPLETED:
        maintenance.completed_at = now
    maintenance.save()
    target = (ComponentStatus.MAINTENANCE if status in (MaintenanceStatus.IN_PROGRESS,
                                                        MaintenanceStatus.VERIFYING)
              else ComponentStatus.OPERATIONAL)
    for service in maintenance.components.all():
        _set_state(service, target, now, None)
    if status in (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.COMPLETED):
        _broadcast(now, "started" if status == MaintenanceStatus.IN_PROGRESS else "completed",
                   maintenance=maintenance)
    version.bump()


def run_maintenances(now: datetime | None = None) -> int:
    """Worker step: start and complete automatic maintenances at their times."""
    now = now or timezone.now()
    handled = 0
    due_start = Maintenance.objects.filter(automatic=True, status=MaintenanceStatus.SCHEDULED,
                                           scheduled_for__lte=now)
    for maintenance in due_start:
        move_maintenance(maintenance, None, MaintenanceStatus.IN_PROGRESS)
        handled += 1
    due_end = Maintenance.objects.filter(
        automatic=True, scheduled_until__lte=now,
        status__in=[MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING])
    for maintenance in due_end:
        move_maintenance(maintenance, None, MaintenanceStatus.COMPLETED)
        handled += 1
    return handled
