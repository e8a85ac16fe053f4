"""Intake: integrations and their keys, the rate limit, and signals from events.

An event is answered only after its signal is committed; grouping signals into
incidents happens right after, in the worker (atalaia/intake/grouping.py).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.catalog.models import Service
from atalaia.incidents.models import EntryKind, Incident
from atalaia.intake.formats.common import Event
from atalaia.intake.models import ChangeEvent, Integration, RateWindow, Signal, SignalStatus
from atalaia.lib.crypto import sha256_hex


@transaction.atomic
def create_integration(kind: str, name: str, actor: User | None = None,
                       service: Service | None = None,
                       rate_per_minute: int | None = None) -> tuple[Integration, str]:
    """A new integration and its key, returned once (PagerDuty's 32-character shape,
    so that its clients accept it as a routing key)."""
    key = secrets.token_hex(16)
    integration = Integration.objects.create(
        kind=kind, name=name[:200], key_digest=sha256_hex(key), key_prefix=key[:6],
        service=service, created_by=actor,
        rate_per_minute=rate_per_minute or settings.INTAKE_RATE_PER_MINUTE)
    audit(actor, "integration.create", "integration", str(integration), {"kind": kind})
    return integration, key


def integration_for_key(key: str, kinds: tuple[str, ...]) -> Integration | None:
    if not key or len(key) > 64:
        return None
    return Integration.objects.filter(key_digest=sha256_hex(key), kind__in=kinds,
                                      disabled_at__isnull=True).first()


def within_rate(integration: Integration, events: int = 1) -> bool:
    """Count these events in the current minute; False once the limit is passed."""
    minute = timezone.now().replace(second=0, microsecond=0)
    with transaction.atomic():
        updated = RateWindow.objects.filter(integration=integration, minute=minute).update(
            count=F("count") + events)
        if not updated:
            try:
                with transaction.atomic():
                    RateWindow.objects.create(integration=integration, minute=minute,
                                              count=events)
            except IntegrityError:  # another process created it first
                RateWindow.objects.filter(integration=integration, minute=minute).update(
                    count=F("count") + events)
        count = RateWindow.objects.get(integration=integration, minute=minute).count
    return count <= integration.rate_per_minute


def record_events(integration: Integration | None, source: str, events: list[Event]) -> None:
    """Apply the events to signals, all of them or none, before the sender gets its answer."""
    services = _services_by_slug(events)
    with transaction.atomic():
        for event in events:
            _apply(integration, source, event, services)


def _services_by_slug(events: list[Event]) -> dict[str, Service]:
    hints = {e.service_hint for e in events if e.service_hint}
    return {s.slug: s for s in Service.objects.filter(slug__in=hints)} if hints else {}


def _apply(integration, source: str, event: Event, services: dict[str, Service]) -> None:
    now = timezone.now()
    live = (Signal.objects.select_for_update()
            .filter(source=source, integration=integration, dedup_key=event.dedup_key)
            .exclude(status=SignalStatus.RESOLVED).first())
    if event.action == "trigger":
        if live is None:
            service = services.get(event.service_hint) or (integration and integration.service)
            Signal.objects.create(
                integration=integration, source=source, dedup_key=event.dedup_key,
                severity=event.severity, service=service, summary=event.summary or "signal",
                details=event.details, links=event.links, first_seen_at=now, last_seen_at=now)
        else:
            # As in PagerDuty, a repeat is deduplicated: the signal keeps what the
            # first event said and only counts the repeats.
            live.count += 1
            live.last_seen_at = now
            live.save(update_fields=["count", "last_seen_at"])
    elif live is not None and event.action == "acknowledge" \
            and live.status == SignalStatus.OPEN:
        live.status, live.acknowledged_at, live.needs_grouping = \
            SignalStatus.ACKNOWLEDGED, now, True
        live.save(update_fields=["status", "acknowledged_at", "needs_grouping"])
    elif live is not None and event.action == "resolve":
        live.status, live.resolved_at, live.needs_grouping = SignalStatus.RESOLVED, now, True
        live.last_seen_at = now
        live.save(update_fields=["status", "resolved_at", "needs_grouping", "last_seen_at"])


def record_change(integration: Integration, change: dict) -> ChangeEvent:
    return ChangeEvent.objects.create(
        integration=integration, summary=change["summary"], source=change.get("source", ""),
        happened_at=change.get("happened_at") or timezone.now(),
        details=change.get("details") or {}, links=change.get("links") or [])


def _lock_live(signal: Signal) -> Signal:
    locked = Signal.objects.select_for_update(of=("self",)).select_related("service").get(
        pk=signal.pk)
    if locked.incident_id is not None:
        raise SignalError("this signal already belongs to an incident")
    if locked.status == SignalStatus.RESOLVED:
        raise SignalError("this signal has cleared")
    return locked


class SignalError(ValueError):
    """A decision about a signal that cannot be taken; the message says why."""


@transaction.atomic
def declare_from_signal(signal: Signal, actor: User) -> Incident:
    """A person decides that a signal from the inbox is an incident."""
    from atalaia.incidents.actions import append_entry, declare_incident

    signal = _lock_live(signal)
    if signal.service is None:
        raise SignalError("this signal names no known service: declare the incident by "
                          "hand with the affected services")
    incident = declare_incident(actor, signal.summary[:200], [signal.service.slug],
                                summary=f"Declared from a {signal.severity} signal "
                                        f"({signal.source}: {signal.dedup_key}).")
    Signal.objects.filter(pk=signal.pk).update(incident=incident)
    append_entry(incident, EntryKind.SIGNAL, actor, {
        "signal": signal.pk, "event": "joined", "summary": signal.summary,
        "service": signal.service.slug, "source": signal.source,
        "reason": "declared by a person from the inbox"})
    return incident


@transaction.atomic
def attach_signal(signal: Signal, incident: Incident, actor: User) -> None:
    from atalaia.incidents.actions import append_entry, set_affected_services

    signal = _lock_live(signal)
    Signal.objects.filter(pk=signal.pk).update(incident=incident)
    slugs = list(incident.services.values_list("slug", flat=True))
    if signal.service is not None and signal.service.slug not in slugs:
        set_affected_services(incident, actor, [*slugs, signal.service.slug])
    append_entry(incident, EntryKind.SIGNAL, actor, {
        "signal": signal.pk, "event": "joined", "summary": signal.summary,
        "service": signal.service.slug if signal.service else None, "source": signal.source,
        "reason": "attached by a person"})


@transaction.atomic
def dismiss_signal(signal: Signal, actor: User) -> None:
    signal = _lock_live(signal)
    Signal.objects.filter(pk=signal.pk).update(
        status=SignalStatus.RESOLVED, resolved_at=timezone.now(), dismissed_by=actor,
        needs_grouping=False)
