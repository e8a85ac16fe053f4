"""Remote's part of the incident room (registered in RemoteConfig.ready())."""

from __future__ import annotations

from atalaia.incidents import events
from atalaia.remote.views import room_context


def _room_panel(incident, user) -> dict:
    return {"remote": room_context(incident, user)}


def register() -> None:
    events.add_room_panel(_room_panel)
