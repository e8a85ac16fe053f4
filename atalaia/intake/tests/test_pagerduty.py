"""PagerDuty Events API v2: PagerDuty's own Python client pointed at Atalaia."""

import json
import ssl

import pytest
import time_machine
from django.test import Client
from pagerduty import EventsApiV2Client

from atalaia.incidents.models import Incident, Stage
from atalaia.intake.actions import create_integration
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import ChangeEvent, Signal, SignalStatus


@pytest.fixture
def key(demo):
    return create_integration("pagerduty", "Nagios")[1]


def post(path, body, **extra):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client().post(path, raw, content_type="application/json", **extra)


@pytest.mark.slow
def test_the_official_client_triggers_acknowledges_and_resolves(https_server, key):
    # PagerDuty's own library only speaks HTTPS: Atalaia serves it with a test certificate.
    trust = ssl.create_default_context(cafile=str(https_server.cert))
    client = EventsApiV2Client(key, base_url=https_server.url, verify=trust)
    dedup = client.trigger("Checkout returns 502", "payments", severity="critical",
                           custom_details={"region": "sa-east-1"})
    assert len(dedup) == 32
    assert client.trigger("Checkout returns 502", "payments", dedup_key=dedup) == dedup
    signal = Signal.objects.get(dedup_key=dedup)
    assert signal.count == 2 and signal.service.slug == "payments"
    assert signal.details["payload"]["custom_details"] == {"region": "sa-east-1"}

    assert group_signals() == 1
    incident = Incident.objects.get()
    assert incident.auto_declared and incident.title == "Checkout returns 502"
    assert incident.level == "critical"

    client.acknowledge(dedup)
    client.resolve(dedup)
    assert Signal.objects.get(dedup_key=dedup).status == SignalStatus.RESOLVED
    group_signals()
    incident.refresh_from_db()
    assert incident.stage == Stage.RESOLUTION  # every signal cleared; never closed by itself
    kinds = [e.body.get("event") for e in incident.entries.filter(kind="signal")]
    assert kinds == ["joined", "acknowledged", "resolved"]  # the ack took effect at once

    # A trigger after a resolve opens a new signal with the same key.
    client.trigger("Checkout returns 502 again", "payments", dedup_key=dedup)
    assert Signal.objects.filter(dedup_key=dedup).count() == 2

    client.send_change_event(payload={"summary": "Deploy v2.3.1 of payments",
                                      "source": "ci"})
    assert ChangeEvent.objects.get().summary == "Deploy v2.3.1 of payments"


@pytest.mark.parametrize(("body", "error"), [
    ({"event_action": "trigger", "payload": {"summary": "x", "source": "y",
                                             "severity": "critical"}}, "'routing_key' is missing"),
    ({"routing_key": "KEY", "event_action": "explode"}, "'event_action' must be one of"),
    ({"routing_key": "KEY", "event_action": "trigger"}, "'payload' is missing"),
    ({"routing_key": "KEY", "event_action": "trigger",
      "payload": {"summary": "x", "source": "y", "severity": "fatal"}}, "'payload.severity'"),
    ({"routing_key": "KEY", "event_action": "trigger",
      "payload": {"summary": 5, "source": "y", "severity": "info"}},
     "'payload.summary' must be a string"),
    ({"routing_key": "KEY", "event_action": "resolve"}, "'dedup_key' is required to resolve"),
    ({"routing_key": "0" * 32, "event_action": "trigger",
      "payload": {"summary": "x", "source": "y", "severity": "info"}},
     "'routing_key' does not match an integration"),
    ("{not json", "the body is not valid JSON"),
    ([1, 2], "the event must be a JSON object"),
])
def test_invalid_events_get_400_with_errors_and_change_nothing(key, body, error):
    if isinstance(body, dict) and body.get("routing_key") == "KEY":
        body["routing_key"] = key
    response = post("/v2/enqueue", body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "invalid event"
    assert any(error in e for e in answer["errors"]), answer
    assert not Signal.objects.exists()


def test_unknown_fields_are_kept_with_the_signal(key):
    response = post("/intake/pagerduty/v2/enqueue", {
        "routing_key": key, "event_action": "trigger", "client": "Nagios",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "warning",
                    "group": "storage", "x-custom": [1, 2]}})
    assert response.status_code == 202
    assert response.json()["message"] == "Event processed"
    signal = Signal.objects.get()
    assert signal.details["client"] == "Nagios"
    assert signal.details["payload"]["x-custom"] == [1, 2]
    assert signal.service is None  # no service named db-1 and no default service
    group_signals()
    assert signal.incident is None  # warning signals wait in the inbox


def test_rate_limit_answers_429_per_integration(demo):
    _integration, key = create_integration("pagerduty", "Noisy", rate_per_minute=3)
    event = {"routing_key": key, "event_action": "trigger",
             "payload": {"summary": "x", "source": "y", "severity": "info"}}
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        answers = [post("/v2/enqueue", {**event, "dedup_key": str(i)}) for i in range(5)]
        assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
        # A bucket of 3 refilled over a minute: the next event in 20 s.
        assert answers[3]["Retry-After"] == "20"
        assert answers[3].json() == {"status": "throttle event", "errors": [], "message":
                                     "Requests for this integration are temporarily rate limited"}
        clock.shift(19)
        assert post("/v2/enqueue", {**event, "dedup_key": "early"}).status_code == 429
        clock.shift(1)
        assert post("/v2/enqueue", {**event, "dedup_key": "in time"}).status_code == 202
    assert Signal.objects.count() == 4


def test_oversized_body_is_refused(key, settings):
    settings.INTAKE_MAX_BYTES = 2048
    response = post("/v2/enqueue", {"routing_key": key, "event_action": "trigger",
                                    "payload": {"summary": "x" * 4000, "source": "y",
                                                "severity": "info"}})
    assert response.status_code == 413
    assert not Signal.objects.exists()


def test_room_shows_recent_changes_and_only_safe_links(key, personas, clients):
    from atalaia.incidents.actions import declare_incident

    response = post("/v2/change/enqueue", {
        "routing_key": key,
        "payload": {"summary": "Deploy <b>v2.3.1</b>", "source": "ci"},
        "links": [{"href": "javascript:alert(1)", "text": "evil"},
                  {"href": "https://ci.example/run/42", "text": "build 42"}]})
    assert response.status_code == 202
    incident = declare_incident(personas["commander"], "Checkout down", ["checkout"])
    page = clients["viewer"].get(f"/incidents/{incident.pk}/").content.decode()
    assert "Deploy &lt;b&gt;v2.3.1&lt;/b&gt;" in page
    assert 'href="https://ci.example/run/42"' in page
    assert "javascript:" not in page
