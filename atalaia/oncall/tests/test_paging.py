"""Paging end to end with a controlled clock: the plan activates teams on
declaration, escalations move on time, repeat, stop on an acknowledgement or on
resolution; notifications go through a real SMTP server and a real HTTP receiver."""

import datetime
import re

import pytest
import time_machine
from django.test import Client

from atalaia.incidents.actions import (
    declare_incident,
    move_stage,
    set_affected_services,
    set_public_status,
)
from atalaia.notify.contacts import add_verified
from atalaia.notify.models import Delivery, DeliveryStatus
from atalaia.notify.outbox import send_due
from atalaia.oncall import paging, policies
from atalaia.oncall.models import (
    Escalation,
    EscalationStatus,
    NotificationRule,
    PageStatus,
)
from conftest import api, pass_gate, signed_in
from tests.servers import Receiver

T0 = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def at(minutes: float):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


@pytest.fixture
def team_policy(demo, personas):
    """The demo's people reachable by e-mail, and a policy for the Technical team:
    the commander first, then the whole team after 5 minutes, once more after that."""
    for name in ("commander", "responder", "communicator"):
        add_verified(personas[name], "email", f"{name}@example.test", "work")
    from atalaia.catalog.models import Team

    return policies.save_policy(None, {
        "name": "Technical", "team": Team.objects.get(slug="technical"), "repeats": 1,
        "ack_timeout_minutes": 30,
        "levels": "- targets: [{person: commander}]\n  escalate_after_minutes: 5\n"
                  "- targets: [{team: technical}]\n  escalate_after_minutes: 10\n"}, None)


def declare(personas, services=("payments",)):
    with at(0):
        return declare_incident(personas["commander"], "Checkout is down", list(services))


def open_pages(incident):
    return sorted((p.user.username, p.level_index + 1, p.escalation.snapshot["name"])
                  for p in incident.pages.filter(status=PageStatus.TRIGGERED))


def events(incident):
    return [e.body["event"] for e in incident.entries.filter(kind="paging").order_by("seq")]


def test_declaring_pages_every_team_of_the_level_at_once(team_policy, personas):
    incident = declare(personas)
    assert incident.level in ("critical", "large_scale")
    assert open_pages(incident) == [("commander", 1, "Technical"),
                                    ("communicator", 1, "Communications (whole team)"),
                                    ("responder", 1, "Support (whole team)")]
    technical = Escalation.objects.get(incident=incident, policy=team_policy)
    assert technical.snapshot["version"] == 1
    assert technical.next_step_at == T0 + datetime.timedelta(minutes=5)
    queued = Delivery.objects.filter(incident=incident, purpose="page")
    assert sorted(d.recipient for d in queued) == [
        "commander (work)", "communicator (work)", "responder (work)"]
    assert events(incident).count("paged") == 3


def test_nobody_acknowledges_next_level_on_time_repeat_then_resolve_stops_all(
        team_policy, personas):
    incident = declare(personas)
    with at(4.9):
        assert paging.step_due() == 0
    with at(5):
        assert paging.step_due() == 1
    assert ("commander", 2, "Technical") in open_pages(incident)
    assert ("responder", 2, "Technical") in open_pages(incident)
    assert incident.pages.get(level_index=0, escalation__policy=team_policy).status == \
        PageStatus.ESCALATED
    with at(15):  # Technical's level 2 ran out: its repeat; the whole-team ones end
        assert paging.step_due() == 3
    technical = Escalation.objects.get(incident=incident, policy=team_policy)
    assert (technical.level_index, technical.cycle) == (0, 1)
    assert Escalation.objects.filter(incident=incident,
                                     status=EscalationStatus.EXHAUSTED).count() == 2
    assert [p for p in open_pages(incident) if p[2] == "Technical"] == [
        ("commander", 1, "Technical")]
    pending = Delivery.objects.filter(incident=incident, status=DeliveryStatus.QUEUED).count()
    # Escalating past a level cancels what its pages had not sent yet.
    cancelled = Delivery.objects.filter(incident=incident, status=DeliveryStatus.CANCELLED).count()
    assert pending > 0 and cancelled > 0
    with at(16):
        move_stage(incident, personas["commander"], "resolution")
        pass_gate(incident, personas)
        set_public_status(incident, personas["commander"], "resolved", "Fixed")
    assert not incident.pages.exclude(status=PageStatus.RESOLVED).exists()
    assert not Escalation.objects.filter(incident=incident, status__in=paging.RUNNING).exists()
    assert Delivery.objects.filter(incident=incident, status=DeliveryStatus.QUEUED).count() == 0
    assert Delivery.objects.filter(incident=incident,
                                   status=DeliveryStatus.CANCELLED).count() == pending + cancelled
    with at(120):
        assert paging.step_due() == 0
    assert "stopped" in events(incident) and "escalated" in events(incident)
    assert events(incident).count("exhausted") == 2


