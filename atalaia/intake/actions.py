"""Intake: integrations and their keys, the rate limit, and signals from events.

An event is answered only after its signal is committed; grouping signals into
incidents happens right after, in the worker (atalaia/intake/grouping.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from atalaia.accounts import limits
from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.catalog.models import Service
from atalaia.incidents import actions as incident_actions
from atalaia.incidents.models import EntryKind, Incident
from atalaia.intake.formats.common import Event
from atalaia.intake.models import ChangeEvent, Integration, Signal, SignalStatus
from atalaia.lib.crypto import sha256_hex
from atalaia.lib.text import as_title


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


def rate_rule(integration: Integration) -> limits.Rule:
    """An integration's events: a burst of rate_per_minute, refilled over a minute
    (the one rate limiter, keyed by the integration)."""
    return limits.Rule("intake.events", integration.rate_per_minute, 60)


def record_events(integration: Integration | None, source: str, events: list[Event],
                  in_maintenance: bool = False) -> None:
    """Apply the events to signals, all of them or none, before the sender gets its answer."""
    with one_writer(), transaction.atomic():
        apply_events(integration, source, events, in_maintenance)


def apply_events(integration: Integration | None, source: str, events: list[Event],
                 in_maintenance: bool = False) -> None:
    """Apply the events in order, as if one by one, inside the caller's transaction:
    one query for the live signals of all their keys and one insert for all the new
    signals, so a batch of 100 new alerts is 2 statements, not 200."""
    services = _services_by_slug(events)
    keys = {event.dedup_key for event in events}
    live = {signal.dedup_key: signal for signal in Signal.objects.select_for_update()
            .filter(source=source, integration=integration, dedup_key__in=keys)
            .exclude(status=SignalStatus.RESOLVED).order_by("pk")}
    new: list[Signal] = []
    changed: dict[int, tuple[Signal, set[str]]] = {}  # stored signals: changed fields
    now = timezone.now()
    for event in events:
        signal, fields = _apply(integration, source, event, services, live, now)
        if signal is None:
            continue
        if signal.pk is None:
            if not fields:  # opened by this event; inserted below as it ends up
                signal.in_maintenance = in_maintenance
                new.append(signal)
        else:
            changed.setdefault(signal.pk, (signal, set()))[1].update(fields)
    # Updates first: a signal resolved in this batch leaves the one live row per
    # key before a new signal with that key is inserted.
    for signal, names in changed.values():
        signal.save(update_fields=sorted(names))
    if new:
        Signal.objects.bulk_create(new)
    _acknowledge_incidents(source, [signal for signal, names in changed.values()
                                    if "acknowledged_at" in names
                                    and signal.status == SignalStatus.ACKNOWLEDGED])


def _acknowledge_incidents(source: str, acknowledged: list[Signal]) -> None:
    """As in PagerDuty, an alert acknowledged at its source acknowledges its incident,
    in the transaction that stores the acknowledgement (not at the worker's next step):
    its escalations stop and its notifications not yet sent are cancelled at once. An
    incident that several live signals feed waits until every one is acknowledged."""
    ids = {signal.incident_id for signal in acknowledged if signal.incident_id}
    for incident in Incident.objects.filter(pk__in=ids, acknowledged_at__isnull=True)\
            .order_by("pk"):
        if not incident.signals.filter(status=SignalStatus.OPEN).exists():
            incident_actions.acknowledge_at_source(
                incident, source,
                "every open signal of this incident was acknowledged at its source")


def _services_by_slug(events: list[Event]) -> dict[str, Service]:
    hints = {e.service_hint for e in events if e.service_hint}
    return {s.slug: s for s in Service.objects.filter(slug__in=hints)} if hints else {}


def _apply(integration, source: str, event: Event, services: dict[str, Service],
           live: dict[str, Signal], now) -> tuple[Signal | None, tuple[str, ...]]:
    """One event on the live signals by key, in memory: (the signal it opened or
    changed, or None; the fields it changed, empty for a signal it opened)."""
    signal = live.get(event.dedup_key)
    if event.action == "trigger":
        if signal is None:
            service = services.get(event.service_hint) or (integration and integration.service)
            signal = Signal(
                integration=integration, source=source, dedup_key=event.dedup_key,
                severity=event.severity, service=service, summary=event.summary or "signal",
                details=event.details, links=event.links, first_seen_at=now, last_seen_at=now)
            live[event.dedup_key] = signal
            return signal, ()
        # As in PagerDuty, a repeat is deduplicated: the signal keeps what the
        # first event said and only counts the repeats.
        signal.count += 1
        signal.last_seen_at = now
        return signal, ("count", "last_seen_at")
    if signal is not None and event.action == "acknowledge" \
            and signal.status == SignalStatus.OPEN:
        signal.status, signal.acknowledged_at, signal.needs_grouping = \
            SignalStatus.ACKNOWLEDGED, now, True
        return signal, ("status", "acknowledged_at", "needs_grouping")
    if signal is not None and event.action == "resolve":
        signal.status, signal.resolved_at, signal.needs_grouping = SignalStatus.RESOLVED, now, True
        signal.last_seen_at = now
        del live[event.dedup_key]  # a trigger after this opens a new signal
        return signal, ("status", "resolved_at", "needs_grouping", "last_seen_at")
    return None, ()


# SQLite has one writer at a time. Its busy handler makes the others poll, sleeping
# 1 to 100 ms between tries, so under load most request threads sleep while the
# lock is free and answers take seconds. Intake writes queue here instead, in
# arrival order and woken at once: a lock for the threads of this process, and an
# exclusive flock on a file beside the database for the other web processes.
_writers = threading.Lock()
_lock_file: dict[str, int] = {}  # "pid:path" -> file descriptor


@contextlib.contextmanager
def one_writer():
    if connection.vendor != "sqlite":
        yield
        return
    with _writers:
        name = str(connection.settings_dict["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            yield
            return
        key = f"{os.getpid()}:{name}"  # a forked worker opens its own
        fd = _lock_file.get(key)
        if fd is None:
            fd = _lock_file[key] = os.open(name + ".intake-lock", os.O_RDWR | os.O_CREAT,
                                           0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


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
    signal = _lock_live(signal)
    if signal.service is None:
        raise SignalError("this signal names no known service: declare the incident by "
                          "hand with the affected services")
    incident = incident_actions.declare_incident(
        actor, as_title(signal.summary, 200), [signal.service.slug],
        summary=f"Declared from a {signal.severity} signal "
                f"({signal.source}: {signal.dedup_key}).")
    Signal.objects.filter(pk=signal.pk).update(incident=incident)
    incident_actions.append_entry(incident, EntryKind.SIGNAL, actor, {
        "signal": signal.pk, "event": "joined", "summary": signal.summary,
        "service": signal.service.slug, "source": signal.source,
        "reason": "declared by a person from the inbox"})
    return incident


@transaction.atomic
def attach_signal(signal: Signal, incident: Incident, actor: User) -> None:
    signal = _lock_live(signal)
    Signal.objects.filter(pk=signal.pk).update(incident=incident)
    slugs = list(incident.services.values_list("slug", flat=True))
    if signal.service is not None and signal.service.slug not in slugs:
        incident_actions.set_affected_services(incident, actor, [*slugs, signal.service.slug])
    incident_actions.append_entry(incident, EntryKind.SIGNAL, actor, {
        "signal": signal.pk, "event": "joined", "summary": signal.summary,
        "service": signal.service.slug if signal.service else None, "source": signal.source,
        "reason": "attached by a person"})


@transaction.atomic
def dismiss_signal(signal: Signal, actor: User) -> None:
    signal = _lock_live(signal)
    Signal.objects.filter(pk=signal.pk).update(
        status=SignalStatus.RESOLVED, resolved_at=timezone.now(), dismissed_by=actor,
        needs_grouping=False)


@transaction.atomic
def retry_grouping(signal: Signal, actor: User) -> None:
    """Group a quarantined signal again, now (a person decided to): its attempts
    start over."""
    if not Signal.objects.filter(pk=signal.pk, quarantined_at__isnull=False).update(
            needs_grouping=True, grouping_attempts=0, grouping_retry_at=None,
            quarantined_at=None):
        raise SignalError("this signal is not set aside: nothing to retry")
    audit(actor, "signal.retry_grouping", "signal", f"{signal.source}: {signal.dedup_key}")
