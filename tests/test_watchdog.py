"""Atalaia watching itself: the console's banner when a part is down, and the
watchdog URL pinged only while every part is alive."""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from atalaia.monitoring.models import ProcessBeat
from atalaia.web import health as health_module
from atalaia.web.context import forget_health


def beat(kind: str, seconds_ago: float = 0) -> None:
    seen = timezone.now() - timedelta(seconds=seconds_ago)
    ProcessBeat.objects.update_or_create(name=f"{kind}@test", defaults={
        "kind": kind, "seen_at": seen, "started_at": seen, "stopped_at": None})


@pytest.fixture(autouse=True)
def fresh_health():
    forget_health()
    yield
    forget_health()


def test_the_console_says_which_part_is_down(clients):
    beat("worker")
    page = clients["viewer"].get("/incidents/").content.decode()
    assert "The prober is not running: monitors are not being checked." in page
    assert "It has never reported." in page
    assert "The worker is not running" not in page
    beat("prober", seconds_ago=600)
    forget_health()
    page = clients["viewer"].get("/incidents/").content.decode()
    assert "The prober is not running" in page and "Last seen 10" in page
    beat("prober")
    forget_health()
    page = clients["viewer"].get("/incidents/").content.decode()
    assert "is not running" not in page


def test_people_not_signed_in_are_not_told(db):
    from django.test import Client

    assert "is not running" not in Client().get("/accounts/login/").content.decode()


class Receiver:
    """A Healthchecks-style endpoint that counts pings."""

    def __init__(self):
        self.pings = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                receiver.pings += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/ping/abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(settings):
    server = Receiver()
    settings.WATCHDOG_URL, settings.WATCHDOG_SECONDS = server.url, 60
    health_module._next_ping = 0.0
    yield server
    server.server.shutdown()


def test_the_watchdog_pings_only_while_every_part_is_alive(db, receiver):
    clock = [1000.0]
    beat("worker")
    beat("prober")
    assert health_module.watchdog_step(lambda: clock[0]) is True
    assert receiver.pings == 1
    clock[0] += 30
    assert health_module.watchdog_step(lambda: clock[0]) is False  # not due yet
    beat("prober", seconds_ago=120)  # the prober stopped reporting
    clock[0] += 31
    assert health_module.watchdog_step(lambda: clock[0]) is False
    assert receiver.pings == 1
    beat("prober")
    clock[0] += 61
    assert health_module.watchdog_step(lambda: clock[0]) is True
    assert receiver.pings == 2


def test_without_a_url_the_watchdog_does_nothing(db, settings):
    settings.WATCHDOG_URL = ""
    assert health_module.watchdog_step() is False