def test_moving_to_review_stops_paging_too(team_policy, personas):
    incident = declare(personas)
    with at(1):
        move_stage(incident, personas["commander"], "resolution")
        pass_gate(incident, personas)
        set_public_status(incident, personas["commander"], "resolved")
        assert not incident.pages.filter(status=PageStatus.TRIGGERED).exists()


def _ack_path(body: str) -> str:
    url = re.search(r"https?://\S+/ack/\S+/", body).group(0)
    return url[url.index("/ack/"):]


def test_page_email_and_webhook_carry_a_link_that_acknowledges_once(
        team_policy, personas, mail):
    receiver = Receiver()
    hook = add_verified(personas["commander"], "apprise",
                        f"json://127.0.0.1:{receiver.port}/hook", "ops hook")
    try:
        incident = declare(personas)
        with at(0.1):
            assert send_due() == 4
    finally:
        receiver.server.shutdown()
    page = incident.pages.get(user=personas["commander"])
    message = next(m for m in mail.parsed() if m["To"] == "commander@example.test")
    assert "Checkout is down" in message["Subject"] and f"#{incident.pk}" in message["Subject"]
    assert message["Message-ID"].startswith(f"<page-{page.pk}-r1-")
    text = message.get_payload(decode=True).decode()
    (hooked,) = receiver.bodies
    assert _ack_path(hooked["message"]) == _ack_path(text)  # one link, every channel
    assert hook.verified_at is not None

    browser = Client(enforce_csrf_checks=True)
    with at(1):
        shown = browser.get(_ack_path(text))
        assert shown.status_code == 200 and b"ack-button" in shown.content
        page.refresh_from_db()
        assert page.status == PageStatus.TRIGGERED  # opening the link (a mail scanner) does nothing
        token = browser.cookies["csrftoken"].value
        done = browser.post(_ack_path(text), {"csrfmiddlewaretoken": token})
        assert done.status_code == 200 and b"ack-done" in done.content
        again = browser.post(_ack_path(text), {"csrfmiddlewaretoken": token})
    assert b"ack-already" in again.content
    page.refresh_from_db()
    assert (page.status, page.acknowledged_via) == (PageStatus.ACKNOWLEDGED, "link")
    assert page.acknowledged_at == T0 + datetime.timedelta(minutes=1)
    assert events(incident).count("acknowledged") == 1
    assert events(incident).count("notification") == 4
    escalation = page.escalation
    escalation.refresh_from_db()
    assert escalation.status == EscalationStatus.ACKNOWLEDGED
    assert Client().post(_ack_path(text) + "x/").status_code in (400, 404)


def test_a_forged_or_expired_link_acknowledges_nothing(team_policy, personas):
    incident = declare(personas)
    page = incident.pages.get(user=personas["commander"])
    with at(0):  # signed on the test's clock, so "a day later" is a day after signing
        url = paging.ack_url(page)
    path = url[url.index("/ack/"):]
    forged = path.replace(path.split("/")[2], path.split("/")[2][:-2] + "xx")
    with at(1):
        assert Client().post(forged).status_code == 400
    with at(24 * 60 + 1):
        response = Client().post(path)
    assert response.status_code == 400 and b"expired" in response.content
    page.refresh_from_db()
    assert page.status == PageStatus.TRIGGERED


