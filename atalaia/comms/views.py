"""Console pages for communication: write an update with a preview per channel,
correct one, scheduled maintenance, and the company channels."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts.permissions import can, require
from atalaia.catalog.models import Service
from atalaia.comms import actions, broadcasts, public
from atalaia.comms import render as texts
from atalaia.comms.models import (
    Broadcast,
    BroadcastStatus,
    ChannelKind,
    CompanyChannel,
    ComponentStatus,
    Maintenance,
    MaintenanceStatus,
    Update,
)
from atalaia.incidents.lifecycle import IllegalMove
from atalaia.incidents.models import PublicStatus
from atalaia.incidents.views import _incident
from atalaia.lib.crypto import encrypt
from atalaia.lib.outbound import OutboundRefused
from atalaia.monitoring.models import MonitorState
from atalaia.notify.contacts import check_apprise_host, hint

MONITOR_TO_COMPONENT = {MonitorState.DOWN: ComponentStatus.MAJOR,
                        MonitorState.DEGRADED: ComponentStatus.DEGRADED}


def suggested_states(incident) -> dict[str, str]:
    """Each affected component's state, from its monitors where they say something is
    wrong, else its current public state: the form starts from what is known."""
    current = {c.service.slug: c.status for c in public.components()}
    suggested = {}
    for service in incident.services.filter(is_component=True).prefetch_related("monitors"):
        worst = ComponentStatus.MAJOR if any(m.state == MonitorState.DOWN
                                             for m in service.monitors.all()) else None
        worst = worst or (ComponentStatus.DEGRADED if any(
            m.state == MonitorState.DEGRADED for m in service.monitors.all()) else None)
        known = current.get(service.slug, ComponentStatus.OPERATIONAL)
        # Without monitors to ask, an affected component that still looks operational
        # is most likely not: the form starts from an outage, to be corrected.
        suggested[service.slug] = worst or (known if known != ComponentStatus.OPERATIONAL
                                            else ComponentStatus.PARTIAL)
    return suggested


def _local(value: str, what: str) -> datetime | None:
    """A datetime-local input, read in the status page's time zone (the zone the
    form shows it in); CommsError naming the field when it is not a date and time."""
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well formed but impossible, such as month 13
        parsed = None
    if parsed is None:
        raise actions.CommsError(_("%(field)s is not a date and time: %(value)s")
                                 % {"field": what, "value": value[:40]})
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.STATUS_TIME_ZONE))
    return parsed


def _local_input(moment: datetime | None) -> str:
    """The value of a datetime-local input, in the status page's time zone: the zone
    _local reads it back in, so a form sent back unchanged keeps the same time."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(settings.STATUS_TIME_ZONE)).strftime("%Y-%m-%dT%H:%M")


def _initial_form(incident) -> dict[str, Any]:
    """The form as it opens: the public status as it is, the ETA as it is, each affected
    component's suggested state."""
    return {"status": incident.public_status, "body_en": "", "body_pt": "",
            "eta": _local_input(incident.eta), "eta_unknown": incident.eta is None,
            "components": suggested_states(incident)}


def _posted_form(post) -> dict[str, Any]:
    """The form as the user sent it, kept as typed so that it is shown again as it
    was: every component row (the incident's own and those added before a preview),
    plus the one being added now."""
    components = {key.removeprefix("component-"): value for key, value in post.items()
                  if key.startswith("component-") and value}
    added = post.get("add_component", "")
    if added:
        components[added] = post.get("add_component_status") or ComponentStatus.MAJOR
    return {"status": post.get("status", ""), "body_en": post.get("body_en", ""),
            "body_pt": post.get("body_pt", ""), "eta": post.get("eta", ""),
            "eta_unknown": bool(post.get("eta_unknown")), "components": components}


def _update_of(form: dict[str, Any]) -> dict[str, Any]:
    """What the form asks to publish, as actions.prepare_update and publish_update take it."""
    eta = None if form["eta_unknown"] else _local(form["eta"], _("The expected resolution"))
    return {"status": form["status"], "body_en": form["body_en"], "body_pt": form["body_pt"],
            "eta": eta, "components": form["components"]}


