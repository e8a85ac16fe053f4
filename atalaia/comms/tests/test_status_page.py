"""Publishing updates and what the public status site shows: the page, the tracking
page, the history, badges and the banner, in both languages, escaped."""

import datetime
import json

import pytest
import time_machine
from django.test import Client

from atalaia.catalog.models import Service
from atalaia.comms import actions, availability, render
from atalaia.comms.models import Broadcast, CompanyChannel, ComponentState, Update
from atalaia.incidents.actions import declare_incident, move_stage
from atalaia.lib.crypto import encrypt
from conftest import pass_gate

T0 = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def clock():
    """Every test here runs on a clock started 30 minutes after T0, not on today's: an
    update published "now" comes after the crisis declared at T0 and before its ETA."""
    with time_machine.travel(T0 + datetime.timedelta(minutes=30), tick=True):
        yield


@pytest.fixture
def crisis(demo, personas):
    with time_machine.travel(T0, tick=False):
        incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
        actions.publish_update(incident, personas["communicator"], "investigating",
                               "Card payments fail for some customers.",
                               "Pagamentos com cartão falham para alguns clientes.",
                               components={"payments": "major_outage"})
    return incident


def test_publishing_sets_states_queues_one_broadcast_per_channel_and_tells_the_timeline(
        crisis, personas):
    CompanyChannel.objects.create(name="Mastodon", kind="social", max_length=500,
                                  target=encrypt("mastodon://token@127.0.0.1/"), hint="x")
    update = actions.publish_update(crisis, personas["communicator"], "identified",
                                    "We found it.", "Encontramos.",
                                    components={"payments": "partial_outage"})
    assert update.components == [{"service": "payments", "name": "Payments",
                                  "old_status": "major_outage", "status": "partial_outage"}]
    current = ComponentState.objects.get(service__slug="payments", ended_at__isnull=True)
    assert current.status == "partial_outage"
    assert sorted(b.audience for b in Broadcast.objects.filter(update=update)) == [
        "channel", "email", "webhook"]
    crisis.refresh_from_db()
    assert crisis.public_status == "identified"
    kinds = list(crisis.entries.values_list("kind", flat=True))
    assert "update" in kinds and "status" in kinds


def test_the_second_language_comes_from_the_plans_template(crisis, personas):
    eta = T0 + datetime.timedelta(hours=2)
    update = actions.publish_update(crisis, personas["communicator"], "identified",
                                    body_en="Fixing the card gateway.", eta=eta)
    assert update.body_en == "Fixing the card gateway."
    assert update.body_pt.startswith("Encontramos a causa do problema em Payments")
    assert "Previsão de solução: 30/11/2026" in update.body_pt


def test_a_bad_update_is_refused_with_a_clear_message(crisis, personas):
    with pytest.raises(actions.CommsError, match="not a public component: database"):
        actions.publish_update(crisis, personas["communicator"], "identified", "x", "y",
                               components={"database": "major_outage"})
    with pytest.raises(actions.CommsError, match="status is one of"):
        actions.publish_update(crisis, personas["communicator"], "fixed", "x", "y")


