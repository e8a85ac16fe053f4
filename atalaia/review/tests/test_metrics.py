"""/metrics in the Prometheus text format, computed from the database, open to the
allowed addresses or the metrics token; the dashboard draws the same figures."""

import datetime

import time_machine
from django.test import Client

from atalaia.incidents.actions import declare_incident, move_stage, set_public_status
from conftest import pass_gate, signed_in

T0 = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def resolved_incident(personas, minutes: int):
    with time_machine.travel(T0, tick=False):
        incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    with time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False):
        move_stage(incident, personas["commander"], "resolution")
        pass_gate(incident, personas)
        set_public_status(incident, personas["commander"], "resolved")
    return incident


def test_metrics_are_prometheus_text_from_the_database(demo, personas, settings):
    resolved_incident(personas, 30)
    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    level = [line for line in text.splitlines()
             if line.startswith("atalaia_incidents{") and 'stage="resolution"' in line]
    assert level and level[0].endswith(" 1")
    resolve = [line for line in text.splitlines() if 'timing="resolve"' in line
               and 'quantile="0.5"' in line]
    assert resolve and float(resolve[0].split()[-1]) == 1800.0
    assert "# TYPE atalaia_incident_timing_seconds summary" in text


def test_metrics_are_closed_to_others_unless_they_bring_the_token(demo, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token"
                       ).status_code == 200


def test_behind_a_trusted_proxy_metrics_see_the_client_not_the_proxy(demo, settings):
    # A proxy on the same machine: without it in ATALAIA_TRUSTED_PROXIES every visitor
    # would look like loopback. Listed, the forwarded client decides.
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    proxy = Client(REMOTE_ADDR="127.0.0.1")
    assert proxy.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert proxy.get("/metrics", HTTP_X_FORWARDED_FOR="::1").status_code == 200
    assert proxy.get("/metrics").status_code == 200  # the proxy's own request
    # From elsewhere, a forged header says nothing.
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403


def test_the_dashboard_draws_the_timings(demo, personas):
    resolved_incident(personas, 30)
    page = signed_in(personas["viewer"]).get("/review/dashboard/?by=level").content.decode()
    assert 'id="chart-resolve"' in page and "<svg" in page and "30.0 min" in page
    by_version = signed_in(personas["viewer"]).get("/review/dashboard/?by=plan_version")
    assert by_version.status_code == 200
