"""A crisis walked through the actions on a controlled clock, for the review's tests."""

import datetime as dt

import pytest
import time_machine

from atalaia.comms.actions import publish_update
from atalaia.incidents.actions import declare_incident, move_stage, set_public_status
from atalaia.intake.models import Signal
from atalaia.oncall import paging
from atalaia.oncall.models import Page
from atalaia.review.actions import open_review
from conftest import pass_gate

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def walk(personas, traveller, service="intranet", title="Intranet down", to_review=True):
    """Signal at -7 min, declared at 0, acknowledged at 4, first update at 12, response
    at 20, resolution at 50, monitoring at 70, resolved at 100 (the review opens), the
    review stage at 110. Minutes from T0; the clock is left at 110."""
    commander, responder = personas["commander"], personas["responder"]
    traveller.move_to(at(0))
    incident = declare_incident(commander, title, [service])
    Signal.objects.create(source="generic", dedup_key=f"k-{incident.pk}", severity="error",
                          summary="down", first_seen_at=at(-7), last_seen_at=at(-7),
                          incident=incident)
    traveller.move_to(at(4))
    paging.acknowledge(Page.objects.filter(incident=incident, user=responder).first(),
                       responder, "console")
    traveller.move_to(at(12))
    publish_update(incident, personas["communicator"], "investigating", "Looking", "Olhando")
    traveller.move_to(at(20))
    move_stage(incident, commander, "response")
    traveller.move_to(at(50))
    move_stage(incident, commander, "resolution")
    traveller.move_to(at(70))
    publish_update(incident, personas["communicator"], "monitoring", "Fixed", "Corrigido")
    traveller.move_to(at(100))
    pass_gate(incident, personas)
    set_public_status(incident, commander, "resolved")
    open_review(incident, commander)  # idempotent: the incident's own action calls it too
    traveller.move_to(at(110))
    if to_review:
        move_stage(incident, commander, "review")
    incident.refresh_from_db()
    return incident


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def crisis(demo, personas, clock):
    return walk(personas, clock)
