"""Defect 4 of issue 12: resolving through `POST /api/v1/incidents/{id}/updates
{"status": "resolved"}` published the closing update twice (set_public_status →
announce_closing published one, then publish_update the one asked for), and the first
copy dropped the requested component changes. Exactly one closing update per resolve,
whichever way it is resolved, as real subscribers see it: an e-mail at a real SMTP
server, a signed webhook at a real HTTP receiver, the Atom feed and incidents.json."""

import feedparser
import pytest
from django.core.cache import cache

from atalaia.comms import actions
from atalaia.comms.models import Broadcast, ComponentState, Update
from atalaia.comms.tests.test_broadcasts import drain, subscriber
from atalaia.incidents.actions import declare_incident, move_stage
from conftest import api, pass_gate, signed_in
from tests.servers import Receiver

CLOSING = "Payments and Checkout work again. Thank you for your patience."
CLOSING_PT = "Pagamentos e Checkout funcionam de novo. Obrigado pela paciência."


def by_api(incident, personas, tokens, client):
    response = api(client, "POST", f"/incidents/{incident.pk}/updates",
                   tokens["communicator"], {
                       "status": "resolved", "body_en": CLOSING, "body_pt": CLOSING_PT,
                       "components": {"payments": "operational", "checkout": "operational"}})
    assert response.status_code == 201, response.content


def by_compose_form(incident, personas, tokens, client):
    """The console's *Write an update*, status resolved, published."""
    response = signed_in(personas["communicator"]).post(
        f"/comms/incidents/{incident.pk}/update/", {
            "status": "resolved", "body_en": CLOSING, "body_pt": CLOSING_PT,
            "eta_unknown": "1", "component-payments": "operational",
            "add_component": "checkout", "add_component_status": "operational",
            "action": "publish"})
    assert response.status_code == 302, response.content.decode()[-2000:]


def by_room_status(incident, personas, tokens, client):
    """The incident room's *public status*: resolved, with the plan's closing text."""
    response = signed_in(personas["commander"]).post(
        f"/incidents/{incident.pk}/do/status/", {"status": "resolved", "message": CLOSING})
    assert response.status_code == 302


@pytest.mark.parametrize("resolve", [by_api, by_compose_form, by_room_status])
def test_one_closing_update_per_resolve_whichever_way(resolve, demo, personas, tokens, client,
                                                      mail, settings):
    settings.STATUS_VERSION_CHECK_SECONDS = 0
    cache.clear()
    hook = Receiver()
    subscriber("webhook", f"http://127.0.0.1:{hook.port}/hook")
    subscriber("email", "ana@example.test")
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    actions.publish_update(incident, personas["communicator"], "identified", "Found it.",
                           "Encontramos.", components={"payments": "major_outage"})
    move_stage(incident, personas["commander"], "resolution")
    pass_gate(incident, personas)
    try:
        drain()
        mails_before, hooks_before = len(mail.messages), len(hook.bodies)
        resolve(incident, personas, tokens, client)
        drain()
    finally:
        hook.server.shutdown()

    closing = Update.objects.filter(incident=incident, status="resolved")
    assert closing.count() == 1
    assert Broadcast.objects.filter(update__in=closing).count() == 2  # e-mail and webhook
    assert [m["To"] for m in mail.parsed()[mails_before:]] == ["ana@example.test"]
    assert [b["incident"]["status"] for b in hook.bodies[hooks_before:]] == ["resolved"]
    assert ComponentState.objects.get(service__slug="payments",
                                      ended_at__isnull=True).status == "operational"
    if resolve is not by_room_status:  # the components asked for go with the one closing
        assert closing.get().body_en == CLOSING
        assert {c["service"] for c in closing.get().components} == {"payments", "checkout"}
    feed = feedparser.parse(client.get("/status/feed.atom").content)
    assert len(feed.entries) == 2  # identified, resolved
    listed = client.get("/status/api/v2/incidents.json").json()["incidents"]
    assert [u["status"] for u in listed[0]["incident_updates"]] == ["resolved", "identified"]
