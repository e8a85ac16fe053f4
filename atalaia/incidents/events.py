"""The incident's lifecycle tells; the phases listen (docs/incidents.md, "Events").

Each state change of an incident is one action in `incidents.actions`, which
announces it here as an event. Paging, communication, review and remote register
handlers for the events they care about in their AppConfig.ready(), so that
`incidents` never imports a phase.

Handlers run inside the action's transaction: the rows they write (pages,
deliveries, updates, a review) commit or roll back with the change itself. A
handler with an effect outside the database (a call to another service, a cache
to wake) defers it with `after_commit`.

Two more registries let the phases contribute without being imported: room
panels (context the incident room shows) and closing conditions (what must hold
before an incident may close).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from atalaia.accounts.models import User
from atalaia.incidents.models import Incident

DECLARED = "declared"
LEVEL_CHANGED = "level_changed"  # data: old, new
STAGE_MOVED = "stage_moved"  # data: old, new
STATUS_MOVED = "status_moved"  # data: old, new, message
# The public status became resolved. data: message, and `closing` when the caller
# publishes the closing update itself (comms' publish_update), else None.
RESOLVED = "resolved"
CLOSED = "closed"
RESOLUTION_SET = "resolution_set"  # data: newly_temporary
# Something new went wrong on an incident past its response (a new signal in the
# resolution stage): the responders must hear again. data: reason
RETRIGGERED = "retriggered"
# The incident's alerts were acknowledged at their source (a PagerDuty client's
# acknowledge): paging stops in the same transaction. data: source
ACKNOWLEDGED = "acknowledged"

EVENTS = (DECLARED, LEVEL_CHANGED, STAGE_MOVED, STATUS_MOVED, RESOLVED, CLOSED,
          RESOLUTION_SET, RETRIGGERED, ACKNOWLEDGED)


@dataclass
class Event:
    name: str
    incident: Incident
    actor: User | None
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Event], None]
RoomPanel = Callable[[Incident, User], dict[str, Any]]
ClosingCondition = Callable[[Incident], bool]

_handlers: dict[str, list[Handler]] = {name: [] for name in EVENTS}
_panels: list[RoomPanel] = []
_closing_conditions: list[ClosingCondition] = []


def on(name: str, handler: Handler) -> None:
    """Call `handler` with every `name` event, in the announcing transaction.
    Registering the same handler twice registers it once (ready() may run again)."""
    if name not in _handlers:
        raise ValueError(f"unknown incident event {name!r}")
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def announce(name: str, incident: Incident, actor: User | None, **data: Any) -> None:
    """Tell the listeners, in the order they registered (apps' order in settings)."""
    event = Event(name, incident, actor, data)
    for handler in _handlers[name]:
        handler(event)


def after_commit(effect: Callable[[], None]) -> None:
    """Run an effect outside the database once the change is committed (never
    when it rolls back)."""
    transaction.on_commit(effect)


def add_room_panel(panel: RoomPanel) -> None:
    """A phase's part of the incident room: `panel(incident, user)` returns the
    context its template block reads."""
    if panel not in _panels:
        _panels.append(panel)


def room_panels(incident: Incident, user: User) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for panel in _panels:
        context.update(panel(incident, user))
    return context


def add_closing_condition(condition: ClosingCondition) -> None:
    """`condition(incident)` is true when the phase lets the incident close."""
    if condition not in _closing_conditions:
        _closing_conditions.append(condition)


def may_close(incident: Incident) -> bool:
    return all(condition(incident) for condition in _closing_conditions)