def _component_rows(incident, chosen: dict[str, str]) -> tuple[list[dict], list[Service]]:
    """One row per component of the update (the incident's own and those added), in
    name order as the update lists them; and the components left to add."""
    components = list(Service.objects.filter(is_component=True).order_by("name"))
    affected = set(incident.services.filter(is_component=True).values_list("slug", flat=True))
    rows = [{"service": c, "status": chosen.get(c.slug, ""), "added": c.slug not in affected}
            for c in components if c.slug in affected or c.slug in chosen]
    return rows, [c for c in components if c.slug not in affected and c.slug not in chosen]


@login_required
def compose(request, incident_id: int):
    """Write an update; *Preview* shows every channel's rendering, *Publish* sends it.
    Both go through actions.prepare_update, so the preview is what is sent; a publish
    after a preview is refused when the form no longer says what was previewed."""
    require(request.user, "incident.communicate")
    incident = _incident(request, incident_id)
    form = _posted_form(request.POST) if request.method == "POST" else _initial_form(incident)
    draft, code = None, 200
    if request.method == "POST":
        try:
            with transaction.atomic():
                update = _update_of(form)
                draft = actions.prepare_update(incident, **update)
                previewed = request.POST.get("previewed", "")
                if request.POST.get("action") == "publish":
                    if not previewed or previewed == draft.digest():
                        actions.publish_update(incident, request.user, **update)
                        messages.success(request, _("Published on every channel."))
                        return redirect("incidents:room", incident.pk)
                    messages.error(request, _("The update changed since its preview: nothing "
                                              "was published. Check the new preview below, "
                                              "then publish."))
                    code = 409
        except (actions.CommsError, IllegalMove) as exc:
            messages.error(request, str(exc))
            draft, code = None, 400
    rows, others = _component_rows(incident, form["components"])
    return render(request, "comms/compose.html", {
        "incident": incident, "form": form, "rows": rows, "others": others,
        "previews": _previews(draft) if draft else None,
        "digest": draft.digest() if draft else "",
        "statuses": PublicStatus.choices, "component_statuses": ComponentStatus.choices,
        "status_time_zone": settings.STATUS_TIME_ZONE}, status=code)


def _previews(draft: texts.Draft) -> dict:
    return texts.previews(draft, CompanyChannel.objects.filter(enabled=True))


@login_required
def correct(request, update_id: int):
    require(request.user, "incident.communicate")
    update = get_object_or_404(Update.objects.select_related("incident"), pk=update_id)
    incident = _incident(request, update.incident_id)
    if request.method == "POST":
        try:
            actions.correct_update(update, request.user, request.POST.get("body_en", ""),
                                   request.POST.get("body_pt", ""))
        except actions.CommsError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Corrected: the status page marks it so."))
            return redirect("incidents:room", incident.pk)
    return render(request, "comms/correct.html", {"update": update, "incident": incident})


@login_required
@require_POST
def link_ticket(request, incident_id: int):
    require(request.user, "incident.note")
    incident = _incident(request, incident_id)
    try:
        actions.link_ticket(incident, request.user, request.POST.get("reference", ""),
                            request.POST.get("system", ""), request.POST.get("url", ""))
    except actions.CommsError as exc:
        messages.error(request, str(exc))
    return redirect("incidents:room", incident.pk)


@login_required
@require_POST
def broadcast_retry(request, broadcast_id: int):
    """Expand a broadcast set aside after repeated failures again (its cause fixed)."""
    require(request.user, "incident.communicate")
    broadcast = get_object_or_404(Broadcast.objects.select_related("update"), pk=broadcast_id,
                                  update__isnull=False)
    assert broadcast.update is not None  # only an update's broadcasts are shown in a room
    incident = _incident(request, broadcast.update.incident_id)
    if broadcasts.retry(broadcast):
        messages.success(request, _("The worker will send this message again."))
    else:
        messages.error(request, _("This message is not set aside: nothing to retry."))
    return redirect("incidents:room", incident.pk)


# -- scheduled maintenance -------------------------------------------------------------

