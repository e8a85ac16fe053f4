"""A person decides what to do with a signal in the inbox: declare, attach or dismiss."""

from atalaia.incidents.actions import declare_incident
from atalaia.incidents.models import Incident
from atalaia.intake.actions import create_integration, record_events
from atalaia.intake.formats.common import Event
from atalaia.intake.models import Signal, SignalStatus
from conftest import api


def inbox_signal(dedup="k", service="intranet", summary="Intranet <slow>"):
    integration, _key = create_integration("generic", "Scripts")
    record_events(integration, "generic", [Event(action="trigger", dedup_key=dedup,
                                                 severity="warning", summary=summary,
                                                 service_hint=service)])
    return Signal.objects.get(dedup_key=dedup)


def test_declare_from_the_inbox(demo, clients, tokens):
    signal = inbox_signal()
    page = clients["viewer"].get("/signals/").content.decode()
    assert "Intranet &lt;slow&gt;" in page
    response = api(clients["responder"], "POST", f"/signals/{signal.pk}/declare",
                   tokens["responder"])
    assert response.status_code == 201
    incident = Incident.objects.get(pk=response.json()["incident"])
    assert incident.title == "Intranet <slow>" and incident.declared_by.username == "responder"
    again = api(clients["responder"], "POST", f"/signals/{signal.pk}/declare",
                tokens["responder"])
    assert again.status_code == 409 and "already belongs" in again.json()["detail"]


def test_attach_adds_the_service_and_dismiss_clears(demo, personas, clients):
    incident = declare_incident(personas["commander"], "Auth trouble", ["auth"])
    signal = inbox_signal()
    response = clients["responder"].post(f"/signals/{signal.pk}/attach/",
                                         {"incident": incident.pk})
    assert response.status_code == 302
    assert "intranet" in incident.services.values_list("slug", flat=True)
    assert incident.entries.filter(kind="signal").get().body["reason"] == "attached by a person"
    other = inbox_signal("k2", summary="Noise")
    clients["responder"].post(f"/signals/{other.pk}/dismiss/")
    other.refresh_from_db()
    assert other.status == SignalStatus.RESOLVED and other.dismissed_by == personas["responder"]


def test_integration_created_in_the_api_shows_its_key_once(demo, clients, tokens):
    response = api(clients["admin"], "POST", "/integrations", tokens["admin"],
                   {"kind": "pagerduty", "name": "Zabbix", "service": "api"})
    assert response.status_code == 201
    key = response.json()["key"]
    assert len(key) == 32
    listed = api(clients["admin"], "GET", "/integrations", tokens["admin"]).json()
    assert listed[0]["name"] == "Zabbix" and "key" not in listed[0]
    assert key not in str(listed)
    bad = api(clients["admin"], "POST", "/integrations", tokens["admin"],
              {"kind": "nagios", "name": "x"})
    assert bad.status_code == 422


def test_signals_raised_during_maintenance_are_marked_in_the_inbox(demo, clients):
    signal = inbox_signal()
    page = clients["viewer"].get("/signals/").content.decode()
    assert ">maintenance</span>" not in page
    Signal.objects.filter(pk=signal.pk).update(in_maintenance=True)
    page = clients["viewer"].get("/signals/").content.decode()
    assert ">maintenance</span>" in page
