"""Intake answers for bodies that can never succeed (a 4xx that names the problem,
never a 5xx or "send it again"), chunked bodies, and what a 503 promises."""

import http.client
import json
import threading
import uuid

import pytest
import time_machine
from django.db import transaction
from django.test import Client
from django.utils import timezone

from atalaia.accounts import limits
from atalaia.intake import groupcommit
from atalaia.intake.actions import create_integration, rate_rule
from atalaia.intake.formats.common import Event
from atalaia.intake.groupcommit import Item, Outcome, apply_batch
from atalaia.intake.models import Signal
from atalaia.intake.tests.test_groupcommit import call
from tests.servers import WebServer, database_url

PAGERDUTY = ("pagerduty",)
DEEP = b'{"routing_key": "k", "payload": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"


def event(key: str, summary: str = "checkout down", dedup: str | None = None) -> dict:
    body = {"routing_key": key, "event_action": "trigger",
            "payload": {"summary": summary, "source": "db1", "severity": "critical"}}
    return {**body, "dedup_key": dedup} if dedup else body


@pytest.fixture
def key(demo):
    return create_integration("pagerduty", "Nagios")[1]


@pytest.mark.django_db(transaction=True)
def test_deep_json_is_a_400_that_names_the_problem_on_both_paths(demo):
    status, _, content = call("POST", "/v2/enqueue", DEEP)  # the WSGI front
    assert status == "400 Bad Request"
    assert json.loads(content)["errors"] == ["the JSON is nested more than 100 levels deep"]
    response = Client().post("/intake/generic", DEEP, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.json()["errors"][0]


def test_a_lone_surrogate_is_a_400_not_send_it_again(key):
    raw = json.dumps(event(key, "a\ud800b")).encode()  # json.dumps writes it as \ud800
    response = Client().post("/v2/enqueue", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "payload.summary contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"]
    assert not Signal.objects.exists()


@pytest.fixture
def web(transactional_db, demo):
    server = WebServer(database_url())
    yield server
    server.stop()


@pytest.mark.slow
def test_a_chunked_body_without_content_length_is_accepted(web):
    _, key = create_integration("pagerduty", "Nagios")
    raw = json.dumps(event(key, dedup="chunked-1")).encode()
    connection_ = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    connection_.request("POST", "/v2/enqueue", body=iter([raw[:20], raw[20:]]),
                        headers={"Content-Type": "application/json"}, encode_chunked=True)
    response = connection_.getresponse()
    assert (response.status, json.loads(response.read())["status"]) == (202, "success")
    assert Signal.objects.get().dedup_key == "chunked-1"
    connection_.request("POST", "/v2/enqueue", body=iter([DEEP]), encode_chunked=True,
                        headers={"Content-Type": "application/json"})
    response = connection_.getresponse()
    assert response.status == 400 and b"nested more than 100" in response.read()


def trigger(key: str, summary: str) -> Item:
    """An event sent without a dedup key: intake gives each one a key of its own."""
    return Item(PAGERDUTY, key, events=[Event("trigger", uuid.uuid4().hex, "critical",
                                              summary, "payments")])


def test_an_item_given_up_before_its_commit_is_left_out_of_it(key):
    gone, kept = trigger(key, "gone"), trigger(key, "kept")
    assert gone.give_up()
    apply_batch([gone, kept])
    assert (gone.future.result(), kept.future.result()) == (Outcome(False, "error"),
                                                            Outcome(True))
    assert list(Signal.objects.values_list("summary", flat=True)) == ["kept"]
    assert not kept.give_up()  # committed: its caller can no longer be told otherwise


@pytest.mark.django_db(transaction=True)
def test_a_503_after_the_wait_means_the_event_is_never_stored(demo, monkeypatch):
    integration, key = create_integration("pagerduty", "Nagios")
    monkeypatch.setattr(groupcommit, "WAIT_SECONDS", 0.2)  # instead of 30 s
    committer, answers = groupcommit.Committer(), []
    sender = threading.Thread(target=lambda: answers.append(
        committer.submit(trigger(key, "given up"))))
    # The committer is held up by a lock on the rate-limit bucket it must update (a
    # stuck database), until after its caller has given up and answered.
    with time_machine.travel(timezone.now().replace(second=0, microsecond=0), tick=True):
        with transaction.atomic():
            limits.take(rate_rule(integration), str(integration.pk), 0)
            sender.start()
            sender.join(30)
        assert answers == [Outcome(False, "error")]  # the 503
        # Requests are committed in arrival order: once a later one is answered,
        # the committer has dealt with the one given up.
        assert committer.submit(trigger(key, "retried")) == Outcome(True)
    committer.close_connection()
    assert list(Signal.objects.values_list("summary", flat=True)) == ["retried"]


def test_a_nul_in_a_text_plain_api_body_is_a_400(demo, tokens):
    raw = json.dumps({"title": "Checkout\u0000down", "services": ["payments"]})
    response = Client().post("/api/v1/incidents", raw, content_type="text/plain",
                             HTTP_AUTHORIZATION=f"Bearer {tokens['commander']}")
    assert response.status_code == 400
    assert response.json()["detail"] == "NUL characters (\\u0000) are not allowed in any field"
    deep = Client().post("/api/v1/incidents", DEEP, content_type="text/plain",
                         HTTP_AUTHORIZATION=f"Bearer {tokens['commander']}")
    assert deep.status_code == 400 and "nested more than" in deep.json()["detail"]
