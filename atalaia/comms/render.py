"""One update, rendered for every channel and both languages.

Everything a channel shows comes from here, so the preview before publishing is
exactly what goes out: the status page entry, the e-mail, the short form for
social networks and SMS (within each one's limit, always ending with the tracking
page's link), the chat message and the app push.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _

from atalaia.incidents.models import Incident, PublicStatus

# Common limits, for previews and for channels created without one.
LIMITS = {"mastodon": 500, "bluesky": 300, "x": 280, "sms": 160}
ELLIPSIS = "…"


@dataclass
class Draft:
    """An update before (or after) it is published: what render needs."""

    incident: Incident
    status: str
    body_en: str
    body_pt: str
    eta: datetime | None
    components: list[dict]  # [{"service", "name", "status"}]

    def body(self, language: str) -> str:
        return self.body_pt if is_pt(language) else self.body_en

    def digest(self) -> str:
        """A fingerprint of everything the update says: a preview carries it, so that
        publishing can tell whether what goes out is still what was previewed."""
        said = [self.incident.pk, self.status, self.body_en, self.body_pt,
                self.eta.isoformat() if self.eta else None,
                [[c["service"], c["status"]] for c in self.components]]
        return hashlib.sha256(json.dumps(said).encode()).hexdigest()


def is_pt(language: str) -> bool:
    return (language or "").lower().startswith("pt")


def speaking(language: str) -> translation.override:
    """Translate in one of the product's two languages for the block."""
    return translation.override("pt-br" if is_pt(language) else "en")


def tracking_url(incident: Incident, language: str = "") -> str:
    url = f"{settings.SITE_URL.rstrip('/')}/status/incidents/{incident.pk}"
    return f"{url}?lang={'pt-br' if is_pt(language) else 'en'}" if language else url


def short_url(incident: Incident) -> str:
    """/i/<id>: the short stable link, for messages where every character counts."""
    return f"{settings.SITE_URL.rstrip('/')}/i/{incident.pk}"


def status_label(status: str, language: str) -> str:
    with speaking(language):
        return str(PublicStatus(status).label) if status in PublicStatus.values else status


def eta_text(eta: datetime | None, language: str) -> str:
    with speaking(language):
        if eta is None:
            return _("unknown")
        local = eta.astimezone(ZoneInfo(settings.STATUS_TIME_ZONE))
        return f"{formats.date_format(local, 'SHORT_DATETIME_FORMAT')} ({local.tzname()})"


def from_template(incident: Incident, status: str, language: str, components: list[str],
                  eta: datetime | None) -> str:
    """The plan's text for this status at the incident's level, filled in; "" when
    the plan has none."""
    plan = incident.plan_version.plan if incident.plan_version else None
    level = (plan or {}).get("levels", {}).get(incident.level, {})
    text = level.get("templates", {}).get(status, {}).get("pt-BR" if is_pt(language) else "en")
    if not text:
        return ""
    return text.replace("{title}", incident.title).replace(
        "{components}", ", ".join(components) or incident.title).replace(
        "{eta}", eta_text(eta, language))


def subject(draft: Draft, language: str) -> str:
    return f"[{status_label(draft.status, language)}] {draft.incident.title}"


def email(draft: Draft, language: str, manage_url: str = "",
          feedback_url: str = "") -> tuple[str, str]:
    """Subject and plain text of the e-mail to subscribers; the closing one asks how we
    did (`feedback_url`: one answer per recipient, no account needed)."""
    with speaking(language):
        lines = [draft.body(language), "",
                 _("Status: %(status)s") % {"status": status_label(draft.status, language)},
                 _("Expected resolution: %(eta)s") % {"eta": eta_text(draft.eta, language)}]
        if draft.components:
            lines.append(_("Affected: %(names)s") % {
                "names": ", ".join(c["name"] for c in draft.components)})
        lines += ["", _("Follow it here: %(url)s") % {"url": tracking_url(draft.incident,
                                                                           language)}]
        if feedback_url:
            lines += ["", _("How did we handle it? Tell us in one click: %(url)s") % {
                "url": feedback_url}]
        if manage_url:
            lines += ["", _("Change or cancel your subscription: %(url)s") % {"url": manage_url}]
    return subject(draft, language), "\n".join(lines) + "\n"


