"""Signals joining incidents: same service, linked services, the inbox, the window."""

import datetime
import json

import time_machine
from django.test import Client

from atalaia.incidents.models import Incident
from atalaia.intake.actions import create_integration
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import Signal


def send(key, **event):
    body = {"summary": "problem", "severity": "critical", **event}
    response = Client().post(f"/intake/generic/{key}", json.dumps(body),
                             content_type="application/json")
    assert response.status_code == 202, response.content
    return response


def test_linked_services_join_one_incident_and_the_timeline_says_why(demo):
    _i, key = create_integration("generic", "Scripts")
    send(key, summary="DB connections exhausted", service="database", dedup_key="db")
    group_signals()
    incident = Incident.objects.get()
    send(key, summary="Payments timing out", service="payments", dedup_key="pay")
    send(key, summary="Bucket slow", service="object-storage", dedup_key="s3",
         severity="warning")
    group_signals()
    assert Incident.objects.count() == 1  # payments depends on the database
    reasons = [e.body["reason"] for e in incident.entries.filter(kind="signal")]
    assert reasons[0] == "declared automatically from this signal"
    assert reasons[1] == "depends on an affected service: payments → database"
    # Neither database nor payments depends on object storage, nor it on them:
    # a warning about it waits in the inbox.
    assert Signal.objects.get(dedup_key="s3").incident is None


def test_a_failing_dependency_joins_the_incident_of_what_depends_on_it(demo):
    _i, key = create_integration("generic", "Scripts")
    send(key, summary="Checkout errors", service="checkout", dedup_key="c")
    group_signals()
    send(key, summary="Payments down", service="payments", dedup_key="p")
    group_signals()
    incident = Incident.objects.get()
    assert set(incident.services.values_list("slug", flat=True)) == {"checkout", "payments"}
    assert incident.entries.filter(kind="signal").last().body["reason"] == \
        "checkout depends on payments"
    assert incident.entries.filter(kind="impact").exists()  # impact recomputed


def test_after_the_grouping_window_a_new_incident_starts(demo, settings):
    settings.GROUPING_WINDOW_MINUTES = 30
    _i, key = create_integration("generic", "Scripts")
    start = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        send(key, summary="Auth failing", service="auth", dedup_key="a1")
        group_signals()
    with time_machine.travel(start + datetime.timedelta(minutes=31), tick=False):
        send(key, summary="Auth failing again", service="auth", dedup_key="a2")
        group_signals()
    assert Incident.objects.count() == 2


def test_signals_without_a_known_service_wait_in_the_inbox(demo):
    _i, key = create_integration("generic", "Scripts")
    send(key, summary="Something odd", service="not-a-service")
    group_signals()
    assert not Incident.objects.exists()
    assert Signal.objects.get().needs_grouping is False


def test_generic_webhook_rejects_bad_events_naming_them(demo):
    _i, key = create_integration("generic", "Scripts")
    response = Client().post(f"/intake/generic/{key}", json.dumps(
        {"events": [{"summary": "ok"}, {"severity": "loud"}]}), content_type="application/json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "'events[1].severity' must be one of critical, error, warning, info" in errors
    assert "'events[1].summary' is missing" in errors
    assert not Signal.objects.exists()


def test_the_plan_decides_which_severities_declare(demo, personas):
    from pathlib import Path

    from atalaia.plans.actions import import_plan

    plan = (Path(__file__).parents[2] / "demo" / "plan.yaml").read_text()
    import_plan(plan + "\nintake:\n  auto_declare_severities: [critical, error]\n")
    _i, key = create_integration("generic", "Scripts")
    send(key, summary="Intranet slow", service="intranet", severity="error")
    group_signals()
    assert Incident.objects.get().title == "Intranet slow"
