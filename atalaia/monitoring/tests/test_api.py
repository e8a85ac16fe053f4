"""Monitors in the JSON API: create, read, change, pause, delete, raw results and
availability, with strict input and the console's capabilities."""

import datetime

import pytest
import time_machine

from atalaia.accounts.models import AuditEvent
from atalaia.catalog.models import Service
from atalaia.monitoring.models import CheckRecord, Monitor, MonitorState, ProbeState
from conftest import api

NOW = datetime.datetime(2026, 3, 10, 12, 30, tzinfo=datetime.UTC)
HTTP = {"service": "api", "name": "Public API", "kind": "http",
        "config": {"url": "https://api.example.com/health", "expected_status": ["200-299"]}}


@pytest.fixture
def call(demo, clients, tokens):
    def call(role, method, path, body=None):
        return api(clients[role], method, path, tokens[role], body)
    return call


def test_create_read_and_list(call):
    response = call("commander", "POST", "/monitors", {**HTTP, "interval_seconds": 30})
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["service"] == "api" and created["interval_seconds"] == 30
    assert created["state"] == "unknown" and created["probes"] == [] and created["ping_url"] is None
    monitor = Monitor.objects.get(pk=created["id"])
    assert monitor.config == HTTP["config"]
    assert AuditEvent.objects.filter(action="monitor.create").exists()

    ProbeState.objects.create(monitor=monitor, location="lisbon", state="up", successes=2)
    detail = call("viewer", "GET", f"/monitors/{monitor.pk}").json()
    assert detail["probes"][0]["location"] == "lisbon" and detail["probes"][0]["successes"] == 2
    assert [m["id"] for m in call("viewer", "GET", "/monitors").json()] == [monitor.pk]


def test_list_filters_by_service_state_and_kind(call):
    api_up = Monitor.objects.create(service=Service.objects.get(slug="api"), name="a",
                                    kind="tcp", config={"host": "h", "port": 1}, state="up")
    auth_down = Monitor.objects.create(service=Service.objects.get(slug="auth"), name="b",
                                       kind="tcp", config={"host": "h", "port": 1},
                                       state="down")
    beat = Monitor.objects.create(service=Service.objects.get(slug="auth"), name="c",
                                  kind="heartbeat", state="down", paused=True)

    def ids(query):
        response = call("viewer", "GET", f"/monitors?{query}")
        assert response.status_code == 200, response.content
        return {m["id"] for m in response.json()}

    assert ids("service=auth") == {auth_down.pk, beat.pk}
    assert ids("state=down") == {auth_down.pk}
    assert ids("state=paused") == {beat.pk}
    assert ids("state=up&service=api") == {api_up.pk}
    assert ids("kind=heartbeat") == {beat.pk}
    assert ids("limit=1") == {api_up.pk}
    assert call("viewer", "GET", "/monitors?state=sideways").status_code == 422
    assert call("viewer", "GET", "/monitors?limit=501").status_code == 422


@pytest.mark.parametrize(("body", "status", "detail"), [
    ({**HTTP, "config": {"urll": "x"}}, 422, "config.urll: unknown key"),
    ({**HTTP, "config": {}}, 422, "config.url: required for http monitors"),
    ({**HTTP, "config": {"url": "https://x", "expected_status": ["2xx"]}}, 422,
     "config.expected_status"),
    ({**HTTP, "kind": "heartbeat"}, 422, "config.url: unknown key"),
    ({**HTTP, "colour": "red"}, 422, "colour"),
    ({**HTTP, "kind": "gopher"}, 422, "kind"),
    ({**HTTP, "interval_seconds": 1}, 422, "interval_seconds"),
    ({**HTTP, "timeout_seconds": 1000}, 422, "timeout_seconds"),
    ({**HTTP, "anomaly_k": 9, "anomaly_m": 6}, 422, "anomaly_k: must not exceed anomaly_m"),
    ({**HTTP, "service": "nowhere"}, 400, "service: unknown service 'nowhere'"),
])
def test_create_refuses_wrong_input_naming_the_field(call, body, status, detail):
    response = call("admin", "POST", "/monitors", body)
    assert response.status_code == status, response.content
    assert detail in response.json()["detail"]
    assert not Monitor.objects.exists()


def test_patch_changes_only_what_is_given(call):
    monitor_id = call("commander", "POST", "/monitors", HTTP).json()["id"]
    response = call("commander", "PATCH", f"/monitors/{monitor_id}",
                    {"name": "Renamed", "service": "auth", "severity": "warning"})
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["name"] == "Renamed" and changed["service"] == "auth"
    assert changed["config"] == HTTP["config"] and changed["severity"] == "warning"
    event = AuditEvent.objects.get(action="monitor.update")
    assert event.changes["service"] == ["api", "auth"]

    wrong = call("commander", "PATCH", f"/monitors/{monitor_id}", {"kind": "tcp"})
    assert wrong.status_code == 422 and "config.url: unknown key" in wrong.json()["detail"]
    null = call("commander", "PATCH", f"/monitors/{monitor_id}", {"name": None})
    assert null.status_code == 422 and "name: may not be null" in null.json()["detail"]
    extra = call("commander", "PATCH", f"/monitors/{monitor_id}", {"state": "up"})
    assert extra.status_code == 422
    assert Monitor.objects.get(pk=monitor_id).kind == "http"
    assert call("commander", "PATCH", "/monitors/999999", {"name": "x"}).status_code == 404


