"""Prometheus Alertmanager's webhook: a canned v4 payload, and the real Alertmanager."""

import datetime
import json
import shutil
import subprocess
import time

import httpx
import pytest
from django.test import Client

from atalaia.incidents.models import Incident, Stage
from atalaia.intake.actions import create_integration
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import Signal, SignalStatus
from tests.servers import clock_of, free_port

PAYLOAD = {
    "version": "4", "status": "firing", "receiver": "atalaia", "groupKey": "{}:{}",
    "truncatedAlerts": 0, "externalURL": "http://am.example", "groupLabels": {},
    "commonLabels": {}, "commonAnnotations": {},
    "alerts": [{
        "status": "firing", "labels": {"alertname": "HighErrorRate", "service": "api",
                                       "severity": "critical"},
        "annotations": {"summary": "API 5xx above 5%"}, "startsAt": "2026-11-29T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
        "fingerprint": "c0ffee"}],
}


def post(path, body, key):
    return Client().post(path, json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {key}")


def test_webhook_payload_becomes_a_signal_and_resolves(demo):
    _integration, key = create_integration("alertmanager", "Prometheus")
    assert post("/intake/alertmanager", PAYLOAD, key).status_code == 202
    signal = Signal.objects.get()
    assert (signal.dedup_key, signal.service.slug, signal.severity) == ("c0ffee", "api",
                                                                        "critical")
    assert signal.summary == "API 5xx above 5%"
    assert signal.links == [{"href": "http://prom/graph", "text": "source"}]
    resolved = json.loads(json.dumps(PAYLOAD))
    resolved["alerts"][0]["status"] = "resolved"
    assert post(f"/intake/alertmanager/{key}", resolved, "").status_code == 202
    assert Signal.objects.get().status == SignalStatus.RESOLVED


@pytest.mark.parametrize(("body", "status"), [
    ({"alerts": "nope"}, 400),
    ({"alerts": [{"status": "burning", "labels": {}, "annotations": {}}]}, 400),
    ({"alerts": [{"status": "firing", "labels": [], "annotations": {}}]}, 400),
])
def test_malformed_batches_are_refused_whole(demo, body, status):
    _integration, key = create_integration("alertmanager", "Prometheus")
    good = PAYLOAD["alerts"][0]
    body = {**body, "alerts": [good, *body["alerts"]]} if isinstance(body["alerts"], list) \
        else body
    response = post("/intake/alertmanager", body, key)
    assert response.status_code == status and response.json()["errors"]
    assert not Signal.objects.exists()  # the valid alert in the batch was not kept either


def test_wrong_key_is_401(demo):
    create_integration("alertmanager", "Prometheus")
    assert post("/intake/alertmanager", PAYLOAD, "0" * 32).status_code == 401
    assert not Signal.objects.exists()


@pytest.fixture
def alertmanager(live_server, transactional_db, demo, tmp_path):
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (apt-get install "
                    "prometheus-alertmanager)")
    _integration, key = create_integration("alertmanager", "Prometheus")
    config = tmp_path / "alertmanager.yml"
    config.write_text(json.dumps({
        "route": {"receiver": "atalaia", "group_by": ["alertname", "service"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "atalaia", "webhook_configs": [{
            "url": f"{live_server.url}/intake/alertmanager", "send_resolved": True,
            "http_config": {"authorization": {"credentials": key}}}]}]}))
    port = free_port()
    process = subprocess.Popen([binary, f"--config.file={config}",
                                f"--storage.path={tmp_path / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}",
                                "--cluster.listen-address="],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(url + "/-/ready", timeout=1).status_code == 200, "ready")
    yield url
    process.terminate()
    process.wait(timeout=10)


def wait_for(condition, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_real_alertmanager_opens_then_clears_an_incident(alertmanager):
    end = (clock_of(alertmanager + "/-/ready") + datetime.timedelta(seconds=4)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    subprocess.run(["amtool", "alert", "add", "alertname=CheckoutDown", "service=checkout",
                    "severity=critical", "--annotation=summary=Checkout is down",
                    f"--end={end}", f"--alertmanager.url={alertmanager}"],
                   check=True, capture_output=True, timeout=30)
    wait_for(lambda: Signal.objects.filter(service__slug="checkout").exists(), "the alert")
    group_signals()
    incident = Incident.objects.get()
    assert incident.title == "Checkout is down" and incident.auto_declared
    wait_for(lambda: Signal.objects.filter(status=SignalStatus.RESOLVED).exists(),
             "the resolved notification")
    group_signals()
    incident.refresh_from_db()
    assert incident.stage == Stage.RESOLUTION
