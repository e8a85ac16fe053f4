"""/status/feed.atom and /status/maintenance.ics, read back with the parsers that
feed readers and calendars use."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import feedparser
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from icalendar import Calendar

from atalaia.comms.models import Maintenance, Update
from atalaia.comms.tests.test_statuspage import T0, build_page, update
from atalaia.incidents.actions import declare_incident

ATOM = "{http://www.w3.org/2005/Atom}"
SITE = "http://127.0.0.1:8000"


@pytest.fixture
def page(personas):
    return build_page(personas["communicator"])


def atom(client, **params) -> bytes:
    response = client.get("/status/feed.atom", params)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    return response.content


def events(client, **params) -> dict:
    response = client.get("/status/maintenance.ics", params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == "-//Atalaia//Status maintenance//EN"
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def by_id(feed) -> dict:
    return {e.id: e for e in feed.entries}


# -- Atom -------------------------------------------------------------------------------

def test_the_atom_feed_has_what_rfc_4287_requires(client, page):
    feed = feedparser.parse(atom(client))
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id == "tag:127.0.0.1,2026:status"
    assert feed.feed.title == "Atalaia demo store"
    assert feed.feed.author == "Atalaia demo store"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links == {"self": f"{SITE}/status/feed.atom", "alternate": f"{SITE}/status/"}
    assert len(feed.entries) == 5  # every update of both incidents
    newest = max(page.updates[-1].published_at, T0)
    assert feed.feed.updated == newest.isoformat(timespec="seconds")


def test_one_entry_per_update_with_a_stable_id(client, page):
    first, second, third = page.updates
    entries = by_id(feedparser.parse(atom(client)))
    entry = entries[f"tag:127.0.0.1,2026:update-{second.pk}"]
    assert entry.title == "Checkout errors — Identified"
    assert entry.link == f"{SITE}/status/incidents/{page.active.pk}"
    assert entry.published == second.published_at.isoformat(timespec="seconds")
    assert entry.updated == entry.published
    assert "Expected resolution:" in entry.content[0].value

    corrected_at = T0 + timedelta(hours=5)
    Update.objects.filter(pk=second.pk).update(body_en="A bad deploy, rolled back.",
                                               corrected_at=corrected_at)
    again = by_id(feedparser.parse(atom(client)))[entry.id]
    assert again.updated == corrected_at.isoformat(timespec="seconds")
    assert again.published == entry.published
    assert "rolled back" in again.content[0].value


def test_update_text_is_escaped_never_markup(client, page):
    raw = atom(client)
    assert b"<script" not in raw
    tree = ET.fromstring(raw)
    third = page.updates[-1]
    (entry,) = [e for e in tree.iter(f"{ATOM}entry")
                if e.findtext(f"{ATOM}id").endswith(f"update-{third.pk}")]
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    # The HTML the reader renders shows the text; it holds no element of ours but <p>.
    assert content.text == ("<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; "
                            "&amp; &quot;quotes&quot;</p>")
    parsed = by_id(feedparser.parse(raw))[f"tag:127.0.0.1,2026:update-{third.pk}"]
    assert "<script" not in parsed.content[0].value
    assert "&lt;script&gt;" in parsed.content[0].value


def test_titles_are_escaped(client, page, personas):
    incident = declare_incident(personas["communicator"], "</title><evil/> & co", ["api"])
    update(incident, "investigating", 90, "Hm.")
    raw = atom(client)
    assert b"<evil" not in raw
    titles = [e.title for e in feedparser.parse(raw).entries]
    assert "</title><evil/> & co — Investigating" in titles


def test_the_feed_in_portuguese(client, page):
    feed = feedparser.parse(atom(client, lang="pt-BR"))
    assert feed.feed.id == "tag:127.0.0.1,2026:status-pt-BR"
    assert {link.rel: link.href for link in feed.feed.links}["self"] == \
        f"{SITE}/status/feed.atom?lang=pt-BR"
    entry = by_id(feed)[f"tag:127.0.0.1,2026:update-{page.updates[1].pk}"]
    assert entry.title == "Checkout errors — Identificado"
    assert "PT A bad deploy." in entry.content[0].value


def test_an_empty_feed_is_still_valid(client, db):
    feed = feedparser.parse(atom(client))
    assert not feed.bozo and feed.entries == [] and feed.feed.updated


# -- iCalendar --------------------------------------------------------------------------

def test_the_calendar_has_one_event_per_maintenance(client, page):
    found = events(client)
    uid = f"maintenance-{page.maintenance.pk}@127.0.0.1"
    assert set(found) == {uid, f"maintenance-{page.upcoming.pk}@127.0.0.1"}
    event = found[uid]
    assert event["SUMMARY"] == "Payments database upgrade"
    assert event.decoded("DTSTART") == T0 + timedelta(hours=1)
    assert event.decoded("DTEND") == T0 + timedelta(hours=3)
    assert event["SEQUENCE"] == 2
    assert event["STATUS"] == "CONFIRMED"
    assert event["URL"] == f"{SITE}/status/"
    assert "DTSTAMP" in event
    assert str(event["DESCRIPTION"]) == ("Payments may fail, retry later.\n\n"
                                         "Affected: Payments")


def test_the_calendar_name(client, page):
    response = client.get("/status/maintenance.ics")
    calendar = Calendar.from_ical(response.content)
    assert calendar["X-WR-CALNAME"] == "Atalaia demo store: scheduled maintenance"


def test_a_moved_maintenance_keeps_its_uid_with_a_higher_sequence(client, page):
    uid = f"maintenance-{page.maintenance.pk}@127.0.0.1"
    Maintenance.objects.filter(pk=page.maintenance.pk).update(
        sequence=3, scheduled_until=T0 + timedelta(hours=4))
    event = events(client)[uid]
    assert event["SEQUENCE"] == 3
    assert event.decoded("DTEND") == T0 + timedelta(hours=4)


def test_calendar_text_is_escaped(client, page):
    text = "Line one; with, commas\nBEGIN:VEVENT\nUID:forged"
    Maintenance.objects.filter(pk=page.upcoming.pk).update(title_en=text, body_en=text)
    found = events(client)
    assert len(found) == 2 and "forged" not in found
    event = found[f"maintenance-{page.upcoming.pk}@127.0.0.1"]
    assert str(event["SUMMARY"]) == text
    assert str(event["DESCRIPTION"]).startswith(text)


def test_the_calendar_in_portuguese(client, page):
    event = events(client, lang="pt-BR")[f"maintenance-{page.maintenance.pk}@127.0.0.1"]
    assert event["SUMMARY"] == "Atualização do banco de pagamentos"
    assert str(event["DESCRIPTION"]).startswith("Pagamentos podem falhar.")


@pytest.mark.parametrize("path", ["/status/feed.atom", "/status/maintenance.ics"])
def test_feeds_are_public_read_only_and_bounded(client, page, personas, path):
    assert client.post(path).status_code == 405

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    before = count()
    for n in range(5):
        incident = declare_incident(personas["communicator"], f"Blip {n}", ["api"])
        update(incident, "investigating", 100 + n, "More.")
        extra = Maintenance.objects.create(
            title_en="More", title_pt="Mais", scheduled_for=T0 + timedelta(days=n + 1),
            scheduled_until=T0 + timedelta(days=n + 2))
        extra.components.set([page.maintenance.components.first()])
    assert count() == before
