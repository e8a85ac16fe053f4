"""Scheduled maintenance moves by itself at its times and tells subscribers; the
static export serves the same page and JSON from a plain web server."""

import datetime
import json
import subprocess
import sys
import time

import httpx
import icalendar
import pytest
import time_machine
from django.test import Client

from atalaia.comms import actions, export, reminders
from atalaia.comms.models import Broadcast, ComponentState
from atalaia.incidents.actions import declare_incident
from atalaia.monitoring.models import MaintenanceWindow
from atalaia.notify.contacts import add_verified
from atalaia.notify.models import Delivery
from tests.servers import free_port

T0 = datetime.datetime(2026, 12, 5, 2, 0, tzinfo=datetime.UTC)


def at(minutes: float):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


@pytest.fixture
def planned(demo, personas):
    with at(-24 * 60):
        return actions.schedule_maintenance(personas["communicator"], {
            "title_en": "Database upgrade", "title_pt": "Atualização do banco",
            "scheduled_for": T0, "scheduled_until": T0 + datetime.timedelta(hours=1)},
            ["payments", "checkout"])


def test_maintenance_starts_and_completes_at_its_times(planned):
    assert Broadcast.objects.filter(maintenance=planned, event="announced").exists()
    window = MaintenanceWindow.objects.get(title="Database upgrade")  # alerts are silenced
    assert window.duration_minutes == 60
    with at(-1):
        assert actions.run_maintenances() == 0
    with at(0):
        assert actions.run_maintenances() == 1
    planned.refresh_from_db()
    assert planned.status == "in_progress" and planned.sequence == 1
    assert ComponentState.objects.get(service__slug="payments",
                                      ended_at__isnull=True).status == "under_maintenance"
    with at(60):
        assert actions.run_maintenances() == 1
    planned.refresh_from_db()
    assert planned.status == "completed"
    assert ComponentState.objects.get(service__slug="payments",
                                      ended_at__isnull=True).status == "operational"
    events = set(Broadcast.objects.filter(maintenance=planned).values_list("event", flat=True))
    assert events == {"announced", "started", "completed"}


def test_a_person_moving_it_takes_over_from_the_clock(planned, personas):
    with at(0):
        actions.move_maintenance(planned, personas["communicator"], "verifying")
    planned.refresh_from_db()
    assert not planned.automatic
    with at(90):
        assert actions.run_maintenances() == 0
    cal = icalendar.Calendar.from_ical(Client().get("/status/maintenance.ics").content)
    (event,) = [c for c in cal.walk("VEVENT")]
    assert int(event["SEQUENCE"]) == planned.sequence


def test_communicators_are_reminded_before_it_starts(planned, personas, settings):
    add_verified(personas["communicator"], "email", "comms@example.test", "work")
    settings.MAINTENANCE_REMINDER_MINUTES = 30
    with at(-31):
        assert reminders.maintenance_soon() == 0
    with at(-29):
        assert reminders.maintenance_soon() == 1
        assert reminders.maintenance_soon() == 0
    assert Delivery.objects.get(purpose="reminder").recipient == "communicator"


def test_a_late_update_reminds_the_communications_lead_once(demo, personas):
    add_verified(personas["communicator"], "email", "comms@example.test", "work")
    with at(0):
        incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    with at(14):
        assert reminders.late_updates() == 0
    with at(16):
        assert reminders.late_updates() == 1
        assert reminders.late_updates() == 0
    with at(20):
        actions.publish_update(incident, personas["communicator"], "investigating", "a", "b")
    with at(36):
        assert reminders.late_updates() == 1  # the next due time, once


@pytest.mark.slow
def test_the_static_export_serves_the_same_page_and_json(demo, personas, tmp_path):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    actions.publish_update(incident, personas["communicator"], "investigating",
                           "Card payments fail.", "Pagamentos falham.",
                           components={"payments": "major_outage"})
    folder = tmp_path / "site"
    assert export.export(folder) > 20
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                page = httpx.get(base + "/status/")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert page.text == Client().get("/status/?lang=en").content.decode()
        summary = httpx.get(base + "/status/api/v2/summary.json").json()
        live = json.loads(Client().get("/status/api/v2/summary.json?lang=en").content)
        assert summary == live and summary["incidents"][0]["name"] == "Payments failing"
        tracking = httpx.get(base + f"/status/incidents/{incident.pk}").text
        assert "Card payments fail." in tracking
    finally:
        server.terminate()
        server.wait(5)
    assert (folder / f"status/incidents/{incident.pk}.pt-br").read_text().count(
        "Pagamentos falham.") == 1
