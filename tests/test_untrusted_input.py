"""Defect 8: hostile documents are refused at once, without growing the process, and
a web request has a real deadline (the worker that cannot meet it is replaced)."""

import os
import socket
import time

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from atalaia.lib.tests.test_yamldoc_limits import alias_bomb
from conftest import api
from tests.servers import WebServer, database_url

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def measured(request):
    """The answer to request(), how long it took and how much the process grew."""
    before, started = resident_bytes(), time.monotonic()
    response = request()
    return response, time.monotonic() - started, resident_bytes() - before


def test_a_viewers_alias_bomb_and_deep_json_are_refused_at_once(demo, tokens):
    client = Client()
    api(client, "POST", "/plans/validate", tokens["viewer"], {"source": "name: x"})  # warm
    response, took, grew = measured(lambda: api(
        client, "POST", "/plans/validate", tokens["viewer"], {"source": alias_bomb()}))
    assert response.status_code == 413, response.content
    assert response.json()["detail"] == "line 1: aliases expand to more than 10000 values"
    # Upper bounds with wide margins: the bomb expands to ~387 million values.
    assert took < 1 and grew < 50 * 2**20, (took, grew)
    deep = "[" * 100_000 + "]" * 100_000
    response, took, grew = measured(lambda: api(client, "POST", "/plans/validate",
                                                tokens["viewer"], raw=deep))
    assert response.status_code == 400
    assert response.json()["detail"] == "the JSON is nested more than 100 levels deep"
    assert took < 1 and grew < 50 * 2**20, (took, grew)


def test_the_consoles_catalog_import_refuses_the_bomb(demo, clients):
    bomb = SimpleUploadedFile("catalog.yaml", alias_bomb().encode(), "text/yaml")
    response, took, grew = measured(lambda: clients["admin"].post(
        "/services/import/", {"file": bomb}))
    assert response.status_code == 413
    assert "aliases expand to more than 10000 values" in response.content.decode()
    assert took < 1 and grew < 50 * 2**20, (took, grew)


@pytest.fixture
def web(transactional_db, demo, monkeypatch):
    monkeypatch.setenv("ATALAIA_WEB_REQUEST_SECONDS", "1")
    monkeypatch.setenv("ATALAIA_WEB_REQUEST_GRACE_SECONDS", "1")
    server = WebServer(database_url())
    yield server
    server.stop()


@pytest.mark.slow
def test_a_request_stuck_past_its_deadline_costs_its_worker_not_the_server(web):
    # A body announced and never sent: the request thread blocks in the socket read,
    # where no exception can reach it, so the watchdog replaces the worker.
    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as stuck:
        stuck.sendall(b"POST /api/v1/plans/validate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        try:
            answer = stuck.recv(1024)
        except ConnectionResetError:
            answer = b""
    assert answer == b""  # cut, not answered, well before the 30 s socket timeout
    assert httpx.get(web.url + "/healthz", timeout=30).status_code in (200, 503)
