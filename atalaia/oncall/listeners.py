"""What paging does when the incident's lifecycle tells it something (registered in
OncallConfig.ready()): a declaration or a raised level activates the plan's teams,
resolving or moving on to review stops every page, a re-trigger pages again, an
acknowledgement at the alerts' source stops the escalations."""

from __future__ import annotations

from atalaia.incidents import events
from atalaia.incidents.models import Stage
from atalaia.notify import outbox
from atalaia.oncall import paging


def _on_declared(event: events.Event) -> None:
    paging.on_level(event.incident, event.actor, None, event.data["level"])


def _on_level_changed(event: events.Event) -> None:
    paging.on_level(event.incident, event.actor, event.data["old"], event.data["new"])


def _on_stage_moved(event: events.Event) -> None:
    if event.data["new"] in (Stage.REVIEW, Stage.CLOSED):
        paging.stop_all(event.incident, event.actor, f"stage {event.data['new']}")


def _on_resolved(event: events.Event) -> None:
    paging.stop_all(event.incident, event.actor, "resolved")


def _on_retriggered(event: events.Event) -> None:
    paging.retrigger(event.incident, event.data["reason"])


def _on_acknowledged(event: events.Event) -> None:
    paging.acknowledged_at_source(event.incident, event.data["source"])


def _room_panel(incident, user) -> dict:
    return {"pages": paging.incident_pages(incident),
            "escalations": incident.escalations.filter(status__in=paging.RUNNING)}


def register() -> None:
    events.on(events.DECLARED, _on_declared)
    events.on(events.LEVEL_CHANGED, _on_level_changed)
    events.on(events.STAGE_MOVED, _on_stage_moved)
    events.on(events.RESOLVED, _on_resolved)
    events.on(events.RETRIGGERED, _on_retriggered)
    events.on(events.ACKNOWLEDGED, _on_acknowledged)
    events.add_room_panel(_room_panel)
    outbox.on_result("page", paging.log_attempts)