def short(draft: Draft, language: str, limit: int) -> str:
    """Within `limit` characters (0: none), always ending with the tracking link:
    the body is cut at a word and given an ellipsis when it does not fit."""
    link = short_url(draft.incident)
    head = f"{status_label(draft.status, language)}: "
    text = draft.body(language).replace("\n", " ").strip()
    full = f"{head}{text} {link}"
    if not limit or len(full) <= limit:
        return full
    room = limit - len(head) - len(link) - 1 - len(ELLIPSIS)
    if room <= 0:
        return link[:limit]
    cut = text[:room]
    if " " in cut and len(cut) == room:
        cut = cut.rsplit(" ", 1)[0]
    return f"{head}{cut.rstrip(' ,.;:')}{ELLIPSIS} {link}"


def chat(draft: Draft, language: str) -> tuple[str, str]:
    """Title and body for chat channels (Slack, Teams, Telegram, Discord)."""
    title = f"{status_label(draft.status, language)}: {draft.incident.title}"
    with speaking(language):
        body = "\n".join([draft.body(language),
                          _("Expected resolution: %(eta)s") % {
                              "eta": eta_text(draft.eta, language)},
                          tracking_url(draft.incident, language)])
    return title, body


def push(draft: Draft, language: str) -> tuple[str, str]:
    """Title and a short body for app push (ntfy, OneSignal, WebPush)."""
    return draft.incident.title, short(draft, language, 240)


def previews(draft: Draft, channels) -> dict:
    """Every rendering, for the console's preview before publishing."""
    result = {}
    for language in ("pt-br", "en"):
        result[language] = {
            "email": email(draft, language),
            "chat": chat(draft, language),
            "push": push(draft, language),
            "short": {name: short(draft, language, limit) for name, limit in LIMITS.items()},
            "channels": [(c, channel_text(c, draft, language)) for c in channels],
        }
    return result


def channel_text(channel, draft: Draft, language: str) -> tuple[str, str]:
    """Title and body for one company channel, by its kind and limit."""
    if channel.kind == "social" or channel.max_length:
        return "", short(draft, language, channel.max_length)
    if channel.kind == "push":
        return push(draft, language)
    return chat(draft, language)


# -- scheduled maintenance -------------------------------------------------------------

def _window(maintenance, language: str) -> str:
    zone = ZoneInfo(settings.STATUS_TIME_ZONE)
    start = maintenance.scheduled_for.astimezone(zone)
    end = maintenance.scheduled_until.astimezone(zone)
    with speaking(language):
        return (f"{formats.date_format(start, 'SHORT_DATETIME_FORMAT')} – "
                f"{formats.date_format(end, 'SHORT_DATETIME_FORMAT')} ({start.tzname()})")


def maintenance_headline(maintenance, event: str, language: str) -> str:
    with speaking(language):
        words = {"announced": _("Scheduled maintenance"), "started": _("Maintenance started"),
                 "completed": _("Maintenance completed")}
        return f"{words.get(event, _('Maintenance'))}: {maintenance.title(language)}"


def maintenance_email(maintenance, event: str, language: str,
                      manage_url: str = "") -> tuple[str, str]:
    with speaking(language):
        lines = [maintenance.body(language) or maintenance.title(language), "",
                 _("When: %(window)s") % {"window": _window(maintenance, language)},
                 _("Affected: %(names)s") % {"names": ", ".join(
                     c.name for c in maintenance.components.all())},
                 "", _("Details: %(url)s") % {"url": settings.SITE_URL.rstrip("/") + "/status/"}]
        if manage_url:
            lines += ["", _("Change or cancel your subscription: %(url)s") % {"url": manage_url}]
    return maintenance_headline(maintenance, event, language), "\n".join(lines) + "\n"


def maintenance_short(maintenance, event: str, language: str, limit: int) -> tuple[str, str]:
    link = settings.SITE_URL.rstrip("/") + "/status/"
    headline = maintenance_headline(maintenance, event, language)
    text = f"{headline} ({_window(maintenance, language)})"
    room = (limit - len(link) - 1) if limit else len(text)
    if len(text) > room:
        text = text[:max(room - 1, 0)].rstrip() + ELLIPSIS
    return "", f"{text} {link}"
