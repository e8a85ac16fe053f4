"""An acknowledgement stops its escalation and cancels the notifications not yet sent
in the same transaction, whichever way it comes: a PagerDuty client's `acknowledge`
on /v2/enqueue (the incident's alert acknowledged at its source), the console's
button, or the API. Every assertion is made right after the acknowledgement,
without running any worker step."""

import json
import ssl

import pytest
from django.test import Client
from django.utils import timezone
from pagerduty import EventsApiV2Client

from atalaia.catalog.models import Team
from atalaia.incidents.actions import declare_incident
from atalaia.incidents.models import Incident
from atalaia.intake.actions import create_integration
from atalaia.intake.grouping import group_signals
from atalaia.notify.contacts import add_verified
from atalaia.notify.models import Delivery, DeliveryStatus
from atalaia.oncall import policies
from atalaia.oncall.models import (
    Escalation,
    EscalationStatus,
    NotificationRule,
    Page,
    PageDelivery,
    PageStatus,
)
from conftest import api, signed_in

WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.FAILED)


@pytest.fixture
def reachable(demo, personas):
    """The demo's people reachable by e-mail; the commander's phone is told two
    minutes after a page (a delayed notification an acknowledgement must cancel)."""
    for name in ("commander", "responder", "communicator"):
        add_verified(personas[name], "email", f"{name}@example.test", "work")
    commander = personas["commander"]
    phone = add_verified(commander, "apprise", "json://127.0.0.1:9/hook", "phone")
    NotificationRule.objects.create(user=commander, urgency="high", method=phone,
                                    delay_minutes=2)
    NotificationRule.objects.create(user=commander, urgency="high",
                                    method=commander.contact_methods.get(label="work"),
                                    delay_minutes=0)
    return personas


def page_deliveries(pages) -> list[Delivery]:
    return list(Delivery.objects.filter(
        pk__in=PageDelivery.objects.filter(page__in=pages).values("delivery_id")))


def assert_stopped_at_source(incident: Incident, since) -> None:
    """Every page acknowledged (by the source), every escalation stopped, nothing
    left to send: the incident's paging is over, as in PagerDuty."""
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None and incident.acknowledged_at >= since
    escalations = list(Escalation.objects.filter(incident=incident))
    assert escalations and {(e.status, e.next_step_at) for e in escalations} == {
        (EscalationStatus.ACKNOWLEDGED, None)}
    pages = list(Page.objects.filter(incident=incident))
    assert pages and {(p.status, p.acknowledged_via) for p in pages} == {
        (PageStatus.ACKNOWLEDGED, "pagerduty")}
    assert all(p.acknowledged_at is not None and p.acknowledged_at >= since for p in pages)
    deliveries = page_deliveries(pages)
    assert deliveries and not [d for d in deliveries if d.status in WAITING]
    assert "acknowledged_at_source" in [
        e.body.get("event") for e in incident.entries.filter(kind="paging")]


@pytest.mark.slow
def test_a_pagerduty_clients_acknowledge_stops_paging_at_once(https_server, reachable):
    """PagerDuty's own library, against `atalaia web` over TLS (it speaks only HTTPS)."""
    key = create_integration("pagerduty", "Nagios")[1]
    trust = ssl.create_default_context(cafile=str(https_server.cert))
    client = EventsApiV2Client(key, base_url=https_server.url, verify=trust)
    dedup = client.trigger("Payments return 502", "payments", severity="critical")
    assert group_signals() == 1  # the signal declares the incident: the plan pages
    incident = Incident.objects.get()
    assert Page.objects.filter(incident=incident, status=PageStatus.TRIGGERED).count() >= 3
    delayed = Delivery.objects.get(recipient="commander (phone)")
    assert delayed.status == DeliveryStatus.QUEUED and delayed.next_attempt_at > timezone.now()

    before = timezone.now()
    client.acknowledge(dedup)
    assert_stopped_at_source(incident, before)


def test_the_pagerduty_wire_format_acknowledge_stops_paging_at_once(reachable):
    """The same events as they travel, through the in-process client (fast lane)."""
    key = create_integration("pagerduty", "Nagios")[1]

    def enqueue(body: dict) -> None:
        response = Client().post("/v2/enqueue", json.dumps({"routing_key": key, **body}),
                                 content_type="application/json")
        assert response.status_code == 202, response.content

    enqueue({"event_action": "trigger", "dedup_key": "pay-502",
             "payload": {"summary": "Payments return 502", "source": "payments",
                         "severity": "critical"}})
    group_signals()
    incident = Incident.objects.get()
    before = timezone.now()
    enqueue({"event_action": "acknowledge", "dedup_key": "pay-502"})
    assert_stopped_at_source(incident, before)
    enqueue({"event_action": "acknowledge", "dedup_key": "pay-502"})  # twice: nothing more
    assert incident.entries.filter(kind="paging", body__event="acknowledged_at_source")\
        .count() == Escalation.objects.filter(incident=incident).count()


