"""The prober against a real local HTTP server, with a controlled clock: checks run
when the test moves time, never after sleeps."""

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from atalaia.catalog.models import Service
from atalaia.incidents.models import Incident
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import Signal, SignalStatus
from atalaia.monitoring import baselines
from atalaia.monitoring.checks import CheckResult
from atalaia.monitoring.models import (
    CheckRecord,
    Monitor,
    MonitorKind,
    MonitorState,
    ProbeState,
    StateChange,
)
from atalaia.monitoring.prober import Prober

T0 = 1_796_000_000.0  # 2026-11-30, a Monday; every test moves time from here


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Target:
    """An HTTP server whose answer the test sets."""

    def __init__(self):
        self.status = 200
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"ok" if target.status < 400 else b"failing"
                self.send_response(target.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def target():
    server = Target()
    yield server
    server.server.shutdown()


@pytest.fixture
def monitor(transactional_db, demo, target):
    return Monitor.objects.create(
        service=Service.objects.get(slug="email"), name="webmail", kind=MonitorKind.HTTP,
        config={"url": target.url}, interval_seconds=60, retry_interval_seconds=20,
        timeout_seconds=5, failures_to_down=3, successes_to_up=2, anomaly_detection=False)


def advance(prober: Prober, clock: Clock, seconds: float) -> None:
    clock.now += seconds

    async def turn():
        await prober.turn()
        for origin in prober.origins.values():  # its connections belong to this loop
            await origin.client.aclose()
        prober.origins.clear()

    asyncio.run(turn())


@pytest.fixture
def start():
    """Start probers on a controlled clock; their database threads close after the test."""
    probers: list[Prober] = []

    def start(clock: Clock, location: str = "default", holder: str = "test") -> Prober:
        prober = Prober(location, holder, clock=clock)
        probers.append(prober)
        asyncio.run(prober.renew())
        return prober

    yield start
    for prober in probers:
        prober.close()


def test_down_after_three_failures_at_the_retry_interval_then_up_after_two_successes(
        monitor, target, start):
    clock = Clock()
    prober = start(clock)
    advance(prober, clock, 60)  # the first check falls within the first interval
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.UP and monitor.last_checked_at is not None
    target.status = 500
    advance(prober, clock, 60)
    assert Monitor.objects.get().state == MonitorState.UP  # one failure: not yet
    checked = CheckRecord.objects.count()
    advance(prober, clock, 20)  # retried at the retry interval, not the interval
    assert CheckRecord.objects.count() == checked + 1
    advance(prober, clock, 20)
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DOWN
    assert monitor.message == "expected status 200-399, got 500"
    group_signals()
    signal = Signal.objects.get(dedup_key=f"monitor-{monitor.pk}")
    incident = Incident.objects.get()
    assert signal.incident == incident and signal.service.slug == "email"

    target.status = 200
    advance(prober, clock, 60)
    assert Monitor.objects.get().state == MonitorState.DOWN  # one success: not yet
    advance(prober, clock, 20)
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.UP
    signal.refresh_from_db()
    assert signal.status == SignalStatus.RESOLVED
    assert list(StateChange.objects.order_by("at").values_list("state", flat=True)) == [
        "up", "down", "up"]
    probe = ProbeState.objects.get()
    assert (probe.holder, probe.state, probe.failures, probe.successes) == ("test", "up", 0, 2)


def test_only_state_changes_create_signals(monitor, target, start):
    clock = Clock()
    prober = start(clock)
    target.status = 503
    for _ in range(8):
        advance(prober, clock, 60)
    assert CheckRecord.objects.filter(state="down").count() == 8
    assert Signal.objects.count() == 1


def test_a_paused_monitor_is_not_checked(monitor, start):
    Monitor.objects.filter(pk=monitor.pk).update(paused=True, state=MonitorState.PAUSED)
    clock = Clock()
    prober = start(clock)
    advance(prober, clock, 120)
    assert CheckRecord.objects.count() == 0


def test_a_changed_configuration_is_picked_up_on_the_next_renewal(monitor, target, start):
    clock = Clock()
    prober = start(clock)
    advance(prober, clock, 60)
    Monitor.objects.filter(pk=monitor.pk).update(config={"url": target.url,
                                                         "keyword": "nowhere"},
                                                 failures_to_down=1)
    asyncio.run(prober.renew())
    advance(prober, clock, 60)
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DOWN
    assert "nowhere" in monitor.message


def test_a_latency_deviation_degrades_the_monitor_and_says_by_how_much(monitor, start):
    """Results fed straight to the prober: 3 hours of ordinary latency, then 8 minutes
    at four times the usual."""
    Monitor.objects.filter(pk=monitor.pk).update(anomaly_detection=True)
    clock = Clock()
    prober = start(clock)
    watch = prober.watches[monitor.pk]
    for minute in range(180):
        clock.now = T0 + 60 * minute
        prober._record(watch, CheckResult("up", 100.0 + (minute % 7) * 3, "HTTP 200"),
                       clock.now)
    asyncio.run(prober.flush())
    assert Monitor.objects.get().state == MonitorState.UP
    for minute in range(180, 188):
        clock.now = T0 + 60 * minute
        prober._record(watch, CheckResult("up", 420.0, "HTTP 200"), clock.now)
        asyncio.run(prober.flush())
    monitor.refresh_from_db()
    assert monitor.state == MonitorState.DEGRADED
    assert "420 ms" in monitor.message and "recent" in monitor.message
    assert monitor.anomaly["factor"] == pytest.approx(420 / monitor.anomaly["baseline"]
                                                      ["median"], rel=0.01)
    signal = Signal.objects.get(dedup_key=f"monitor-{monitor.pk}-degraded")
    assert signal.severity == "warning" and "420 ms" in signal.summary
    assert signal.details["anomaly"]["baseline"]["basis"] == "recent"


def test_ordinary_noise_raises_no_anomaly(monitor, start):
    import numpy as np

    Monitor.objects.filter(pk=monitor.pk).update(anomaly_detection=True)
    clock = Clock()
    prober = start(clock)
    watch = prober.watches[monitor.pk]
    noise = np.random.default_rng(7).lognormal(np.log(120), 0.25, 600)
    for minute, latency in enumerate(noise):
        clock.now = T0 + 60 * minute
        prober._record(watch, CheckResult("up", float(latency), "HTTP 200"), clock.now)
        if minute % 30 == 0:
            asyncio.run(prober.flush())
    asyncio.run(prober.flush())
    assert Monitor.objects.get().state == MonitorState.UP
    assert not StateChange.objects.filter(state="degraded").exists()
    assert baselines.DEFAULTS.k == 5  # the documented default the test relies on
