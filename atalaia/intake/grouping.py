"""The worker's grouping step: new and changed signals join incidents.

Open signals for one service, or for services linked in the dependency graph,
join an incident that was active within the grouping window; otherwise the plan
decides whether the signal declares an incident itself or waits in the inbox.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from atalaia.catalog.impact import compromised_slugs, compute, current_graph, path_of
from atalaia.incidents import actions as incident_actions
from atalaia.incidents.models import EntryKind, Incident, Stage
from atalaia.intake.models import Signal, SignalStatus
from atalaia.plans.actions import active_plan

ACTIVE_STAGES = (Stage.ASSESSMENT, Stage.RESPONSE, Stage.RESOLUTION)
DEFAULT_AUTO_DECLARE = ["critical"]


def group_signals(limit: int = 200) -> int:
    """Group up to `limit` pending signals; the number handled."""
    handled = 0
    while handled < limit:
        with transaction.atomic():
            signal = (Signal.objects.select_for_update(skip_locked=True, of=("self",))
                      .filter(needs_grouping=True).select_related("service", "incident")
                      .order_by("id").first())
            if signal is None:
                break
            _group(signal)
            signal.needs_grouping = False
            signal.save(update_fields=["needs_grouping", "incident"])
        handled += 1
    return handled


def _group(signal: Signal) -> None:
    if signal.status == SignalStatus.OPEN and signal.incident is None:
        _place(signal)
    elif signal.incident is not None:
        _follow(signal)


def _place(signal: Signal) -> None:
    if signal.service is None:
        return  # no service to assess: the signal waits in the inbox for a person
    if signal.in_maintenance:
        return  # planned work: recorded, shown in the inbox, pages no one
    incident, reason = _related_incident(signal.service.slug)
    if incident is not None:
        _join(signal, incident, reason)
    elif signal.severity in _auto_declare_severities():
        incident = incident_actions.declare_incident(
            None, signal.summary[:200], [signal.service.slug],
            summary=f"Declared automatically from a {signal.severity} signal "
                    f"({signal.source}: {signal.dedup_key}).")
        Incident.objects.filter(pk=incident.pk).update(auto_declared=True)
        _join(signal, incident, "declared automatically from this signal")


def _auto_declare_severities() -> list[str]:
    version = active_plan()
    intake = (version.plan.get("intake") or {}) if version else {}
    return intake.get("auto_declare_severities", DEFAULT_AUTO_DECLARE)


def _related_incident(slug: str) -> tuple[Incident | None, str]:
    since = timezone.now() - timedelta(minutes=settings.GROUPING_WINDOW_MINUTES)
    candidates = (Incident.objects.filter(stage__in=ACTIVE_STAGES, last_entry_at__gte=since)
                  .prefetch_related("services").order_by("-declared_at"))
    behind: list[str] | None = None  # services this one's failure compromises
    for incident in candidates:
        affected = [s.slug for s in incident.services.all()]
        if slug in affected:
            return incident, f"same service ({slug})"
        if slug in compromised_slugs(incident.impact):
            return incident, "depends on an affected service: " + " → ".join(
                path_of(incident.impact, slug))
        if behind is None:
            behind = compromised_slugs(compute(current_graph(), [slug]))
        hit = next((a for a in affected if a in behind), None)
        if hit is not None:
            return incident, f"{hit} depends on {slug}"
    return None, ""


def _join(signal: Signal, incident: Incident, reason: str) -> None:
    assert signal.service is not None
    slug = signal.service.slug
    signal.incident = incident
    slugs = list(incident.services.values_list("slug", flat=True))
    if slug not in slugs:
        incident_actions.set_affected_services(incident, None, [*slugs, slug])
    incident_actions.append_entry(incident, EntryKind.SIGNAL, None, {
        "signal": signal.pk, "event": "joined", "summary": signal.summary,
        "severity": signal.severity, "service": slug, "source": signal.source,
        "reason": reason})


def _follow(signal: Signal) -> None:
    incident = signal.incident
    assert incident is not None
    incident_actions.append_entry(incident, EntryKind.SIGNAL, None, {
        "signal": signal.pk, "event": signal.status, "summary": signal.summary,
        "service": signal.service.slug if signal.service else None, "source": signal.source})
    if signal.status == SignalStatus.ACKNOWLEDGED:
        _acknowledge_when_all_are(incident)
    if signal.status != SignalStatus.RESOLVED or not incident.auto_declared:
        return
    live = incident.signals.exclude(status=SignalStatus.RESOLVED).exists()
    if not live and incident.stage in (Stage.ASSESSMENT, Stage.RESPONSE):
        incident_actions.move_stage(incident, None, Stage.RESOLUTION,
                                    "every signal of this incident has cleared")


def _acknowledge_when_all_are(incident: Incident) -> None:
    """As in PagerDuty: once every live signal of an incident is acknowledged at its
    source, the incident is acknowledged, and its escalation stops."""
    if incident.acknowledged_at is not None or incident.signals.filter(
            status=SignalStatus.OPEN).exists():
        return
    incident.acknowledged_at = timezone.now()
    Incident.objects.filter(pk=incident.pk).update(acknowledged_at=incident.acknowledged_at)
    incident_actions.append_entry(incident, EntryKind.SIGNAL, None, {
        "event": "acknowledged", "source": "intake", "service": None,
        "summary": "incident acknowledged; escalation stops",
        "reason": "every open signal of this incident was acknowledged at its source"})
