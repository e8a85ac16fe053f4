"""What the monitors say to the verification gate (incidents/gate.py): the gate sits
below monitoring, so monitoring hands it this reader when the app is ready."""

from __future__ import annotations

from collections.abc import Iterable

from atalaia.catalog.models import Service
from atalaia.incidents.gate import MonitorReading
from atalaia.monitoring.models import Monitor, MonitorState


def monitor_readings(services: list[Service]) -> Iterable[MonitorReading]:
    """Every monitor of the services that is not paused: a paused monitor says nothing."""
    monitors = (Monitor.objects.filter(service__in=services)
                .exclude(state=MonitorState.PAUSED)
                .values_list("name", "service_id", "state", "state_since"))
    return [MonitorReading(name, service_id, state == MonitorState.UP, since)
            for name, service_id, state, since in monitors]
