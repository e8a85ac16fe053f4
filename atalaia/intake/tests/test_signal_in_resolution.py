"""Defect 9 of issue 12: a new signal joining an incident already in the resolution
stage was absorbed in silence. It must take the incident back to response, say why on
the timeline, and page the responders again (a re-trigger, as in PagerDuty), through
a real SMTP server."""

import json

from django.test import Client

from atalaia.incidents.actions import move_stage, set_public_status
from atalaia.incidents.models import Incident
from atalaia.intake.actions import create_integration
from atalaia.intake.grouping import group_signals
from atalaia.notify.contacts import add_verified
from atalaia.notify.outbox import send_due
from atalaia.notify.tests.conftest import mail  # noqa: F401 - a real SMTP server
from atalaia.oncall.models import PageStatus
from conftest import pass_gate


def send(key, **event):
    response = Client().post(f"/intake/generic/{key}", json.dumps(event),
                             content_type="application/json")
    assert response.status_code == 202, response.content
    group_signals()


def page_mails(server, since: int) -> set[str]:
    return {m["To"] for m in server.parsed()[since:] if m["Subject"].startswith("[Atalaia]")}


def test_a_new_signal_in_resolution_goes_back_to_response_and_pages_again(
        demo, personas, mail):  # noqa: F811 - the fixture
    for name in ("commander", "responder", "communicator"):
        add_verified(personas[name], "email", f"{name}@example.test", "work")
    _i, key = create_integration("generic", "Alertmanager")
    send(key, summary="Payments returns 503", service="payments", severity="critical",
         dedup_key="503")
    incident = Incident.objects.get()
    while send_due():
        pass
    paged = page_mails(mail, 0)
    assert paged  # the declaration paged people
    send(key, action="acknowledge", dedup_key="503")  # acknowledged at the source
    send(key, action="resolve", dedup_key="503")  # cleared: on to resolution by itself
    incident.refresh_from_db()
    assert incident.stage == "resolution"
    assert not incident.pages.filter(status=PageStatus.TRIGGERED).exists()
    before = len(mail.messages)

    send(key, summary="Payments database refuses connections", service="payments",
         severity="critical", dedup_key="db")

    incident.refresh_from_db()
    assert incident.stage == "response"
    back = incident.entries.filter(kind="stage").order_by("-seq").first()
    assert (back.body["from"], back.body["to"]) == ("resolution", "response")
    assert "Payments database refuses connections" in back.body["text"]
    assert incident.pages.filter(status=PageStatus.TRIGGERED).exists()
    while send_due():
        pass
    assert page_mails(mail, before) == paged  # the same people, paged again


def test_a_signal_after_the_public_heard_resolved_stays_but_still_pages(
        demo, personas, mail):  # noqa: F811 - the fixture
    """With the public status resolved the lifecycle forbids going back to response:
    the incident stays, the timeline says why, and the responders are paged."""
    add_verified(personas["commander"], "email", "commander@example.test", "work")
    _i, key = create_integration("generic", "Alertmanager")
    send(key, summary="Payments returns 503", service="payments", severity="critical",
         dedup_key="503")
    incident = Incident.objects.get()
    move_stage(incident, personas["commander"], "resolution")
    pass_gate(incident, personas)
    set_public_status(incident, personas["commander"], "resolved")
    while send_due():
        pass
    before = len(mail.messages)

    send(key, summary="Payments down again", service="payments", severity="critical",
         dedup_key="again")

    incident.refresh_from_db()
    assert incident.stage == "resolution"
    note = incident.entries.filter(kind="note").order_by("-seq").first()
    assert "Payments down again" in note.body["text"]
    assert "reopen its public status" in note.body["text"]
    while send_due():
        pass
    assert "commander@example.test" in page_mails(mail, before)
