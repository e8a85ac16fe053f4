"""Renders of the public status site (the front cache's misses) are rate limited per
client address by the one rate limiter: 429 with Retry-After, in the visitor's
language, then allowed again once the clock has refilled the bucket; behind a trusted
proxy X-Forwarded-For names the client, from anywhere else it is ignored."""

import json

import pytest
import time_machine
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from atalaia.comms.front import StatusFront

T0 = 1_900_000_000.0


@pytest.fixture
def front(demo, settings):
    """The front around Django's own WSGI application, in this process, keeping the
    test's database connection across requests (as Django's test client does)."""
    settings.STATUS_RENDERS_PER_MINUTE = 2  # a burst of 2, one more every 30 s
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield StatusFront(WSGIHandler())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def get(front, path, **extra) -> tuple[str, dict, bytes]:
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    environ = RequestFactory().get(path, **extra).environ
    body = b"".join(front(environ, start_response))
    return captured["status"], dict(captured["headers"]), body


def test_renders_past_the_burst_wait_for_the_clock(front):
    client = {"REMOTE_ADDR": "203.0.113.9"}
    with time_machine.travel(T0, tick=False) as clock:
        assert get(front, "/status/?n=1", **client)[0].startswith("200")
        assert get(front, "/status/?n=2", **client)[0].startswith("200")
        assert get(front, "/status/?n=1", **client)[0].startswith("200")  # a copy: no render
        status, headers, body = get(front, "/status/?n=3&lang=pt-br", **client)
        assert status.startswith("429") and headers["Retry-After"] == "30"
        assert body.decode() == "Muitas solicitações. Tente de novo em 30 segundos.\n"
        status, headers, body = get(front, "/status/api/v2/summary.json", **client)
        assert status.startswith("429") and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"error": "Too many requests. Try again in 30 seconds."}
        assert get(front, "/status/?n=4", REMOTE_ADDR="203.0.113.10")[0].startswith("200")
        clock.shift(29)
        assert get(front, "/status/?n=3", **client)[0].startswith("429")
        clock.shift(1)
        assert get(front, "/status/?n=3", **client)[0].startswith("200")


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(front, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    with time_machine.travel(T0, tick=False):
        proxied = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
        for n in range(2):
            assert get(front, f"/status/?p={n}", **proxied)[0].startswith("200")
        assert get(front, "/status/?p=2", **proxied)[0].startswith("429")
        # Another visitor behind the same proxy: a bucket of its own.
        assert get(front, "/status/?p=2", REMOTE_ADDR="10.0.0.2",
                   HTTP_X_FORWARDED_FOR="198.51.100.8")[0].startswith("200")
        # Not from a trusted proxy: the header is the client's own say, and ignored.
        for n in range(2):
            assert get(front, f"/status/?q={n}", REMOTE_ADDR="203.0.113.5",
                       HTTP_X_FORWARDED_FOR=f"198.51.100.{20 + n}")[0].startswith("200")
        assert get(front, "/status/?q=2", REMOTE_ADDR="203.0.113.5",
                   HTTP_X_FORWARDED_FOR="198.51.100.30")[0].startswith("429")