def test_an_incident_fed_by_two_alerts_waits_for_both_acknowledgements(reachable):
    key = create_integration("pagerduty", "Nagios")[1]
    for dedup in ("a", "b"):
        Client().post("/v2/enqueue", json.dumps({
            "routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": f"Payments {dedup}", "source": "payments",
                        "severity": "critical"}}), content_type="application/json")
    group_signals()
    incident = Incident.objects.get()
    ack = {"routing_key": key, "event_action": "acknowledge"}
    Client().post("/v2/enqueue", json.dumps({**ack, "dedup_key": "a"}),
                  content_type="application/json")
    assert Escalation.objects.filter(incident=incident,
                                     status=EscalationStatus.ACTIVE).exists()
    before = timezone.now()
    Client().post("/v2/enqueue", json.dumps({**ack, "dedup_key": "b"}),
                  content_type="application/json")
    assert_stopped_at_source(incident, before)


def _commanders_page(personas):
    incident = declare_incident(personas["commander"], "Payments fail", ["payments"])
    page = incident.pages.get(user=personas["commander"])
    assert page.status == PageStatus.TRIGGERED
    assert page.escalation.status == EscalationStatus.ACTIVE
    return page


def _assert_acknowledged(page: Page, via: str, since) -> None:
    page.refresh_from_db()
    assert (page.status, page.acknowledged_via) == (PageStatus.ACKNOWLEDGED, via)
    assert page.acknowledged_at is not None and page.acknowledged_at >= since
    escalation = Escalation.objects.get(pk=page.escalation_id)
    assert escalation.status == EscalationStatus.ACKNOWLEDGED
    timeout = escalation.snapshot.get("ack_timeout_minutes") or 0
    assert (escalation.next_step_at is None) == (timeout == 0)
    phone = Delivery.objects.get(recipient="commander (phone)")
    assert phone.status == DeliveryStatus.CANCELLED


def test_the_consoles_acknowledge_stops_the_escalation_at_once(reachable):
    page = _commanders_page(reachable)
    before = timezone.now()
    response = signed_in(reachable["commander"]).post(f"/oncall/pages/{page.pk}/acknowledge/")
    assert response.status_code == 302
    _assert_acknowledged(page, "console", before)


def test_the_apis_acknowledge_stops_the_escalation_at_once(reachable, tokens):
    page = _commanders_page(reachable)
    before = timezone.now()
    done = api(Client(), "POST", f"/pages/{page.pk}/acknowledge", tokens["commander"])
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    assert done.json()["acknowledged_at"] is not None
    _assert_acknowledged(page, "api", before)


def test_one_persons_acknowledgement_stops_the_reminders_of_the_others_paged_with_them(
        reachable):
    """A level that pages a whole team: once one member acknowledges, the others'
    notifications still waiting (the commander's phone, two minutes on) are cancelled
    in the same transaction, as a PagerDuty incident acknowledged by one assignee."""
    policies.save_policy(None, {
        "name": "Technical", "team": Team.objects.get(slug="technical"), "repeats": 0,
        "ack_timeout_minutes": 0,
        "levels": "- targets: [{team: technical}]\n  escalate_after_minutes: 5\n"}, None)
    incident = declare_incident(reachable["commander"], "Checkout is down", ["payments"])
    responders_page = Page.objects.get(incident=incident, user=reachable["responder"],
                                       escalation__policy__name="Technical")
    phone = Delivery.objects.get(incident=incident, recipient="commander (phone)")
    assert phone.status == DeliveryStatus.QUEUED and phone.next_attempt_at > timezone.now()

    response = signed_in(reachable["responder"]).post(
        f"/oncall/pages/{responders_page.pk}/acknowledge/")

    assert response.status_code == 302
    phone.refresh_from_db()
    assert phone.status == DeliveryStatus.CANCELLED
    assert Escalation.objects.get(
        pk=responders_page.escalation_id).status == EscalationStatus.ACKNOWLEDGED
