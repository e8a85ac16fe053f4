"""Monitors and maintenance windows in the console: the list with its figures, the
detail page, the form with Test now (against a real local HTTP server), and who may
do what."""

import datetime
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from atalaia.accounts.models import AuditEvent
from atalaia.catalog.models import Service
from atalaia.monitoring.models import (
    CheckRecord,
    MaintenanceWindow,
    Monitor,
    MonitorKind,
    MonitorState,
    ProbeState,
    Rollup,
    StateChange,
)
from conftest import signed_in

NOW = datetime.datetime(2026, 3, 10, 12, 30, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def make_monitor(slug="api", name="API health", kind=MonitorKind.HTTP, **fields):
    config = fields.pop("config", {"url": "http://127.0.0.1:9/health"} if kind == "http" else {})
    return Monitor.objects.create(service=Service.objects.get(slug=slug), name=name, kind=kind,
                                  config=config, **fields)


def results(monitor, count=60, down=3, latency=100.0, end=NOW - datetime.timedelta(seconds=5)):
    """`count` raw results, one a minute up to `end`, the first `down` of them down."""
    CheckRecord.objects.bulk_create([
        CheckRecord(monitor=monitor, location="default", state="down" if i < down else "up",
                    checked_at=end - datetime.timedelta(minutes=i),
                    latency_ms=None if i < down else latency,
                    message="connection refused" if i < down else "")
        for i in range(count)])


def row(page: str, monitor) -> str:
    match = re.search(rf'<tr id="monitor-{monitor.pk}".*?</tr>', page, re.S)
    assert match, f"no row for monitor {monitor.pk}"
    return match.group(0)


def test_list_shows_state_latency_sparkline_and_availability(demo, clients, clock):
    plain = make_monitor(name="Checkout page", slug="checkout", state=MonitorState.DOWN,
                         last_checked_at=NOW - datetime.timedelta(seconds=30),
                         last_latency_ms=123.4, message="connection <refused>")
    results(plain)  # 3 down of 60
    rolled = make_monitor(name="Login", slug="auth", state=MonitorState.UP, flapping=True)
    results(rolled, count=60, down=3, latency=80.0)
    # 08:00 today rolled up; yesterday and a day in the window as daily roll-ups; a day
    # before the 30-day window that must not count.
    Rollup.objects.bulk_create([
        Rollup(monitor=rolled, period="hour", starts_at=NOW.replace(hour=8, minute=0),
               checks=40, up=40, latency_p50=200.0),
        Rollup(monitor=rolled, period="day", starts_at=NOW.replace(hour=0, minute=0) - DAY,
               checks=100, up=85, degraded=5, down=10),
        Rollup(monitor=rolled, period="day", starts_at=datetime.datetime(
            2026, 2, 20, tzinfo=datetime.UTC), checks=100, up=100),
        Rollup(monitor=rolled, period="day", starts_at=datetime.datetime(
            2026, 2, 1, tzinfo=datetime.UTC), checks=100, down=100)])

    page = clients["viewer"].get("/monitors/").content.decode()

    first = row(page, plain)
    assert "Down" in first and "123 ms" in first
    assert "connection &lt;refused&gt;" in first
    assert "95.00 %" in re.search(r'class="availability-24h">(.*?)</td>', first, re.S)[1]
    assert "95.00 %" in re.search(r'class="availability-30d">(.*?)</td>', first, re.S)[1]
    second = row(page, rolled)
    assert "flapping" in second
    # 24 h: 40 rolled-up checks at 08:00 and 57 of 60 raw ones up.
    assert "97.00 %" in re.search(r'class="availability-24h">(.*?)</td>', second, re.S)[1]
    # 30 d: today (97 of 100), yesterday (90 of 100, degraded counts), 20 February
    # (100 of 100); 1 February is outside. 287/300 = 95.666… shown rounded down.
    assert "95.66 %" in re.search(r'class="availability-30d">(.*?)</td>', second, re.S)[1]
    # Sparkline: 08:00 alone (a dot), 09:00 and 10:00 empty (a gap), 11:00-12:00 a line.
    svg = re.search(r"<svg.*?</svg>", second, re.S)[0]
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    for points in re.findall(r'points="([^"]*)"', svg):
        assert re.fullmatch(r"[0-9., ]+", points)
    # The hour with down checks (12:00) is marked.
    assert svg.count("<rect") == 1
    # Grouped by service: each service heads its monitors.
    page = page[page.index('<table id="monitors">'):]
    assert page.index(">Login and accounts<") < page.index(f'id="monitor-{rolled.pk}"') \
        < page.index(">Checkout<") < page.index(f'id="monitor-{plain.pk}"')


def test_a_monitor_without_checks_shows_dashes(demo, clients, clock):
    monitor = make_monitor()
    cells = row(clients["viewer"].get("/monitors/").content.decode(), monitor)
    assert "95.00" not in cells and cells.count("—") >= 3 and "<svg" not in cells


def test_heartbeats_show_their_ping_url_and_last_ping(demo, clients, clock, settings):
    settings.SITE_URL = "https://atalaia.example.com"
    beat = make_monitor(slug="email", name="nightly export", kind=MonitorKind.HEARTBEAT,
                        last_ping_at=NOW - 2 * HOUR)
    cells = row(clients["viewer"].get("/monitors/").content.decode(), beat)
    assert f"https://atalaia.example.com/ping/{beat.ping_key}" in cells
    assert "pinged 2\xa0hours ago" in cells


def test_filters_by_state_service_and_name(demo, clients, clock):
    down = make_monitor(name="Down one", state=MonitorState.DOWN)
    up = make_monitor(name="Up one", slug="auth", state=MonitorState.UP)
    paused = make_monitor(name="Paused one", state=MonitorState.DOWN, paused=True)

    def shown(query):
        page = clients["viewer"].get(f"/monitors/?{query}").content.decode()
        return {m.name for m in (down, up, paused) if f'id="monitor-{m.pk}"' in page}

    assert shown("") == {"Down one", "Up one", "Paused one"}
    assert shown("state=down") == {"Down one"}
    assert shown("state=paused") == {"Paused one"}
    assert shown("service=auth") == {"Up one"}
    assert shown("q=paused") == {"Paused one"}
    assert shown("state=nonsense&sort=nonsense") == {"Down one", "Up one", "Paused one"}
    page = clients["viewer"].get("/monitors/?sort=state").content.decode()
    assert page.index("Down one") < page.index("Up one") < page.index("Paused one")


def test_list_queries_do_not_grow_with_monitors(demo, clients, clock):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert clients["viewer"].get("/monitors/").status_code == 200
        return len(captured)

    for i in range(2):
        results(make_monitor(name=f"m{i}"), count=5)
    few = count()
    for i in range(2, 15):
        results(make_monitor(name=f"m{i}", slug="auth"), count=5)
    # Session and user, counts, the page and its count, services, and four for the figures.
    assert count() <= few <= 12


def test_list_pages_at_fifty(demo, clients, clock):
    Monitor.objects.bulk_create([Monitor(service=Service.objects.get(slug="api"),
                                         name=f"m{i:03}", kind="tcp",
                                         config={"host": "127.0.0.1", "port": 9})
                                 for i in range(55)])
    first = clients["viewer"].get("/monitors/").content.decode()
    assert first.count('<tr id="monitor-') == 50 and "Page 1 of 2" in first
    second = clients["viewer"].get("/monitors/?page=2").content.decode()
    assert second.count('<tr id="monitor-') == 5


def test_detail_shows_probes_changes_baseline_results_and_availability(demo, clients, clock):
    monitor = make_monitor(state=MonitorState.DEGRADED, message="slow: 900 ms",
                           baseline={"median_ms": 120.5, "mad_ms": 8, "kind": "hour-of-week"},
                           anomaly={"observed_ms": 900, "k": 5},
                           config={"url": "https://user:secret@api.example.com/health",
                                   "headers": {"Authorization": "Bearer abc"}})
    results(monitor)
    ProbeState.objects.create(monitor=monitor, location="lisbon", holder="prober[lisbon]@h1",
                              lease_until=NOW + datetime.timedelta(seconds=30),
                              state="degraded", failures=0, successes=4, checked_at=NOW)
    StateChange.objects.create(monitor=monitor, at=NOW - HOUR, previous="up",
                               state="degraded", message="slow: 900 ms")
    page = clients["viewer"].get(f"/monitors/{monitor.pk}/").content.decode()
    assert "lisbon" in page and "prober[lisbon]@h1" in page and "0 / 4" in page
    assert 'id="changes"' in page and "slow: 900 ms" in page
    assert "median_ms" in page and "120.5" in page and "observed_ms" in page
    assert page.count("connection refused") == 3
    for window in ("24h", "7d", "30d"):
        cell = re.search(rf'class="availability-{window}">(.*?)</dd>', page, re.S)[1]
        assert "95.00 %" in cell
    # Someone who may not edit the monitor does not see its secrets.
    assert "secret" not in page and "Bearer abc" not in page
    assert "secret" in clients["commander"].get(f"/monitors/{monitor.pk}/").content.decode()


def form_data(**overrides):
    data = {"service": "api", "name": "API health", "kind": "http",
            "config": "url: http://127.0.0.1:9/health\n", "interval_seconds": "60",
            "retry_interval_seconds": "20", "timeout_seconds": "5", "failures_to_down": "3",
            "successes_to_up": "2", "locations_required": "1", "severity": "critical",
            "anomaly_detection": "on", "anomaly_k": "5", "anomaly_m": "6",
            "grace_seconds": "300"}
    data.update(overrides)
    return data


def test_create_shows_the_wrong_config_key_next_to_the_field(demo, clients):
    client = clients["commander"]
    page = client.post("/monitors/new/", form_data(config="urll: http://x\n")).content.decode()
    assert "config.urll: unknown key" in page
    page = client.post("/monitors/new/", form_data(config="keyword: ok\n")).content.decode()
    assert "config.url: required for http monitors" in page
    page = client.post("/monitors/new/", form_data(config="url: [unclosed\n")).content.decode()
    assert "not valid YAML" in page
    page = client.post("/monitors/new/", form_data(anomaly_k="9")).content.decode()
    assert "anomaly_k: must not exceed anomaly_m" in page
    page = client.post("/monitors/new/", form_data(interval_seconds="1")).content.decode()
    assert "greater than or equal to 10" in page
    assert not Monitor.objects.exists()


def test_create_edit_and_delete(demo, clients, personas):
    client = clients["commander"]
    response = client.post("/monitors/new/", form_data(
        config='{"url": "http://127.0.0.1:9/", "expected_status": ["200-299"], '
               '"headers": {"Authorization": "Bearer s3cret"}}'))
    monitor = Monitor.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/monitors/{monitor.pk}/"
    assert monitor.config["expected_status"] == ["200-299"] and monitor.timeout_seconds == 5.0
    assert AuditEvent.objects.filter(action="monitor.create", actor=personas["commander"]).exists()

    edit = client.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert "expected_status" in edit and 'value="API health"' in edit
    response = client.post(f"/monitors/{monitor.pk}/edit/", form_data(
        name="API <health>", interval_seconds="30",
        config="url: http://127.0.0.1:9/\nheaders: {Authorization: Bearer n3w}\n"))
    assert response.status_code == 302
    monitor.refresh_from_db()
    assert monitor.name == "API <health>" and monitor.interval_seconds == 30
    event = AuditEvent.objects.get(action="monitor.update")
    assert event.changes["interval_seconds"] == [60, 30]
    assert set(event.changes["config_keys"]) == {"expected_status", "headers"}
    assert "n3w" not in str(event.changes) and "s3cret" not in str(event.changes)
    listed = clients["viewer"].get("/monitors/").content.decode()
    assert "API &lt;health&gt;" in listed and "API <health>" not in listed

    confirm = client.get(f"/monitors/{monitor.pk}/delete/")
    assert confirm.status_code == 200 and Monitor.objects.exists()
    assert client.post(f"/monitors/{monitor.pk}/delete/").status_code == 302
    assert not Monitor.objects.exists()
    assert AuditEvent.objects.filter(action="monitor.delete").exists()


def test_pause_and_resume(demo, clients):
    monitor = make_monitor(state=MonitorState.DOWN)
    assert clients["commander"].post(f"/monitors/{monitor.pk}/pause/").status_code == 302
    monitor.refresh_from_db()
    assert monitor.paused and monitor.state == MonitorState.DOWN
    assert "Resume" in clients["commander"].get(f"/monitors/{monitor.pk}/").content.decode()
    clients["commander"].post(f"/monitors/{monitor.pk}/resume/")
    monitor.refresh_from_db()
    assert not monitor.paused
    assert list(AuditEvent.objects.filter(action__startswith="monitor.").values_list(
        "action", flat=True).order_by("pk")) == ["monitor.pause", "monitor.resume"]


class Target(BaseHTTPRequestHandler):
    def do_GET(self):
        status = 500 if self.path.startswith("/fail") else 200
        body = b"broken" if status == 500 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def target():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_test_now_runs_the_check_in_the_form_without_saving(demo, clients, target):
    client = clients["commander"]
    page = client.post("/monitors/new/", form_data(config=f"url: {target}/ok\n", test="1"))
    text = page.content.decode()
    assert page.status_code == 200 and 'id="test-result"' in text
    assert "Up" in text and "HTTP 200 in" in text and f"{target}/ok" in text
    assert not Monitor.objects.exists()

    saved = make_monitor(config={"url": f"{target}/ok"})
    text = client.post(f"/monitors/{saved.pk}/edit/", form_data(
        config=f"url: {target}/fail\n", name="changed", test="1")).content.decode()
    result = re.search(r'id="test-result">(.*?)</section>', text, re.S)[1]
    assert "Down" in result and "expected status 200-399, got 500" in result
    saved.refresh_from_db()
    assert saved.name == "API health" and saved.config == {"url": f"{target}/ok"}
    assert AuditEvent.objects.filter(action="monitor.test").count() == 2


def test_test_now_waits_at_most_thirty_seconds(demo, clients, monkeypatch):
    from atalaia.monitoring import views

    seen = []

    async def fake_run_check(check):
        seen.append(check.timeout)
        return views.CheckResult("up", 1.0, "fine")

    monkeypatch.setattr(views, "run_check", fake_run_check)
    clients["commander"].post("/monitors/new/", form_data(timeout_seconds="90", test="1"))
    assert seen == [30.0]


def test_heartbeats_cannot_be_tested(demo, clients):
    text = clients["commander"].post("/monitors/new/", form_data(
        kind="heartbeat", config="", test="1")).content.decode()
    assert "Heartbeat monitors cannot be tested" in text
    assert not AuditEvent.objects.filter(action="monitor.test").exists()


def test_test_now_with_a_wrong_config_runs_nothing(demo, clients):
    text = clients["commander"].post("/monitors/new/", form_data(
        config="host: x\n", test="1")).content.decode()
    assert "config.host: unknown key" in text and 'id="test-result"' not in text


@pytest.mark.parametrize("role", ["viewer", "responder", "communicator"])
def test_only_monitor_managers_create_edit_or_test(demo, clients, role, target):
    monitor = make_monitor()
    client = clients[role]
    assert client.get("/monitors/new/").status_code == 403
    assert client.post("/monitors/new/", form_data(
        config=f"url: {target}/ok\n", test="1")).status_code == 403
    assert client.post(f"/monitors/{monitor.pk}/edit/", form_data(test="1")).status_code == 403
    assert client.post(f"/monitors/{monitor.pk}/delete/").status_code == 403
    assert client.post(f"/monitors/{monitor.pk}/pause/").status_code == 403
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert "/edit/" not in page and "New monitor" not in client.get("/monitors/").content.decode()
    assert not AuditEvent.objects.filter(action__startswith="monitor.").exists()


def test_posts_need_the_csrf_token(demo, personas):
    client = signed_in(personas["commander"])
    client.handler.enforce_csrf_checks = True
    monitor = make_monitor()
    assert client.post("/monitors/new/", form_data()).status_code == 403
    assert client.post(f"/monitors/{monitor.pk}/delete/").status_code == 403
    page = client.get("/monitors/new/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    assert client.post("/monitors/new/", form_data(csrfmiddlewaretoken=token)).status_code == 302


def window_data(**overrides):
    data = {"title": "Database upgrade", "services": ["database", "api"],
            "starts_at": "2026-03-15T02:00", "duration_minutes": "90",
            "time_zone": "America/Sao_Paulo", "recurrence": "weekly", "weekdays": ["6"],
            "until": ""}
    data.update(overrides)
    return data


def test_maintenance_windows_crud(demo, clients):
    client = clients["commander"]
    assert client.get("/maintenance/new/").status_code == 200
    response = client.post("/maintenance/new/", window_data())
    assert response.status_code == 302 and response["Location"] == "/maintenance/"
    window = MaintenanceWindow.objects.get()
    # 02:00 in São Paulo (UTC-3) is 05:00 UTC.
    assert window.starts_at == datetime.datetime(2026, 3, 15, 5, 0, tzinfo=datetime.UTC)
    assert window.weekdays == [6] and window.recurrence == "weekly"
    assert set(window.services.values_list("slug", flat=True)) == {"database", "api"}

    page = clients["viewer"].get("/maintenance/").content.decode()
    assert "Database upgrade" in page and "2026-03-15 02:00" in page
    assert "America/Sao_Paulo" in page and "1 h 30 min" in page and "Sunday" in page
    assert "/edit/" not in page

    edit = client.get(f"/maintenance/{window.pk}/edit/").content.decode()
    assert 'value="2026-03-15T02:00"' in edit
    response = client.post(f"/maintenance/{window.pk}/edit/", window_data(
        title="DB upgrade", recurrence="none", weekdays=[], services=["database"]))
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.title == "DB upgrade" and window.weekdays == []
    assert list(window.services.values_list("slug", flat=True)) == ["database"]

    assert client.post(f"/maintenance/{window.pk}/delete/").status_code == 302
    assert not MaintenanceWindow.objects.exists()
    assert list(AuditEvent.objects.filter(action__startswith="maintenance.").values_list(
        "action", flat=True).order_by("pk")) == [
        "maintenance.create", "maintenance.update", "maintenance.delete"]


@pytest.mark.parametrize(("overrides", "error"), [
    ({"time_zone": "Mars/Olympus_Mons"}, "is not a known time zone"),
    ({"time_zone": "../../etc/passwd"}, "is not a known time zone"),
    ({"recurrence": "daily"}, "Only weekly windows repeat on chosen days."),
    ({"recurrence": "none", "weekdays": [], "until": "2026-04-01T00:00"},
     "Only a recurring window has an end date."),
    ({"until": "2026-03-01T00:00"}, "The end date is before the first start."),
    ({"weekdays": ["7"]}, "Select a valid choice"),
    ({"duration_minutes": "0"}, "greater than or equal to 1"),
])
def test_maintenance_window_errors(demo, clients, overrides, error):
    response = clients["commander"].post("/maintenance/new/", window_data(**overrides))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_only_monitor_managers_change_maintenance(demo, clients):
    window = MaintenanceWindow.objects.create(title="w", starts_at=NOW, duration_minutes=10)
    for role in ("viewer", "responder", "communicator"):
        assert clients[role].get("/maintenance/").status_code == 200
        assert clients[role].post("/maintenance/new/", window_data()).status_code == 403
        assert clients[role].post(f"/maintenance/{window.pk}/delete/").status_code == 403
    assert Client().get("/maintenance/").status_code == 302


def test_days_not_rolled_up_yet_come_from_the_hourly_series(demo):
    from atalaia.monitoring.summary import overviews

    monitor = make_monitor()
    today = NOW.replace(hour=0, minute=0)
    Rollup.objects.create(monitor=monitor, period="day", starts_at=today - 5 * DAY, checks=100,
                          up=100)
    results(monitor, count=10, down=10, end=NOW - 2 * DAY)  # the worker is behind
    results(monitor, count=10, down=0)
    windows = overviews([monitor.pk], (7, 30), now=NOW)[monitor.pk].windows
    assert (windows["24h"].checks, windows["24h"].down) == (10, 0)
    assert (windows["7d"].checks, windows["7d"].down) == (120, 10)
    assert (windows["30d"].checks, windows["30d"].down) == (120, 10)
    assert windows["30d"].percent == 91.66