def test_acknowledging_cancels_the_later_notifications_of_the_rules(team_policy, personas):
    commander = personas["commander"]
    work = commander.contact_methods.get()
    later = add_verified(commander, "apprise", "json://127.0.0.1:9/hook", "phone")
    NotificationRule.objects.create(user=commander, urgency="high", method=later,
                                    delay_minutes=2)
    NotificationRule.objects.create(user=commander, urgency="high", method=work,
                                    delay_minutes=0)
    incident = declare(personas)
    page = incident.pages.get(user=commander)
    due = sorted((d.recipient, d.next_attempt_at) for d in page.deliveries.all())
    assert due == [("commander (phone)", T0 + datetime.timedelta(minutes=2)),
                   ("commander (work)", T0)]
    with at(1):
        paging.acknowledge(page, commander, "console")
    statuses = {d.recipient: d.status for d in page.deliveries.all()}
    assert statuses["commander (phone)"] == DeliveryStatus.CANCELLED


def test_an_acknowledgement_that_times_out_triggers_again(team_policy, personas):
    incident = declare(personas)
    page = incident.pages.get(user=personas["commander"])
    old_link = paging.ack_url(page)
    with at(1):
        paging.acknowledge(page, personas["commander"], "console")
    with at(30):
        paging.step_due()  # the whole-team escalations end; Technical waits
    page.refresh_from_db()
    assert page.status == PageStatus.ACKNOWLEDGED
    with at(31):
        assert paging.step_due() == 1
    page.refresh_from_db()
    assert (page.status, page.round) == (PageStatus.TRIGGERED, 2)
    assert page.deliveries.filter(idempotency_key__contains="-r2-").count() == 1
    response = Client().get(old_link[old_link.index("/ack/"):])
    assert response.status_code == 400 and b"earlier notification" in response.content
    assert "ack_timed_out" in events(incident)


def test_raising_the_level_pages_the_teams_of_the_new_level_only(team_policy, personas):
    incident = declare(personas, services=["email"])
    assert incident.level == "localized"
    assert list(Escalation.objects.filter(incident=incident).values_list("team__slug",
                                                                         flat=True)) == [
        "technical"]
    with at(2):
        set_affected_services(incident, personas["commander"], ["email", "payments"])
    teams = sorted(Escalation.objects.filter(incident=incident).values_list("team__slug",
                                                                           flat=True))
    assert teams == ["communications", "support", "technical"]
    assert incident.pages.filter(urgency="high").exists()
    assert incident.pages.get(user=personas["commander"]).urgency == "low"


def test_a_changed_policy_leaves_running_escalations_on_their_version(team_policy, personas):
    incident = declare(personas)
    policies.save_policy(team_policy, {
        "name": "Technical", "team": team_policy.team, "repeats": 0,
        "levels": [{"targets": [{"team": "technical"}], "escalate_after_minutes": 1}]}, None)
    team_policy.refresh_from_db()
    assert team_policy.version == 2
    running = Escalation.objects.get(incident=incident, policy=team_policy)
    assert running.snapshot["version"] == 1 and len(running.snapshot["levels"]) == 2
    assert running.pages.get().escalation.snapshot["name"] == "Technical"


def test_responders_reassign_and_escalate_by_hand_through_the_api(
        team_policy, personas, tokens, client):
    incident = declare(personas)
    t = tokens["responder"]
    added = api(client, "POST", f"/incidents/{incident.pk}/responders", t,
                {"kind": "person", "name": "admin"})
    assert added.status_code == 201, added.content
    assert "unreachable" in events(incident)  # admin has no verified method
    page = incident.pages.get(user=personas["communicator"])
    moved = api(client, "POST", f"/pages/{page.pk}/reassign", t, {"username": "viewer"})
    assert moved.status_code == 200 and moved.json()["user"] == "viewer"
    page.refresh_from_db()
    assert page.status == PageStatus.RESOLVED
    technical = Escalation.objects.get(incident=incident, policy=team_policy)
    stepped = api(client, "POST", f"/escalations/{technical.pk}/escalate", t)
    assert stepped.status_code == 200 and stepped.json()["level"] == 2
    listed = api(client, "GET", f"/incidents/{incident.pk}/pages", tokens["viewer"]).json()
    assert {p["user"] for p in listed} >= {"admin", "viewer", "commander", "responder"}
    bad = api(client, "POST", f"/incidents/{incident.pk}/responders", t,
              {"kind": "schedule", "name": "No such"})
    assert bad.status_code == 422 and "no schedule called 'No such'" in bad.json()["detail"]


