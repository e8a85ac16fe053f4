"""Alertmanager's `pagerduty_configs` with their defaults, sent to /v2/enqueue: the
alert labels arrive only as text in `payload.custom_details.firing`, the source is
"Alertmanager" and the severity always `error`. The labels decide the service and
the severity; an integration's own service is the fallback."""

import datetime
import json
import shutil
import subprocess

import httpx
import pytest
from django.test import Client

from atalaia.catalog.models import Service
from atalaia.incidents.models import Incident
from atalaia.intake.actions import create_integration
from atalaia.intake.formats.pagerduty import alertmanager_alerts
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import Signal, SignalStatus
from atalaia.intake.tests.test_alertmanager import wait_for
from tests.servers import clock_of, free_port

# What Alertmanager 0.25 posted to a pagerduty_configs `url` (captured on the wire),
# for one alert with a two-line description.
FIRING = ("Labels:\n - alertname = CheckoutDown\n - service = payments\n"
          " - severity = critical\nAnnotations:\n - description = Seller portal returns 503.\n"
          "LB health checks failing.\n - summary = Payments fail\nSource: \n")
EVENT = {
    "dedup_key": "9266c04ff412b45269b94d302db94325df8f89aabe1f0c11880e596b1f6057f3",
    "event_action": "trigger",
    "payload": {"summary": "[FIRING:1] CheckoutDown payments (critical)",
                "source": "Alertmanager", "severity": "error",
                "custom_details": {"firing": FIRING, "num_firing": "1", "num_resolved": "0",
                                   "resolved": ""}},
    "client": "Alertmanager", "client_url": "http://vm:19093/#/alerts?receiver=atalaia"}


def enqueue(key: str, event: dict):
    return Client().post("/v2/enqueue", json.dumps({"routing_key": key, **event}),
                         content_type="application/json")


def test_the_alert_list_text_is_read_back_into_labels_and_annotations():
    two = FIRING.replace("Labels:\n", "Labels:\n - instance = b\n", 1) + FIRING
    first, second = alertmanager_alerts(two)
    assert first["labels"] == {"instance": "b", "alertname": "CheckoutDown",
                               "service": "payments", "severity": "critical"}
    assert first["annotations"] == {
        "description": "Seller portal returns 503.\nLB health checks failing.",
        "summary": "Payments fail"}
    assert second["labels"]["service"] == "payments" and "instance" not in second["labels"]
    assert alertmanager_alerts("") == [] and alertmanager_alerts("free text") == []


def test_alertmanagers_default_event_lands_on_the_labelled_service(demo):
    key = create_integration("pagerduty", "Alertmanager")[1]
    assert enqueue(key, EVENT).status_code == 202
    signal = Signal.objects.get()
    assert signal.service is not None and signal.service.slug == "payments"
    assert signal.severity == "critical"  # the severity label, not Alertmanager's `error`
    assert signal.summary == "Payments fail"
    assert signal.details["labels"]["alertname"] == "CheckoutDown"


def test_without_labels_the_integrations_service_and_the_sent_severity_apply(demo):
    integration, key = create_integration("pagerduty", "Alertmanager",
                                          service=Service.objects.get(slug="checkout"))
    event = json.loads(json.dumps(EVENT))
    event["payload"]["custom_details"]["firing"] = FIRING.replace(
        " - service = payments\n - severity = critical\n", "")
    assert enqueue(key, event).status_code == 202
    signal = Signal.objects.get()
    assert (signal.service.slug, signal.severity) == ("checkout", "error")


def test_an_explicit_severity_or_component_wins_over_the_labels(demo):
    key = create_integration("pagerduty", "Alertmanager")[1]
    event = json.loads(json.dumps(EVENT))
    event["payload"].update(severity="warning", component="checkout")
    assert enqueue(key, event).status_code == 202
    signal = Signal.objects.get()
    assert (signal.service.slug, signal.severity) == ("checkout", "warning")


@pytest.fixture
def alertmanager_to_enqueue(live_server, transactional_db, demo, tmp_path):
    """A real Alertmanager whose receiver is `pagerduty_configs` with Alertmanager's
    defaults, its `url` pointed at our /v2/enqueue."""
    binary = shutil.which("prometheus-alertmanager")
    assert binary, "prometheus-alertmanager is needed (apt-get install prometheus-alertmanager)"
    key = create_integration("pagerduty", "Alertmanager")[1]
    config = tmp_path / "alertmanager.yml"
    config.write_text(json.dumps({
        "route": {"receiver": "atalaia", "group_by": ["alertname", "service"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "atalaia", "pagerduty_configs": [{
            "url": f"{live_server.url}/v2/enqueue", "routing_key": key,
            "send_resolved": True}]}]}))
    port = free_port()
    process = subprocess.Popen([binary, f"--config.file={config}",
                                f"--storage.path={tmp_path / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}",
                                "--cluster.listen-address="],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(url + "/-/ready", timeout=1).status_code == 200, "ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_a_real_alertmanagers_pagerduty_receiver_lands_on_the_right_service(
        alertmanager_to_enqueue):
    end = (clock_of(alertmanager_to_enqueue + "/-/ready") + datetime.timedelta(seconds=4)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    subprocess.run(["amtool", "alert", "add", "alertname=PaymentsDown", "service=payments",
                    "severity=critical", "--annotation=summary=Card payments fail",
                    f"--end={end}", f"--alertmanager.url={alertmanager_to_enqueue}"],
                   check=True, capture_output=True, timeout=30)
    wait_for(lambda: Signal.objects.exists(), "the alert")
    signal = Signal.objects.get()
    assert signal.details["payload"]["source"] == "Alertmanager"  # its default
    assert signal.service is not None and signal.service.slug == "payments"
    assert (signal.severity, signal.summary) == ("critical", "Card payments fail")
    group_signals()
    incident = Incident.objects.get()
    assert incident.auto_declared and incident.title == "Card payments fail"
    assert list(incident.services.values_list("slug", flat=True)) == ["payments"]
    # The alert ends: Alertmanager's resolve, with the same dedup_key, clears it.
    wait_for(lambda: Signal.objects.filter(status=SignalStatus.RESOLVED).exists(),
             "the resolve")
