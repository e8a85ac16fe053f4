"""The public feeds: an Atom feed of updates (RFC 4287) and an iCalendar feed of
scheduled maintenance (RFC 5545). Both are built as trees by libraries that
escape every text they are given, so what people typed is never markup.

Ids never change once given: an entry is `tag:<host>,2026:update-<number>`, an
event `maintenance-<number>@<host>`; a corrected update keeps its id with a new
`updated`, a moved maintenance keeps its UID with a higher SEQUENCE.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from atalaia.comms import public, render
from atalaia.comms.models import Maintenance, Update

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
TAG_YEAR = 2026  # the tag URIs' date: changing it would change every id
ENTRIES = 50
EVENTS = 200
CALENDAR_NAME = {"en": "%(name)s: scheduled maintenance",
                 "pt-BR": "%(name)s: manutenção programada"}


def host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def _base() -> str:
    return settings.SITE_URL.rstrip("/")


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# -- Atom -------------------------------------------------------------------------------

def entry_id(update: Update) -> str:
    return f"tag:{host()},{TAG_YEAR}:update-{update.pk}"


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def _content(update: Update, lang: str) -> str:
    """The update as HTML: the body's text escaped, its paragraphs kept."""
    html = linebreaks(update.body(lang), autoescape=True)
    if update.eta is not None:
        with render.speaking(lang):
            line = _("Expected resolution: %(eta)s") % {"eta": render.eta_text(update.eta,
                                                                                lang)}
        html += f"\n<p>{escape(line)}</p>"
    return html


def _entry(feed: ET.Element, update: Update, lang: str) -> None:
    entry = ET.SubElement(feed, "entry")
    _text(entry, "id", entry_id(update))
    _text(entry, "title", f"{update.incident.title} — "
                          f"{render.status_label(update.status, lang)}")
    _text(entry, "updated", _stamp(update.corrected_at or update.published_at))
    _text(entry, "published", _stamp(update.published_at))
    ET.SubElement(entry, "link", {"rel": "alternate", "type": "text/html",
                                  "href": render.tracking_url(update.incident)})
    _text(entry, "content", _content(update, lang), type="html")


def atom(lang: str = "en") -> bytes:
    updates = public.recent_updates(ENTRIES)
    suffix = "?lang=pt-BR" if render.is_pt(lang) else ""
    feed = ET.Element("feed", {"xmlns": ATOM, XML_LANG: "pt-BR" if suffix else "en"})
    _text(feed, "id", f"tag:{host()},{TAG_YEAR}:status{'-pt-BR' if suffix else ''}")
    _text(feed, "title", settings.STATUS_NAME)
    newest = max((u.corrected_at or u.published_at for u in updates), default=None)
    _text(feed, "updated", _stamp(newest or public.changed_at()))
    ET.SubElement(feed, "link", {"rel": "self", "type": "application/atom+xml",
                                 "href": f"{_base()}/status/feed.atom{suffix}"})
    ET.SubElement(feed, "link", {"rel": "alternate", "type": "text/html",
                                 "href": f"{_base()}/status/{suffix}"})
    author = ET.SubElement(feed, "author")
    _text(author, "name", settings.STATUS_NAME)
    _text(author, "uri", f"{_base()}/status/")
    for update in updates:
        _entry(feed, update, lang)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


# -- iCalendar --------------------------------------------------------------------------

def event_uid(item: Maintenance) -> str:
    return f"maintenance-{item.pk}@{host()}"


def _description(item: Maintenance, lang: str) -> str:
    names = ", ".join(service.name for service in item.components.all())
    with render.speaking(lang):
        affected = _("Affected: %(names)s") % {"names": names} if names else ""
    return "\n\n".join(part for part in (item.body(lang), affected) if part)


def _event(item: Maintenance, lang: str) -> Event:
    event = Event()
    event.add("uid", event_uid(item))
    event.add("dtstamp", item.updated_at)
    event.add("created", item.created_at)
    event.add("last-modified", item.updated_at)
    event.add("dtstart", item.scheduled_for)
    event.add("dtend", item.scheduled_until)
    event.add("summary", item.title(lang))
    event.add("description", _description(item, lang))
    event.add("sequence", item.sequence)
    # Every maintenance we list takes place: there is no cancelled state (one that
    # will not happen is deleted, and leaves the feed).
    event.add("status", "CONFIRMED")
    event.add("url", f"{_base()}/status/")
    return event


def calendar(lang: str = "en") -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Atalaia//Status maintenance//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", CALENDAR_NAME["pt-BR" if render.is_pt(lang) else "en"]
            % {"name": settings.STATUS_NAME})
    for item in public.recent_maintenances(EVENTS):
        cal.add_component(_event(item, lang))
    return cal.to_ical()
