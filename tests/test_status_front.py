"""The public status site served from ready bytes by a real `atalaia web`: a change
made by another process shows within a second; ETag answers 304."""

import time

import httpx
import pytest

from atalaia.comms import actions
from atalaia.incidents.actions import declare_incident
from tests.servers import WebServer, database_url

pytestmark = pytest.mark.slow


def wait_for(condition, seconds: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "not within the time allowed"
        time.sleep(0.02)
    return time.monotonic() - start


def test_a_change_from_another_process_shows_within_a_second(transactional_db, demo,
                                                             personas):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    actions.publish_update(incident, personas["communicator"], "investigating",
                           "First words.", "Primeiras palavras.")
    web = WebServer(database_url())
    try:
        first = httpx.get(web.url + "/status/?lang=en")
        assert first.status_code == 200 and "First words." in first.text
        again = httpx.get(web.url + "/status/?lang=en",
                          headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
        since = httpx.get(web.url + "/status/?lang=en",
                          headers={"If-Modified-Since": first.headers["Last-Modified"]})
        assert since.status_code == 304
        actions.publish_update(incident, personas["communicator"], "identified",
                               "Second words.", "Segundas palavras.")
        waited = wait_for(lambda: "Second words." in httpx.get(
            web.url + "/status/?lang=en").text, 1.0)
        assert waited < 1.0
        summary = httpx.get(web.url + "/status/api/v2/summary.json")
        assert summary.json()["incidents"][0]["status"] == "identified"
        assert summary.headers["Access-Control-Allow-Origin"] == "*"
        assert "Cookie" not in summary.headers.get("Vary", "")
    finally:
        web.stop()
