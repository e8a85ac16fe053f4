"""The worker's grouping step: new and changed signals join incidents.

Open signals for one service, or for services linked in the dependency graph,
join an incident that was active within the grouping window; otherwise the plan
decides whether the signal declares an incident itself or waits in the inbox.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from atalaia.catalog.impact import compromised_slugs, compute, current_graph, path_of
from atalaia.incidents import actions as incident_actions
from atalaia.incidents.models import EntryKind, Incident, Stage
from atalaia.intake.models import Signal, SignalStatus
from atalaia.lib import jobs
from atalaia.lib.text import as_title
from atalaia.plans.actions import active_plan

log = logging.getLogger("atalaia.grouping")
ACTIVE_STAGES = (Stage.ASSESSMENT, Stage.RESPONSE, Stage.RESOLUTION)
DEFAULT_AUTO_DECLARE = ["critical"]


def group_signals(limit: int = 200) -> int:
    """Group up to `limit` pending signals; the number handled.

    A signal whose grouping fails is tried again after a backoff, then quarantined
    with its error (atalaia/lib/jobs.py): taken in id order, one bad signal would
    otherwise stop every turn before the others."""
    handled = 0
    while handled < limit:
        taken: Signal | None = None
        try:
            with transaction.atomic():
                taken = _next_due()
                if taken is None:
                    break
                _group(taken)
                _grouped(taken)
        except Exception as exc:
            if taken is None:
                raise  # not the signal's fault: the job fails, the runner records it
            _failed(taken, exc)
        handled += 1
    return handled


def _next_due() -> Signal | None:
    retry_due = Q(grouping_retry_at__isnull=True) | Q(grouping_retry_at__lte=timezone.now())
    return (Signal.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(retry_due, needs_grouping=True).select_related("service", "incident")
            .order_by("id").first())


def _grouped(signal: Signal) -> None:
    signal.needs_grouping = False
    signal.grouping_attempts, signal.grouping_retry_at = 0, None
    signal.grouping_error, signal.quarantined_at = "", None
    signal.save(update_fields=["needs_grouping", "incident", "grouping_attempts",
                               "grouping_retry_at", "grouping_error", "quarantined_at"])


def _failed(signal: Signal, exc: Exception) -> None:
    log.warning("grouping signal %s failed", signal.pk, exc_info=exc)
    attempt = jobs.failed_attempt(signal.grouping_attempts, exc)
    fields: dict[str, object] = {"grouping_attempts": attempt.attempts,
                                 "grouping_error": attempt.error,
                                 "grouping_retry_at": attempt.retry_at}
    if attempt.quarantined:
        fields.update(needs_grouping=False, quarantined_at=timezone.now())
        log.error("signal %s quarantined after %d failed groupings: %s", signal.pk,
                  attempt.attempts, attempt.error)
    Signal.objects.filter(pk=signal.pk).update(**fields)


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
            None, as_title(signal.summary, 200), [signal.service.slug],
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
    # Past response (in resolution) a new problem is not absorbed: back to response,
    # and the responders paged again.
    incident_actions.retrigger(incident, f"new {signal.severity} signal: {signal.summary}")


def _follow(signal: Signal) -> None:
    incident = signal.incident
    assert incident is not None
    incident_actions.append_entry(incident, EntryKind.SIGNAL, None, {
        "signal": signal.pk, "event": signal.status, "summary": signal.summary,
        "service": signal.service.slug if signal.service else None, "source": signal.source})
    if signal.status != SignalStatus.RESOLVED or not incident.auto_declared:
        return
    live = incident.signals.exclude(status=SignalStatus.RESOLVED).exists()
    if not live and incident.stage in (Stage.ASSESSMENT, Stage.RESPONSE):
        incident_actions.move_stage(incident, None, Stage.RESOLUTION,
                                    "every signal of this incident has cleared")
