"""State changes with a controlled clock: quorum over locations, flapping, maintenance."""

import datetime

import pytest
from django.db import transaction

from atalaia.catalog.models import Service
from atalaia.incidents.models import Incident
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import Signal, SignalStatus
from atalaia.monitoring.models import (
    MaintenanceWindow,
    Monitor,
    MonitorKind,
    MonitorState,
    ProbeState,
    Recurrence,
)
from atalaia.monitoring.transitions import resolve_votes, set_state, settle_flapping

START = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def at(minutes: float) -> datetime.datetime:
    return START + datetime.timedelta(minutes=minutes)


@pytest.fixture
def monitor(demo):
    return Monitor.objects.create(service=Service.objects.get(slug="email"), name="smtp",
                                  kind=MonitorKind.TCP, config={"host": "mx", "port": 25},
                                  state=MonitorState.UP, locations_required=2)


def vote(monitor, location, state, minutes, message=None):
    ProbeState.objects.update_or_create(monitor=monitor, location=location, defaults={
        "state": state, "checked_at": at(minutes), "message": message or f"{state} here"})


def change(monitor, state, minutes):
    with transaction.atomic():
        locked = Monitor.objects.select_related("service").get(pk=monitor.pk)
        set_state(locked, state, f"now {state}", at(minutes))
        locked.save()


def test_three_locations_two_needed_to_call_it_down(monitor):
    for location in ("lisbon", "saopaulo", "frankfurt"):
        vote(monitor, location, "up", 0)
    vote(monitor, "lisbon", "down", 1, "connection refused")
    resolve_votes(monitor.pk, at(1))
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.UP
    assert "1 of 3 locations see it down; 2 needed" in monitor.message
    assert not Signal.objects.exists()
    vote(monitor, "saopaulo", "down", 2, "connection refused")
    resolve_votes(monitor.pk, at(2))
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DOWN
    assert monitor.message == "connection refused (from 2 of 3 locations: lisbon, saopaulo)"
    assert Signal.objects.get().status == SignalStatus.OPEN


def test_a_silent_location_stops_counting(monitor):
    vote(monitor, "lisbon", "down", 0)
    vote(monitor, "saopaulo", "up", 0)
    resolve_votes(monitor.pk, at(1))
    assert Monitor.objects.get().state == MonitorState.UP
    vote(monitor, "lisbon", "down", 10)  # São Paulo's prober has been gone 10 minutes
    resolve_votes(monitor.pk, at(10))
    assert Monitor.objects.get().state == MonitorState.DOWN


def test_flapping_raises_one_signal_not_a_storm_and_settles(monitor, settings):
    settings.FLAP_CHANGES, settings.FLAP_WINDOW_MINUTES = 4, 30
    states = ["down", "up", "down", "up", "down", "up", "down", "up"]
    for minute, state in enumerate(states):
        change(monitor, state, minute)
    monitor.refresh_from_db()
    assert monitor.flapping
    keys = sorted(Signal.objects.values_list("dedup_key", "status"))
    # down/up twice (the second down reopened a new signal), then one flapping warning
    assert keys.count((f"monitor-{monitor.pk}-flapping", "open")) == 1
    assert len(keys) == 3
    assert settle_flapping(at(20)) == 0  # 13 minutes of quiet: not yet half the window
    assert settle_flapping(at(23)) == 1
    monitor.refresh_from_db()
    assert not monitor.flapping
    assert not Signal.objects.exclude(status=SignalStatus.RESOLVED).exists()


def test_flapping_that_settles_down_opens_the_down_signal(monitor, settings):
    settings.FLAP_CHANGES = 3
    for minute, state in enumerate(["down", "up", "down", "up", "down"]):
        change(monitor, state, minute)
    settle_flapping(at(40))
    live = Signal.objects.exclude(status=SignalStatus.RESOLVED).get()
    assert live.dedup_key == f"monitor-{monitor.pk}"


def maintenance(**fields):
    window = MaintenanceWindow.objects.create(
        title="database upgrade", starts_at=fields.pop("starts_at", at(-10)),
        duration_minutes=fields.pop("duration_minutes", 60), **fields)
    window.services.set([Service.objects.get(slug="email")])
    return window


def test_signals_during_maintenance_are_recorded_but_declare_nothing(monitor):
    maintenance()
    change(monitor, "down", 5)
    group_signals()
    signal = Signal.objects.get()
    assert signal.in_maintenance and signal.details["maintenance"] == "database upgrade"
    assert signal.incident is None and not Incident.objects.exists()


def test_outside_the_window_the_same_failure_declares_an_incident(monitor):
    maintenance(starts_at=at(-24 * 60 - 10), recurrence=Recurrence.WEEKLY, time_zone="UTC")
    change(monitor, "down", 5)  # the weekly window was yesterday
    group_signals()
    assert not Signal.objects.get().in_maintenance
    assert Incident.objects.get().auto_declared
