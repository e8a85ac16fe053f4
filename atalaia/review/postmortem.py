"""The post-mortem document: generated in Markdown from the incident and its review,
edited in the console, exported as Markdown, HTML or PDF, and published on the
public tracking page.

Text written by people (titles, timeline notes, feedback, root cause …) may contain
HTML. It is escaped where it goes into the generated Markdown, and the renderer
never passes raw HTML through and drops links that are not http(s), mailto or
relative, so an edited document cannot carry markup or scripts either.
"""

from __future__ import annotations

import html as htmllib
import logging
import re
from datetime import datetime
from statistics import mean
from typing import Any

import markdown
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from atalaia.accounts.models import User
from atalaia.comms import version
from atalaia.incidents.actions import append_entry
from atalaia.incidents.models import EntryKind, Incident, PublicStatus, TimelineEntry
from atalaia.plans.schema import level_name
from atalaia.review import timings
from atalaia.review.models import Review

# WeasyPrint logs each step of every rendering at INFO.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

MAX_LENGTH = 200_000
FORMATS = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
           "pdf": "application/pdf"}
SERVICES_LISTED = 30


class PostmortemError(ValueError):
    """Input the post-mortem actions cannot accept; the message says what is wrong."""


class NotPublic(PostmortemError):
    """A confidential incident has no public tracking page to publish on."""


# ---------------------------------------------------------------- escaping

# Labels used inside f-strings (T for short): makemessages does not look into
# f-strings, so each is marked here.
T = {
    "Declared": gettext_lazy("Declared"),
    "Difference": gettext_lazy("Difference"),
    "Duration": gettext_lazy("Duration"),
    "Help-desk tickets linked": gettext_lazy("Help-desk tickets linked"),
    "Incident": gettext_lazy("Incident"),
    "Level": gettext_lazy("Level"),
    "Measure": gettext_lazy("Measure"),
    "Operational risk": gettext_lazy("Operational risk"),
    "Permanent fix": gettext_lazy("Permanent fix"),
    "Resolved": gettext_lazy("Resolved"),
    "Root cause": gettext_lazy("Root cause"),
    "Security risk": gettext_lazy("Security risk"),
    "Services affected": gettext_lazy("Services affected"),
    "Services compromised": gettext_lazy("Services compromised"),
    "Target": gettext_lazy("Target"),
    "Team": gettext_lazy("Team"),
    "The fix in place is temporary.": gettext_lazy("The fix in place is temporary."),
    "Took": gettext_lazy("Took"),
    "Users": gettext_lazy("Users"),
    "Users affected": gettext_lazy("Users affected"),
    "What fixed it": gettext_lazy("What fixed it"),
    "not yet": gettext_lazy("not yet"),
    "of": gettext_lazy("of"),
    "plan": gettext_lazy("plan"),
    "so far": gettext_lazy("so far"),
    "tools": gettext_lazy("tools"),
}


def esc(value: Any) -> str:
    """A person's text, safe to put in Markdown: no markup survives rendering."""
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def inline(value: Any) -> str:
    """One line of a list or a table cell: line breaks become spaces, pipes are text."""
    return " ".join(esc(value).split()).replace("|", "\\|")


def block(value: Any, indent: str = "") -> str:
    """Several lines kept as they are; continuation lines indented to stay in a list item."""
    lines = esc(value).strip().splitlines()
    return ("\n" + indent).join(line.rstrip() for line in lines)


# ---------------------------------------------------------------- formatting

