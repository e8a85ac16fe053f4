"""A batch of events is applied in order, as if one by one, and counted once per event."""

import datetime
import json

import time_machine
from django.test import Client

from atalaia.accounts import limits
from atalaia.accounts.models import TokenBucket
from atalaia.intake.actions import create_integration, rate_rule
from atalaia.intake.models import Signal


def post(key, body):
    return Client().post(f"/intake/generic/{key}", json.dumps(body),
                         content_type="application/json")


@time_machine.travel(datetime.datetime(2026, 11, 29, 10, 0, tzinfo=datetime.UTC), tick=False)
def test_a_batch_applies_its_events_in_order(demo):
    integration, key = create_integration("generic", "Scripts")
    assert post(key, {"summary": "Disk full", "dedup_key": "old", "service": "database"}) \
        .status_code == 202
    events = [
        {"summary": "A", "dedup_key": "a", "service": "api"},
        {"summary": "A again", "dedup_key": "a"},  # a repeat is counted
        {"action": "resolve", "dedup_key": "a"},
        {"summary": "A back", "dedup_key": "a"},  # after a resolve: a new signal
        {"action": "acknowledge", "dedup_key": "old"},  # the one stored before
        {"action": "resolve", "dedup_key": "old"},
        {"summary": "Old back", "dedup_key": "old"},
        {"summary": "B", "dedup_key": "b", "severity": "critical"},
        {"action": "acknowledge", "dedup_key": "b"},
        {"action": "resolve", "dedup_key": "nothing-open"},  # nothing to act on
    ]
    assert post(key, {"events": events}).status_code == 202
    rows = list(Signal.objects.order_by("pk").values_list(
        "dedup_key", "summary", "status", "count"))
    assert rows == [("old", "Disk full", "resolved", 1), ("a", "A", "resolved", 2),
                    ("a", "A back", "open", 1), ("old", "Old back", "open", 1),
                    ("b", "B", "acknowledged", 1)]
    first_a = Signal.objects.filter(dedup_key="a").order_by("pk").first()
    assert first_a.service.slug == "api" and first_a.resolved_at is not None
    old = Signal.objects.filter(dedup_key="old").order_by("pk").first()
    assert old.acknowledged_at is not None and old.resolved_at is not None
    assert Signal.objects.get(dedup_key="b").acknowledged_at is not None
    # 1 + 10 events taken from the integration's bucket
    assert counted(integration) == 11


def counted(integration) -> float:
    bucket = TokenBucket.objects.get(key=limits.bucket_key(rate_rule(integration),
                                                           str(integration.pk)))
    return integration.rate_per_minute - bucket.tokens


def test_a_batch_over_the_rate_keeps_nothing(demo):
    _integration, key = create_integration("generic", "Scripts", rate_per_minute=5)
    batch = {"events": [{"summary": f"e{i}", "dedup_key": str(i)} for i in range(4)]}
    with time_machine.travel(datetime.datetime(2026, 11, 29, 10, 0, 30, tzinfo=datetime.UTC),
                             tick=False):  # both in one minute
        assert post(key, batch).status_code == 202
        assert post(key, batch).status_code == 429  # 4 events, 1 left in the bucket
    assert Signal.objects.count() == 4


def test_concurrent_senders_are_all_kept_and_counted(transactional_db, demo):
    # Threads of one process, each with its own database connection, as in the web
    # server: on SQLite their writes queue instead of polling SQLite's lock.
    import threading

    from django.db import connection

    integration, key = create_integration("pagerduty", "Busy", rate_per_minute=10_000)
    statuses: list[int] = []

    def sender(worker: int) -> None:
        try:
            client = Client()
            for i in range(10):
                body = {"routing_key": key, "event_action": "trigger",
                        "dedup_key": f"{worker}-{i}",
                        "payload": {"summary": "x", "source": "api", "severity": "info"}}
                statuses.append(client.post("/v2/enqueue", json.dumps(body),
                                            content_type="application/json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(6)]
    # The clock stands still, so that the bucket refills nothing while they send.
    with time_machine.travel(datetime.datetime(2026, 11, 29, 10, 0, tzinfo=datetime.UTC),
                             tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert statuses == [202] * 60
    assert Signal.objects.filter(integration=integration).count() == 60
    assert counted(integration) == 60
