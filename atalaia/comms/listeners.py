"""What communication does when the incident's lifecycle tells it something
(registered in CommsConfig.ready())."""

from __future__ import annotations

from atalaia.comms.actions import announce_closing
from atalaia.comms.views import room_context
from atalaia.incidents import events


def _on_resolved(event: events.Event) -> None:
    announce_closing(event.incident, event.actor, event.data.get("message", ""),
                     event.data.get("closing"))


def _room_panel(incident, user) -> dict:
    return {"comms": room_context(incident)}


def register() -> None:
    events.on(events.RESOLVED, _on_resolved)
    events.add_room_panel(_room_panel)
