"""Heartbeat monitors, with a controlled clock: pings, lateness, runs, failures."""

import datetime

import pytest
import time_machine
from django.test import Client

from atalaia.catalog.models import Service
from atalaia.incidents.models import Incident, Stage
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import Signal, SignalStatus
from atalaia.monitoring.heartbeats import check_deadlines
from atalaia.monitoring.models import Monitor, MonitorKind, MonitorState

START = datetime.datetime(2026, 11, 29, 3, 0, tzinfo=datetime.UTC)


@pytest.fixture
def monitor(demo):
    return Monitor.objects.create(service=Service.objects.get(slug="email"),
                                  name="nightly export", kind=MonitorKind.HEARTBEAT,
                                  interval_seconds=3600, grace_seconds=300)


def at(minutes: float):
    return time_machine.travel(START + datetime.timedelta(minutes=minutes), tick=False)


def ping(monitor, suffix="", method="get"):
    return getattr(Client(), method)(f"/ping/{monitor.ping_key}{suffix}")


def test_a_late_heartbeat_opens_an_incident_and_the_next_ping_clears_it(monitor):
    with at(0):
        assert ping(monitor).status_code == 200
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.UP
    with at(64):  # within interval + grace
        assert check_deadlines() == 0
    with at(66):
        assert check_deadlines() == 1
        group_signals()
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DOWN
    assert "no ping in time; last ping: 2026-11-29T03:00:00+00:00" in monitor.message
    incident = Incident.objects.get()
    assert incident.auto_declared and list(incident.services.values_list("slug", flat=True)) \
        == ["email"]
    with at(70):
        assert ping(monitor, method="post").status_code == 200
        group_signals()
    incident.refresh_from_db()
    assert Signal.objects.get().status == SignalStatus.RESOLVED
    assert incident.stage == Stage.RESOLUTION


def test_a_run_that_starts_and_never_finishes_is_late_after_the_grace(monitor):
    with at(0):
        ping(monitor, "/start")
    with at(4):
        assert check_deadlines() == 0
    with at(6):
        assert check_deadlines() == 1
    monitor.refresh_from_db()
    assert "a run started and did not finish" in monitor.message


def test_run_time_is_measured_from_start_to_success(monitor):
    with at(0):
        ping(monitor, "/start")
    with at(2.5):
        ping(monitor, "/0")
    monitor.refresh_from_db()
    assert monitor.last_run_seconds == 150.0
    assert monitor.state == MonitorState.UP


@pytest.mark.parametrize(("suffix", "message"), [
    ("/fail", "the job reported failure"),
    ("/3", "the job reported failure (exit code 3)"),
])
def test_failure_is_down_at_once(monitor, suffix, message):
    with at(0):
        ping(monitor)
        ping(monitor, suffix)
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DOWN and monitor.message == message
    assert Signal.objects.get().status == SignalStatus.OPEN


def test_unknown_keys_and_bad_codes_are_refused(monitor):
    assert Client().get("/ping/7b7a3c9e-0000-4000-8000-000000000000").status_code == 404
    assert Client().get("/ping/not-a-uuid").status_code == 404
    assert ping(monitor, "/300").status_code == 400
    assert Client().put(f"/ping/{monitor.ping_key}").status_code == 405


def test_guessing_keys_is_rate_limited_per_client_and_good_pings_are_not(monitor, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    guesser = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    with at(0) as clock:
        for n in range(30):
            assert guesser.post(f"/ping/7b7a3c9e-0000-4000-8000-{n:012d}").status_code == 404
        refused = guesser.post("/ping/7b7a3c9e-0000-4000-8000-000000000099")
        # 30 a minute: one more every 2 s.
        assert refused.status_code == 429 and refused["Retry-After"] == "2"
        assert refused.content == b"Too many requests. Try again in 2 seconds.\n"
        assert guesser.post(f"/ping/{monitor.ping_key}").status_code == 200  # a good key
        # Another client behind the proxy; a forged header from outside is no proxy's.
        assert Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.8").post(
            "/ping/7b7a3c9e-0000-4000-8000-000000000099").status_code == 404
        outsider = Client(REMOTE_ADDR="203.0.113.5")
        for n in range(30):
            outsider.post(f"/ping/7b7a3c9e-0000-4000-8000-{n:012d}",
                          HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        assert outsider.post("/ping/7b7a3c9e-0000-4000-8000-000000000099",
                             HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 429
        clock.shift(2)
        assert guesser.post("/ping/7b7a3c9e-0000-4000-8000-000000000099").status_code == 404


def test_a_paused_monitor_raises_no_signal(monitor):
    Monitor.objects.filter(pk=monitor.pk).update(paused=True)
    with at(0):
        ping(monitor, "/fail")
    assert not Signal.objects.exists()


def test_cli_adds_a_heartbeat_and_prints_its_ping_url(demo):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("monitor_heartbeat", "email", "backup", "--period", "86400", stdout=out)
    monitor = Monitor.objects.get(name="backup")
    assert out.getvalue().strip().endswith(f"/ping/{monitor.ping_key}")
    assert (monitor.interval_seconds, monitor.grace_seconds) == (86400, 300)


def test_runs_that_take_far_longer_than_usual_degrade_the_monitor(monitor):
    """Hourly runs of about a minute for 30 hours, then runs of five minutes."""
    def run(hour: int, seconds: float):
        with at(hour * 60):
            ping(monitor, "/start")
        with at(hour * 60 + seconds / 60):
            assert ping(monitor).status_code == 200

    for hour in range(30):
        run(hour, 55 + hour % 4 * 5)
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.UP and monitor.anomaly == {}
    for hour in range(30, 34):
        run(hour, 300)
    assert Monitor.objects.get().state == MonitorState.UP  # 4 slow runs of the last 6
    run(34, 300)
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DEGRADED
    assert monitor.message.startswith("run time 5 min is "), monitor.message
    assert monitor.anomaly["factor"] > 4
    assert Signal.objects.get(dedup_key=f"monitor-{monitor.pk}-degraded").severity == "warning"


def test_every_ping_is_a_result_for_availability(monitor):
    from atalaia.monitoring.models import CheckRecord

    with at(0):
        ping(monitor)
    with at(70):
        check_deadlines()
    assert list(CheckRecord.objects.order_by("checked_at").values_list("state", flat=True)) \
        == ["up", "down"]