@login_required
def maintenance_list(request):
    require(request.user, "view")
    manage = can(request.user, "incident.communicate")
    if request.method == "POST":
        require(request.user, "incident.communicate")
        post = request.POST
        try:
            actions.schedule_maintenance(request.user, {
                "title_en": post.get("title_en", ""), "title_pt": post.get("title_pt", ""),
                "body_en": post.get("body_en", ""), "body_pt": post.get("body_pt", ""),
                "scheduled_for": _local(post.get("scheduled_for", ""), _("From")),
                "scheduled_until": _local(post.get("scheduled_until", ""), _("Until"))},
                post.getlist("components"))
        except actions.CommsError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Announced to subscribers."))
        return redirect("comms:maintenance")
    return render(request, "comms/maintenance.html", {
        "maintenances": Maintenance.objects.prefetch_related("components")
        .order_by("-scheduled_for")[:100], "manage": manage,
        "components": Service.objects.filter(is_component=True).order_by("name"),
        "statuses": MaintenanceStatus.choices, "status_time_zone": settings.STATUS_TIME_ZONE})


@login_required
@require_POST
def maintenance_move(request, maintenance_id: int):
    require(request.user, "incident.communicate")
    maintenance = get_object_or_404(Maintenance, pk=maintenance_id)
    try:
        actions.move_maintenance(maintenance, request.user, request.POST.get("status", ""))
    except actions.CommsError as exc:
        messages.error(request, str(exc))
    return redirect("comms:maintenance")


# -- company channels ----------------------------------------------------------------

@login_required
def channels(request):
    require(request.user, "integrations.manage")
    if request.method == "POST":
        try:
            _add_channel(request.POST)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Channel added: every update goes to it from now on."))
        return redirect("comms:channels")
    return render(request, "comms/channels.html", {
        "channels": CompanyChannel.objects.all(), "kinds": ChannelKind.choices,
        "limits": texts.LIMITS})


def _add_channel(post) -> CompanyChannel:
    import apprise

    name, url = post.get("name", "").strip(), post.get("url", "").strip()
    if not name or not url:
        raise ValueError(_("A channel needs a name and an Apprise URL."))
    if not apprise.Apprise().add(url):
        raise ValueError(_("Not an Apprise URL Atalaia can send to."))
    try:
        check_apprise_host(url)
    except OutboundRefused as exc:
        raise ValueError(_("This channel URL cannot be used: %(why)s.") % {"why": exc}) from None
    if post.get("kind") not in ChannelKind.values:
        raise ValueError(_("Choose the kind of channel."))
    try:
        limit = int(post.get("max_length") or 0)
    except ValueError:
        limit = -1
    if not 0 <= limit <= 100_000:
        raise ValueError(_("The length limit is a number of characters (0: none)."))
    if CompanyChannel.objects.filter(name=name).exists():
        raise ValueError(_("There is already a channel with that name."))
    return CompanyChannel.objects.create(
        name=name[:100], kind=post["kind"], target=encrypt(url), hint=hint("apprise", url),
        max_length=limit, language="en" if post.get("language") == "en" else "pt-br")


@login_required
@require_POST
def channel_toggle(request, channel_id: int):
    require(request.user, "integrations.manage")
    channel = get_object_or_404(CompanyChannel, pk=channel_id)
    if request.POST.get("delete"):
        channel.delete()
    else:
        channel.enabled = not channel.enabled
        channel.save(update_fields=["enabled"])
    return redirect("comms:channels")


def room_context(incident) -> dict:
    """The incident room's communication panel: the next update due, the support
    macro in both languages, the linked tickets."""
    updates = list(incident.updates.order_by("-published_at", "-pk"))
    latest = updates[0] if updates else None
    macro = {}
    if latest is not None:
        for language in ("pt-br", "en"):
            macro[language] = support_macro(latest, language)
    due = actions.next_update_due(incident, updates)
    return {"updates": updates, "next_update_due": due,
            "update_late": due is not None and due < timezone.now(), "macro": macro,
            "tickets": incident.tickets.all(), "tracking_url": texts.tracking_url(incident),
            "held": Broadcast.objects.filter(update__incident=incident,
                                             status=BroadcastStatus.QUARANTINED)
            .select_related("update", "channel")}


def support_macro(update: Update, language: str) -> str:
    """What a support agent pastes into a ticket reply, matching the latest update."""
    with texts.speaking(language):
        return "\n".join([
            _("Hello,"), "", update.body(language), "",
            _("Expected resolution: %(eta)s.") % {"eta": texts.eta_text(update.eta, language)},
            "", _("You can follow it live here:"), texts.tracking_url(update.incident, language)])
