"""The official closing: resolving an incident the public heard about publishes the
plan's closing update on every channel, and puts its components back to operational."""

from atalaia.comms import actions, broadcasts
from atalaia.comms.models import CompanyChannel, ComponentState, Update
from atalaia.comms.tests.test_broadcasts import subscriber
from atalaia.incidents.actions import declare_incident, move_stage, set_public_status
from atalaia.lib.crypto import encrypt
from atalaia.notify.outbox import send_due
from conftest import pass_gate
from tests.servers import Receiver


def test_resolving_sends_the_closing_update_everywhere(demo, personas, mail):
    hook, chat = Receiver(), Receiver()
    subscriber("webhook", f"http://127.0.0.1:{hook.port}/hook")
    subscriber("email", "ana@example.test", "pt-br")
    CompanyChannel.objects.create(name="Chat", kind="chat", hint="chat",
                                  target=encrypt(f"json://127.0.0.1:{chat.port}/chat"))
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    actions.publish_update(incident, personas["communicator"], "identified", "Found it.",
                           "Encontramos.", components={"payments": "major_outage"})
    move_stage(incident, personas["commander"], "resolution")
    pass_gate(incident, personas)
    try:
        set_public_status(incident, personas["commander"], "resolved")
        while broadcasts.expand_due() or send_due():
            pass
    finally:
        hook.server.shutdown()
        chat.server.shutdown()
    closing = Update.objects.filter(incident=incident).order_by("-published_at", "-pk").first()
    assert closing.status == "resolved"
    assert closing.body_en.startswith("The problem with Payments is resolved")
    assert closing.body_pt.startswith("O problema em Payments foi resolvido")
    assert ComponentState.objects.get(service__slug="payments",
                                      ended_at__isnull=True).status == "operational"
    assert hook.bodies[-1]["incident"]["status"] == "resolved"
    assert "O problema em Payments foi resolvido" in chat.bodies[-1]["message"]  # in pt-BR
    texts = [m.get_payload(decode=True).decode() for m in mail.parsed()
             if m["To"] == "ana@example.test"]
    assert any("O problema em Payments foi resolvido" in text for text in texts)
    closing_mail = next(text for text in texts if "foi resolvido" in text)
    assert "/feedback/" in closing_mail  # the one-click satisfaction link


def test_an_incident_the_public_never_heard_of_closes_quietly(demo, personas):
    incident = declare_incident(personas["commander"], "Internal", ["payments"])
    move_stage(incident, personas["commander"], "resolution")
    pass_gate(incident, personas)
    set_public_status(incident, personas["commander"], "resolved")
    assert not Update.objects.exists()