def test_a_person_acknowledges_their_own_page_through_the_api(team_policy, personas, tokens,
                                                              client):
    incident = declare(personas)
    page = incident.pages.get(user=personas["communicator"])
    other = incident.pages.get(user=personas["commander"])
    assert api(client, "POST", f"/pages/{other.pk}/acknowledge",
               tokens["communicator"]).status_code == 403
    done = api(client, "POST", f"/pages/{page.pk}/acknowledge", tokens["communicator"])
    assert done.status_code == 200 and done.json()["acknowledged_via"] == "api"
    again = api(client, "POST", f"/pages/{page.pk}/acknowledge", tokens["communicator"])
    assert again.status_code == 409 and "acknowledged" in again.json()["detail"]


def test_activate_protocol_shows_who_before_paging(team_policy, personas, demo):
    incident = declare(personas)
    Escalation.objects.filter(incident=incident).delete()
    console = signed_in(personas["responder"])
    preview = console.get(f"/oncall/incidents/{incident.pk}/activate/")
    assert preview.status_code == 200 and b"activate-button" in preview.content
    assert b"commander" in preview.content and b"communicator" in preview.content
    assert not Escalation.objects.filter(incident=incident).exists()
    assert console.post(f"/oncall/incidents/{incident.pk}/activate/").status_code == 302
    assert Escalation.objects.filter(incident=incident).count() == 3


@pytest.mark.parametrize(("levels", "problem"), [
    ("- targets: []\n  escalate_after_minutes: 5\n", "line 1: [0].targets: needs at least 1"),
    ("- targets: [{person: nobody}]\n  escalate_after_minutes: 5\n",
     "line 1: [0].targets[0].person: no person called 'nobody'"),
    ("- targets: [{team: technical}]\n", "missing required key 'escalate_after_minutes'"),
    ("- targets: [{team: technical, person: admin}]\n  escalate_after_minutes: 5\n",
     "name exactly one of person, schedule or team"),
    ("- targets: [{team: technical}]\n  escalate_after_minutes: 0\n", "0 is outside 1..1440"),
    ("[unclosed", "not valid YAML"),
])
def test_malformed_policies_are_refused_with_a_clear_message(demo, personas, levels, problem):
    with pytest.raises(policies.PolicyError) as caught:
        policies.save_policy(None, {"name": "Broken", "levels": levels}, None)
    assert problem in str(caught.value)


def test_the_api_refuses_a_malformed_policy(demo, tokens, client):
    response = api(client, "POST", "/escalation-policies", tokens["admin"],
                   {"name": "P", "levels": [{"targets": [{"team": "nope"}],
                                             "escalate_after_minutes": 3}]})
    assert response.status_code == 422 and "no team called 'nope'" in response.json()["detail"]
    good = api(client, "POST", "/escalation-policies", tokens["admin"],
               {"name": "P", "team": "support", "levels": [
                   {"targets": [{"team": "support"}], "escalate_after_minutes": 3}]})
    assert good.status_code == 201 and good.json()["version"] == 1


def test_the_page_panel_shows_who_was_paged_and_how(team_policy, personas):
    incident = declare(personas)
    room = signed_in(personas["viewer"]).get(f"/incidents/{incident.pk}/")
    assert room.status_code == 200
    assert b'id="pages"' in room.content and b"communicator" in room.content
    assert b"Paged commander" in room.content  # the timeline entry