def test_pause_resume_and_delete(call):
    monitor_id = call("commander", "POST", "/monitors", HTTP).json()["id"]
    Monitor.objects.filter(pk=monitor_id).update(state=MonitorState.DOWN)
    paused = call("commander", "POST", f"/monitors/{monitor_id}/pause").json()
    assert paused["paused"] is True and paused["state"] == "down"
    assert call("commander", "POST", f"/monitors/{monitor_id}/resume").json()["paused"] is False
    assert call("commander", "DELETE", f"/monitors/{monitor_id}").status_code == 204
    assert call("commander", "GET", f"/monitors/{monitor_id}").status_code == 404
    assert list(AuditEvent.objects.filter(action__startswith="monitor.").values_list(
        "action", flat=True).order_by("pk")) == [
        "monitor.create", "monitor.pause", "monitor.resume", "monitor.delete"]


def test_heartbeat_resumed_gets_a_full_period(call):
    created = call("commander", "POST", "/monitors", {
        "service": "email", "name": "export", "kind": "heartbeat", "interval_seconds": 3600,
        "grace_seconds": 600}).json()
    assert created["ping_url"].endswith(f"/ping/{Monitor.objects.get().ping_key}")
    Monitor.objects.update(deadline_at=NOW, last_ping_at=NOW - datetime.timedelta(hours=1))
    call("commander", "POST", f"/monitors/{created['id']}/pause")
    with time_machine.travel(NOW + datetime.timedelta(days=2), tick=False):
        call("commander", "POST", f"/monitors/{created['id']}/resume")
    assert Monitor.objects.get().deadline_at == NOW + datetime.timedelta(days=2, seconds=4200)


def test_results_are_newest_first_and_bounded(call):
    monitor_id = call("commander", "POST", "/monitors", HTTP).json()["id"]
    CheckRecord.objects.bulk_create([
        CheckRecord(monitor_id=monitor_id, location="lisbon" if i % 2 else "sao-paulo",
                    checked_at=NOW - datetime.timedelta(minutes=i), state="up",
                    latency_ms=float(i)) for i in range(10)])
    results = call("viewer", "GET", f"/monitors/{monitor_id}/results?limit=3").json()
    assert [r["latency_ms"] for r in results] == [0.0, 1.0, 2.0]
    lisbon = call("viewer", "GET", f"/monitors/{monitor_id}/results?location=lisbon").json()
    assert {r["location"] for r in lisbon} == {"lisbon"} and len(lisbon) == 5
    assert call("viewer", "GET", f"/monitors/{monitor_id}/results?limit=1001").status_code == 422
    assert call("viewer", "GET", f"/monitors/{monitor_id}/results?limit=0").status_code == 422


def test_availability_over_three_windows(call):
    monitor_id = call("commander", "POST", "/monitors", HTTP).json()["id"]
    CheckRecord.objects.bulk_create([
        CheckRecord(monitor_id=monitor_id, location="default", state="down" if i < 3 else "up",
                    checked_at=NOW - datetime.timedelta(minutes=i + 1), latency_ms=50.0)
        for i in range(60)])
    with time_machine.travel(NOW, tick=False):
        figures = call("viewer", "GET", f"/monitors/{monitor_id}/availability").json()
    for window in ("last_24h", "last_7d", "last_30d"):
        assert figures[window] == {"availability": 0.95, "checks": 60, "up": 57,
                                   "degraded": 0, "down": 3}
    empty = call("commander", "POST", "/monitors", {**HTTP, "name": "quiet"}).json()["id"]
    with time_machine.travel(NOW, tick=False):
        quiet = call("viewer", "GET", f"/monitors/{empty}/availability").json()
    assert quiet["last_30d"]["availability"] is None


def test_config_secrets_only_for_those_who_may_edit(call):
    body = {"service": "database", "name": "primary", "kind": "postgresql",
            "config": {"host": "db.internal", "user": "monitor", "password": "hunter2"}}
    monitor_id = call("admin", "POST", "/monitors", body).json()["id"]
    assert call("commander", "GET", f"/monitors/{monitor_id}").json()["config"]["password"] \
        == "hunter2"
    seen = call("viewer", "GET", f"/monitors/{monitor_id}").json()["config"]
    assert seen == {"host": "db.internal", "user": "monitor", "password": "********"}
    assert "hunter2" not in call("responder", "GET", "/monitors").content.decode()
    assert "hunter2" not in str(AuditEvent.objects.values_list("changes", flat=True))


@pytest.mark.parametrize("role", ["responder", "communicator", "viewer"])
def test_only_monitor_managers_change_monitors(call, role):
    monitor_id = call("admin", "POST", "/monitors", HTTP).json()["id"]
    assert call(role, "POST", "/monitors", HTTP).status_code == 403
    assert call(role, "PATCH", f"/monitors/{monitor_id}", {"name": "x"}).status_code == 403
    assert call(role, "POST", f"/monitors/{monitor_id}/pause").status_code == 403
    assert call(role, "DELETE", f"/monitors/{monitor_id}").status_code == 403
    assert call(role, "GET", f"/monitors/{monitor_id}").status_code == 200