def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(abs(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return " ".join([f"{days} d", *([f"{hours} h"] if hours else []),
                         *([f"{minutes} min"] if minutes else [])])
    if hours:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    return f"{secs} s"


def _gap(gap: float | None) -> str:
    if gap is None:
        return "—"
    if abs(gap) < 1:
        return _("on target")
    return (_("%(time)s over") if gap > 0 else _("%(time)s under")) % {"time": _duration(gap)}


def resolved_at(incident: Incident) -> datetime | None:
    """When the closing message went out: the last move of the public status to resolved."""
    if incident.public_status != PublicStatus.RESOLVED:
        return None
    entry = (incident.entries.filter(kind=EntryKind.STATUS, body__to=PublicStatus.RESOLVED)
             .order_by("-seq").first())
    return entry.created_at if entry else None


# ---------------------------------------------------------------- generation

def generate(incident: Incident) -> str:
    """The post-mortem in Markdown, from what the incident and its review recorded."""
    # Actions change a locked copy of the incident: read what they saved.
    incident = Incident.objects.select_related("plan_version").get(pk=incident.pk)
    review = Review.objects.filter(incident=incident).first()
    entries = list(incident.entries.order_by("seq"))
    sections = [
        _summary(incident),
        _impact(incident),
        _timeline(entries),
        _tried(incident, entries),
        _timings(incident),
        _feedback(incident, review),
        _factors(review),
        _resolution(incident),
        _actions(review),
    ]
    title = _("Post-mortem: #%(id)s %(title)s") % {"id": incident.pk,
                                                  "title": inline(incident.title)}
    return "\n\n".join([f"# {title}", *sections]).rstrip() + "\n"


def _section(heading: str, lines: list[str], empty: str) -> str:
    return f"## {heading}\n\n" + ("\n".join(lines) if lines else f"_{empty}_")


def _summary(incident: Incident) -> str:
    plan = incident.plan_version.plan if incident.plan_version else None
    resolved = resolved_at(incident)
    end = resolved or timezone.now()
    lines = [
        f"- **{T['Incident']}:** #{incident.pk} {inline(incident.title)}",
        f"- **{T['Level']}:** {inline(level_name(plan, incident.level, get_language() or 'en'))}",
        f"- **{T['Declared']}:** {_when(incident.declared_at)}",
        f"- **{T['Resolved']}:** {_when(resolved) if resolved else T['not yet']}",
        f"- **{T['Duration']}:** {_duration((end - incident.declared_at).total_seconds())}"
        + ("" if resolved else f" ({T['so far']})"),
    ]
    if incident.summary.strip():
        lines += ["", block(incident.summary)]
    return _section(_("Summary"), lines, "")


def _impact(incident: Incident) -> str:
    impact = incident.impact or {}
    direct = [inline(name) for name in incident.services.values_list("name", flat=True)]
    reached = [inline(n) for n in (impact.get("services") or {}).get("name", [])]
    more = len(reached) - SERVICES_LISTED
    compromised = ", ".join(reached[:SERVICES_LISTED]) + (
        _(" and %(count)s more") % {"count": more} if more > 0 else "")
    share = impact.get("users_share") or 0.0
    lines = [
        f"- **{T['Users affected']}:** {impact.get('users_affected', 0):,}"
        f" {T['of']} {impact.get('users_total', 0):,} ({share:.1%})",
        f"- **{T['Services affected']}:** {', '.join(direct) or '—'}",
        f"- **{T['Services compromised']}"
        f" ({impact.get('services_affected', len(reached))}):** {compromised or '—'}",
        f"- **{T['Operational risk']}:** {inline(impact.get('operational_risk', '—'))}",
        f"- **{T['Help-desk tickets linked']}:** {incident.tickets.count()}",
    ]
    if impact.get("security_risk"):
        lines.append(f"- **{T['Security risk']}:** {inline(impact.get('security_reason', ''))}")
    return _section(_("Impact"), lines, "")


def _change(entry: TimelineEntry, body: dict) -> str:
    text = (f"{inline(entry.get_kind_display())}: {inline(body.get('from', '—'))} → "
            f"{inline(body.get('to', '—'))}")
    extra = body.get("text") or body.get("reason")
    return f"{text} — {inline(extra)}" if extra else text


def _paging(body: dict) -> str:
    event = body.get("event", "")
    who = inline(body.get("user") or ", ".join(body.get("users") or []))
    words = {
        "escalation_started": _("Escalation started: %(policy)s"),
        "paged": _("Paged %(who)s"),
        "unreachable": _("%(who)s has no verified contact method"),
        "acknowledged": _("%(who)s acknowledged"),
        "escalated": _("Nobody acknowledged: escalated to level %(level)s of %(policy)s"),
        "exhausted": _("Nobody acknowledged and %(policy)s has no level left"),
        "stopped": _("Paging stopped (%(why)s)"),
        "notification": _("Notification to %(to)s by %(channel)s: %(result)s"),
    }
    if event not in words:
        return _("Paging: %(event)s") % {"event": inline(event)}
    return words[event] % {"who": who, "policy": inline(body.get("policy", "")),
                           "level": inline(body.get("level", "")),
                           "why": inline(body.get("why", "")), "to": inline(body.get("to", "")),
                           "channel": inline(body.get("channel", "")),
                           "result": inline(body.get("result", ""))}


def _generic(entry: TimelineEntry, body: dict) -> str:
    text = (body.get("text") or body.get("summary") or body.get("title") or body.get("item")
            or body.get("event") or "")
    label = inline(entry.get_kind_display())
    outcome = f" ({inline(body['outcome'])})" if body.get("outcome") else ""
    return f"{label}{outcome}: {inline(text)}" if text else label


_DESCRIBE: dict[str, Any] = {
    EntryKind.DECLARED: lambda e, b: _("Incident declared: %(title)s (level %(level)s)") % {
        "title": inline(b.get("title", "")), "level": inline(b.get("level", ""))},
    EntryKind.STAGE: _change, EntryKind.STATUS: _change, EntryKind.LEVEL: _change,
    EntryKind.RESOLUTION: lambda e, b: _("Root cause recorded: %(cause)s") % {
        "cause": inline(b.get("root_cause", ""))},
    EntryKind.ROLE: lambda e, b: f"{inline(b.get('role', ''))}: {inline(b.get('user', ''))}",
    EntryKind.ETA: lambda e, b: _("Expected resolution: %(eta)s") % {
        "eta": inline(b.get("eta") or "—")},
    EntryKind.CHECKLIST: lambda e, b: ("☑ " if b.get("done") else "☐ ") + inline(
        b.get("item", "")),
    EntryKind.SIGNAL: lambda e, b: _("Signal (%(event)s): %(summary)s") % {
        "event": inline(b.get("event", "")), "summary": inline(b.get("summary", ""))},
    EntryKind.IMPACT: lambda e, b: _("Impact reassessed: %(users)s users, %(services)s "
                                     "services") % {
        "users": (b.get("impact") or {}).get("users_affected", "—"),
        "services": (b.get("impact") or {}).get("services_affected", "—")},
    EntryKind.PAGING: lambda e, b: _paging(b),
    EntryKind.TICKET: lambda e, b: _("Help-desk ticket linked: %(system)s %(reference)s") % {
        "system": inline(b.get("system", "")), "reference": inline(b.get("reference", ""))},
    EntryKind.SECURITY: lambda e, b: _("Security risk: %(flag)s %(reason)s") % {
        "flag": _("yes") if b.get("security_risk") else _("no"),
        "reason": inline(b.get("security_reason", ""))},
}


def describe(entry: TimelineEntry) -> str:
    """One timeline entry in plain words (already escaped)."""
    return _DESCRIBE.get(entry.kind, _generic)(entry, entry.body or {})


def _timeline(entries: list[TimelineEntry]) -> str:
    lines = [f"- {_when(e.created_at)} · {inline(e.author_name)} · {describe(e)}"
             for e in entries]
    return _section(_("Timeline"), lines, _("No timeline entries."))


def _tried(incident: Incident, entries: list[TimelineEntry]) -> str:
    lines = []
    for entry in entries:
        if entry.kind not in (EntryKind.ATTEMPT, EntryKind.RESULT):
            continue
        body = entry.body or {}
        outcome = f" — {inline(body['outcome'])}" if body.get("outcome") else ""
        lines.append(f"- {_when(entry.created_at)} **{inline(entry.get_kind_display())}**"
                     f"{outcome}: {inline(body.get('text', ''))}")
    fixes = list(incident.runs.filter(is_fix=True).order_by("requested_at", "pk"))
    if fixes:
        lines += ["", f"**{T['What fixed it']}:**", ""]
        lines += [f"- {_when(run.finished_at or run.started_at)} {inline(run.step)}"
                  f" ({inline(run.get_status_display())}): {inline(run.command)}"
                  for run in fixes]
    return _section(_("What was tried and what fixed it"), lines,
                    _("No attempts or results were recorded."))


def _timings(incident: Incident) -> str:
    rows = timings.for_incident(incident)
    if not rows:
        return _section(_("Timings against the plan's targets"), [], _("No timings."))
    lines = [f"| {T['Measure']} | {T['Took']} | {T['Target']} | {T['Difference']} |",
             "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {inline(row.label)} | {_duration(row.seconds)}"
                     f" | {_duration(row.target_seconds)} | {_gap(row.gap)} |")
    return _section(_("Timings against the plan's targets"), lines, "")


def _average(values: list[int]) -> str:
    return f"{mean(values):.1f} / 5" if values else "—"


def _feedback(incident: Incident, review: Review | None) -> str:
    team = list(review.team_feedback.order_by("created_at", "pk")) if review else []
    users = list(incident.user_feedback.order_by("created_at", "pk"))
    lines = [
        f"- **{T['Team']}** ({len(team)}): {T['plan']} {_average([f.plan_rating for f in team])},"
        f" {T['tools']} {_average([f.tools_rating for f in team])}",
        f"- **{T['Users']}** ({len(users)}): {_average([f.rating for f in users])}",
    ]
    worked = [f"- {block(f.worked, '  ')}" for f in team if f.worked.strip()]
    did_not = [f"- {block(f.did_not, '  ')}" for f in team if f.did_not.strip()]
    comments = [f"- ({f.rating}/5) {block(f.comment, '  ')}" for f in users if f.comment.strip()]
    for heading, items in ((_("What worked"), worked), (_("What did not work"), did_not),
                           (_("Users' comments"), comments)):
        if items:
            lines += ["", f"### {heading}", "", *items]
    return _section(_("Feedback"), lines, "")


def _factors(review: Review | None) -> str:
    text = review.contributing_factors.strip() if review else ""
    return _section(_("Contributing factors"), [block(text)] if text else [],
                    _("None recorded yet."))


def _resolution(incident: Incident) -> str:
    lines = []
    if incident.root_cause.strip():
        lines += [f"### {T['Root cause']}", "", block(incident.root_cause), ""]
    if incident.permanent_fix.strip():
        lines += [f"### {T['Permanent fix']}", "", block(incident.permanent_fix)]
        if incident.fix_is_temporary:
            lines += ["", f"_{T['The fix in place is temporary.']}_"]
    return _section(_("Root cause and permanent fix"), lines, _("None recorded yet."))


def _actions(review: Review | None) -> str:
    items = list(review.action_items.select_related("owner")) if review else []
    lines = []
    for item in items:
        done = "x" if item.done_at else " "
        details = [inline(item.owner.username) if item.owner else _("no owner"),
                   (_("due %(date)s") % {"date": item.due_on.isoformat()}) if item.due_on
                   else _("no due date")]
        if item.permanent_fix:
            details.append(_("permanent fix"))
        lines.append(f"- [{done}] {inline(item.title)} ({', '.join(details)})")
    return _section(_("Action items"), lines, _("No action items."))


# ---------------------------------------------------------------- the document

def document(review: Review) -> str:
    """The edited post-mortem, or a generated one while nobody has edited it."""
    return review.document if review.document.strip() else generate(review.incident)


def save_document(review: Review, text: str) -> None:
    """Keep an edited version; an empty text goes back to the generated one."""
    text = (text or "").replace("\r\n", "\n")
    if len(text) > MAX_LENGTH:
        raise PostmortemError(f"the document is longer than {MAX_LENGTH:,} characters")
    review.document = text if text.strip() else ""
    review.document_updated_at = timezone.now() if review.document else None
    review.save(update_fields=["document", "document_updated_at"])


def regenerate(review: Review) -> None:
    """Drop the edits: the document follows the incident again."""
    save_document(review, "")


@transaction.atomic
def publish(review: Review, actor: User | None, text: str) -> None:
    """Put a public version of the post-mortem on the incident's tracking page."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise PostmortemError("there is nothing to publish")
    if len(text) > MAX_LENGTH:
        raise PostmortemError(f"the document is longer than {MAX_LENGTH:,} characters")
    incident = Incident.objects.select_for_update().get(pk=review.incident_id)
    if incident.confidential:
        raise NotPublic("the incident is confidential: it has no public tracking page")
    now = timezone.now()
    Review.objects.filter(pk=review.pk).update(public_document=text, published_at=now)
    review.public_document, review.published_at = text, now
    append_entry(incident, EntryKind.REVIEW, actor, {
        "event": "postmortem_published", "length": len(text),
        "text": "Post-mortem published on the public tracking page"})
    version.bump()


# ---------------------------------------------------------------- rendering

_SAFE_URL = re.compile(r"^(?:https?:|mailto:|#|/|\.|[^:/?#]*(?:[/?#]|$))", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


def safe_url(url: str) -> bool:
    """Whether a link or image address is http(s), mailto or relative, as a browser reads it."""
    if "\x02" in url or "\x03" in url:  # Python-Markdown's placeholders for stashed text
        return False
    # The serializer keeps character references in attributes and browsers decode them
    # ("javascript&#58;…"): decode them all, however deeply nested, before judging.
    for _round in range(10):
        decoded = htmllib.unescape(url)
        if decoded == url:
            break
        url = decoded
    else:
        return False
    # Browsers ignore tabs, newlines and controls inside a scheme ("java\tscript:").
    return bool(_SAFE_URL.match(_INVISIBLE.sub("", url)))


class _SafeLinks(Treeprocessor):
    def run(self, root):
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not safe_url(value):
                    del element.attrib[attribute]
        return None


class _SafeLinksExtension(Extension):
    def extendMarkdown(self, md):  # noqa: N802 - Python-Markdown's name
        md.treeprocessors.register(_SafeLinks(md), "safe_links", 0)


def to_fragment(markdown_text: str) -> str:
    """The document's body as HTML, with no markup from the text itself."""
    md = markdown.Markdown(extensions=["tables", "sane_lists", _SafeLinksExtension()],
                           output_format="html")
    # Raw HTML is treated as text: the only markup is what Markdown itself makes.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md.convert(markdown_text)


def to_html(markdown_text: str, title: str) -> str:
    """A complete HTML document with the print stylesheet, for download or printing."""
    return render_to_string("review/postmortem_document.html", {
        "title": title, "body": to_fragment(markdown_text),
        "stylesheet": render_to_string("review/postmortem_print.css"),
        "language": get_language() or "en"})


def _refuse_every_fetch():
    """WeasyPrint would fetch images named in the document from the server: a user
    could make it request internal addresses or read local files. Nothing is fetched."""
    try:
        from weasyprint.urls import URLFetcher  # WeasyPrint >= 66
    except ImportError:
        def refuse(url, *args, **kwargs):
            raise ValueError(f"not fetched: {url}")

        return refuse
    return URLFetcher(allowed_protocols=())


def to_pdf(markdown_text: str, title: str) -> bytes:
    from weasyprint import HTML  # loads Pango: only when a PDF is asked for

    html = to_html(markdown_text, title)
    return HTML(string=html, url_fetcher=_refuse_every_fetch()).write_pdf()


def export(review: Review, fmt: str) -> tuple[bytes, str, str]:
    """The document in one format: (content, content type, file name)."""
    if fmt not in FORMATS:
        raise PostmortemError(f"the format is one of {', '.join(FORMATS)}")
    text = document(review)
    title = f"Post-mortem #{review.incident_id} {review.incident.title}"
    filename = f"postmortem-{review.incident_id}.{fmt}"
    if fmt == "md":
        return text.encode(), FORMATS[fmt], filename
    if fmt == "html":
        return to_html(text, title).encode(), FORMATS[fmt], filename
    return to_pdf(text, title), FORMATS[fmt], filename
