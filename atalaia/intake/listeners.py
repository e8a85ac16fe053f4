"""Intake's part of the incident room: the incident's signals and the changes made
before it (registered in IntakeConfig.ready())."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from atalaia.incidents import events
from atalaia.incidents.models import Incident
from atalaia.intake.models import ChangeEvent


def changes_before(incident: Incident) -> list[ChangeEvent]:
    """Deploys and other changes in the hours before the incident: the usual suspects."""
    since = incident.declared_at - timedelta(hours=settings.CHANGES_LOOKBACK_HOURS)
    return list(ChangeEvent.objects.filter(happened_at__gte=since,
                                           happened_at__lte=incident.declared_at)[:20])


def _room_panel(incident, user) -> dict:
    return {"changes": changes_before(incident),
            "signals": incident.signals.select_related("service").order_by("-last_seen_at")[:50]}


def register() -> None:
    events.add_room_panel(_room_panel)
