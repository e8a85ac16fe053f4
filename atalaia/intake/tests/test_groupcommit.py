"""Group commit: many requests' events in one transaction, each answered on its own;
and the WSGI front that serves intake before Django's middleware."""

import io
import json
import threading
from wsgiref.util import setup_testing_defaults

import pytest
import time_machine

from atalaia.accounts import limits
from atalaia.intake.actions import create_integration, rate_rule
from atalaia.intake.formats.common import Event
from atalaia.intake.groupcommit import Item, Outcome, apply_batch, submit
from atalaia.intake.models import ChangeEvent, Signal
from atalaia.wsgi import application

PAGERDUTY = ("pagerduty",)
T0 = 1_900_000_000.0


def trigger(key: str, dedup: str) -> Item:
    return Item(PAGERDUTY, key, events=[Event("trigger", dedup, "critical", "checkout down",
                                              "payments")])


def test_one_batch_answers_each_request_in_its_own_terms(demo):
    _, key = create_integration("pagerduty", "Nagios")
    small, small_key = create_integration("pagerduty", "Cron", rate_per_minute=1)
    items = [trigger(key, "a"), trigger(key, "a"), trigger("nobody's key", "b"),
             trigger(small_key, "c"), trigger(small_key, "d"),
             Item(("alertmanager",), key, events=[Event("trigger", "e")])]
    with time_machine.travel(T0, tick=False):
        apply_batch(items)
    # Cron's bucket holds one event, back in 60 s: its second event waits that long.
    assert [item.future.result() for item in items] == [
        Outcome(True), Outcome(True), Outcome(False, "unknown key"), Outcome(True),
        Outcome(False, "rate", 60.0), Outcome(False, "unknown key")]  # PagerDuty's, not AM's
    signal = Signal.objects.get(dedup_key="a")
    assert signal.count == 2 and signal.service.slug == "payments"
    assert list(Signal.objects.filter(integration=small).values_list("dedup_key", flat=True)) \
        == ["c"]
    with time_machine.travel(T0 + 59, tick=False):
        assert not limits.take(rate_rule(small), str(small.pk))
    with time_machine.travel(T0 + 60, tick=False):
        assert limits.take(rate_rule(small), str(small.pk))


def test_an_item_that_fails_costs_only_its_own_answer(demo):
    _, key = create_integration("pagerduty", "Nagios")
    broken = Item(PAGERDUTY, key, change={"summary": None})  # NOT NULL: the insert fails
    items = [trigger(key, "a"), broken, trigger(key, "b")]
    apply_batch(items)
    assert [item.future.result() for item in items] == [
        Outcome(True), Outcome(False, "error"), Outcome(True)]
    assert sorted(Signal.objects.values_list("dedup_key", flat=True)) == ["a", "b"]
    assert not ChangeEvent.objects.exists()


def test_concurrent_requests_share_commits_and_all_are_kept(transactional_db, demo):
    _, key = create_integration("pagerduty", "Busy", rate_per_minute=100_000)
    outcomes: list[Outcome] = []

    def sender(worker: int) -> None:
        from django.db import connection

        try:
            for i in range(25):
                outcomes.append(submit(trigger(key, f"{worker}-{i}")))
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == [Outcome(True)] * 200
    assert Signal.objects.count() == 200


def call(method: str, path: str, body: bytes = b"", **environ) -> tuple[str, dict, bytes]:
    """The project's WSGI application, called as a WSGI server calls it."""
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
           "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(body),
           "SERVER_NAME": "127.0.0.1", "HTTP_HOST": "127.0.0.1", **environ}
    setup_testing_defaults(env)
    answer: dict = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    content = b"".join(application(env, start_response))
    return answer["status"], answer["headers"], content


@pytest.mark.django_db(transaction=True)
def test_the_front_answers_intake_without_django_and_hands_on_the_rest(demo):
    _, key = create_integration("pagerduty", "Nagios")
    event = {"routing_key": key, "event_action": "trigger",
             "payload": {"summary": "disk full", "source": "db1", "severity": "error"}}
    status, headers, content = call("POST", "/v2/enqueue", json.dumps(event).encode())
    assert status == "202 Accepted" and headers["Content-Type"] == "application/json"
    assert json.loads(content)["status"] == "success"
    assert Signal.objects.get().summary == "disk full"
    status, _, content = call("POST", "/intake/pagerduty/v2/enqueue", b'{"routing_key": 1}')
    assert status == "400 Bad Request" and "routing_key" in json.loads(content)["errors"][0]
    status, _, content = call("POST", "/intake/alertmanager/wrong", b'{"alerts": []}')
    assert status == "401 Unauthorized"
    status, headers, _ = call("POST", "/v2/enqueue", b"{}",
                              CONTENT_LENGTH=str(10 * 1024 * 1024))
    assert status.startswith("413") and headers["Connection"] == "close"
    status, _, _ = call("POST", "/v2/enqueue", b'{"payload": "\\u0000"}')
    assert status == "400 Bad Request"
    status, _, _ = call("GET", "/v2/enqueue")  # Django's view: POST only
    assert status.startswith("405")
    status, _, _ = call("POST", "/v2/enqueue/more")
    assert status.startswith("404")


@pytest.mark.django_db(transaction=True)
def test_the_front_answers_an_integration_over_its_rate_429_with_retry_after(demo):
    _, key = create_integration("pagerduty", "Noisy", rate_per_minute=2)

    def send(n: int) -> tuple[str, dict, bytes]:
        event = {"routing_key": key, "event_action": "trigger", "dedup_key": f"k{n}",
                 "payload": {"summary": "disk full", "source": "db1", "severity": "error"}}
        return call("POST", "/v2/enqueue", json.dumps(event).encode())

    with time_machine.travel(T0, tick=False) as clock:
        assert [send(n)[0][:3] for n in range(2)] == ["202", "202"]
        status, headers, content = send(2)
        assert status == "429 Too Many Requests" and headers["Retry-After"] == "30"
        assert json.loads(content)["status"] == "throttle event"
        clock.shift(30)
        assert send(3)[0] == "202 Accepted"
    assert Signal.objects.count() == 3