def test_the_status_page_shows_the_crisis_and_the_components(crisis):
    page = Client().get("/status/", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200
    assert 'class="overall critical"' in text or 'class="overall major"' in text
    assert "Payments failing" in text and "Card payments fail" in text
    assert 'id="component-payments"' in text and "Major outage" in text


def test_the_visitor_language_and_the_switch(crisis):
    pt = Client().get("/status/", HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.9,en;q=0.5")
    assert "Pagamentos com cartão falham" in pt.content.decode()
    assert 'lang="pt-br"' in pt.content.decode()
    en = Client().get("/status/?lang=en", HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert "Card payments fail" in en.content.decode()


def test_the_tracking_page_tells_the_whole_story_newest_first(crisis, personas):
    with time_machine.travel(T0 + datetime.timedelta(minutes=20), tick=False):
        actions.publish_update(crisis, personas["communicator"], "identified",
                               "Second update.", "Segunda atualização.",
                               eta=T0 + datetime.timedelta(hours=3))
    page = Client().get(f"/status/incidents/{crisis.pk}?lang=en").content.decode()
    assert page.index("Second update.") < page.index("Card payments fail")
    assert 'id="eta"' in page and "unknown" not in page.split('id="eta"')[1][:80]
    assert Client().get(f"/i/{crisis.pk}")["Location"] == f"/status/incidents/{crisis.pk}"


def test_an_incident_without_updates_is_not_public(demo, personas):
    quiet = declare_incident(personas["commander"], "Internal only", ["payments"])
    assert Client().get(f"/status/incidents/{quiet.pk}").status_code == 404
    assert "Internal only" not in Client().get("/status/").content.decode()


def test_a_correction_is_shown_as_such(crisis, personas):
    update = crisis.updates.get()
    actions.correct_update(update, personas["communicator"], "Card payments fail for all.",
                           "Pagamentos falham para todos.")
    update.refresh_from_db()
    assert update.previous[0]["body_en"] == "Card payments fail for some customers."
    page = Client().get(f"/status/incidents/{crisis.pk}?lang=en").content.decode()
    assert "Card payments fail for all." in page and "Corrected at" in page


def test_user_text_is_escaped_on_every_public_page(crisis, personas):
    nasty = '<script>alert("x")</script><b>bold</b>'
    with time_machine.travel(T0 + datetime.timedelta(minutes=1), tick=False):
        actions.publish_update(crisis, personas["communicator"], "identified", nasty, nasty)
    for path in ("/status/", f"/status/incidents/{crisis.pk}", "/status/banner/"):
        text = Client().get(path).content.decode()
        assert "<script>alert" not in text
        assert "&lt;script&gt;" in text or path == "/status/banner/"
    banner = json.loads(Client().get("/status/banner.json").content)
    assert banner["message"].startswith("<script>")  # JSON data; the script writes it as text


def test_the_banner_and_badges(crisis):
    data = json.loads(Client().get("/status/banner.json?lang=pt-br").content)
    assert data["active"] and data["title"] == "Payments failing"
    assert data["url"].endswith(f"/status/incidents/{crisis.pk}?lang=pt-br")
    script = Client().get("/status/banner.js")
    assert script["Content-Type"].startswith("text/javascript")
    assert b"textContent" in script.content
    svg = Client().get("/status/badge/payments.svg")
    assert svg["Content-Type"].startswith("image/svg+xml") and b"Major outage" in svg.content
    assert Client().get("/status/badge/database.svg").status_code == 404  # not a component


def test_the_history_lists_resolved_incidents_by_month(crisis, personas):
    move_stage(crisis, personas["commander"], "resolution")
    pass_gate(crisis, personas)
    actions.publish_update(crisis, personas["communicator"], "resolved", "Fixed.", "Resolvido.",
                           components={"payments": "operational"})
    page = Client().get("/status/history/").content.decode()
    assert "2026-11" in page and "Payments failing" in page


def test_the_short_form_keeps_every_networks_limit_and_ends_with_the_link(crisis):
    draft = render.Draft(crisis, "identified", "word " * 400, "palavra " * 400, None, [])
    link = render.short_url(crisis)
    for limit in render.LIMITS.values():
        for language in ("en", "pt-br"):
            text = render.short(draft, language, limit)
            assert len(text) <= limit and text.endswith(link)


def test_availability_from_state_history_weights_partial_outages(crisis):
    service = Service.objects.get(slug="payments")
    ComponentState.objects.all().delete()
    day = datetime.datetime(2026, 11, 28, tzinfo=datetime.UTC)
    ComponentState.objects.create(service=service, status="major_outage",
                                  started_at=day + datetime.timedelta(hours=1),
                                  ended_at=day + datetime.timedelta(hours=7))
    ComponentState.objects.create(service=service, status="partial_outage",
                                  started_at=day + datetime.timedelta(hours=7),
                                  ended_at=day + datetime.timedelta(hours=17))
    bars = availability.bars([service], now=T0)[service.pk]
    by_day = {d.day: d.availability for d in bars.days}
    assert by_day[day.date()] == pytest.approx(1 - (6 + 0.3 * 10) / 24)
    assert by_day[(day - datetime.timedelta(days=1)).date()] == 1.0
    assert len(bars.days) == 90


def test_late_updates_are_counted_by_the_plans_cadence(crisis, personas):
    assert actions.cadence_minutes(crisis) == 15  # critical in the demo plan
    with time_machine.travel(T0 + datetime.timedelta(minutes=40), tick=False):
        actions.publish_update(crisis, personas["communicator"], "identified", "a", "b")
        late = actions.late_updates(crisis)
    assert [item["late_minutes"] for item in late] == [25]
    assert actions.next_update_due(crisis) == T0 + datetime.timedelta(minutes=55)


def test_updates_are_kept_in_order(crisis):
    assert list(Update.objects.values_list("status", flat=True)) == ["investigating"]
