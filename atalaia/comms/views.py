"""Console pages for communication: write an update with a preview per channel,
correct one, scheduled maintenance, and the company channels."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts.permissions import can, require
from atalaia.catalog.models import Service
from atalaia.comms import actions, public
from atalaia.comms import render as texts
from atalaia.comms.models import (
    ChannelKind,
    CompanyChannel,
    ComponentStatus,
    Maintenance,
    MaintenanceStatus,
    Update,
)
from atalaia.incidents.models import PublicStatus
from atalaia.incidents.views import _incident
from atalaia.lib.crypto import encrypt
from atalaia.monitoring.models import MonitorState
from atalaia.notify.contacts import hint

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


def _local(value: str) -> datetime | None:
    """A datetime-local input in the status page's time zone."""
    parsed = parse_datetime(value) if value else None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.STATUS_TIME_ZONE))
    return parsed


def _form_data(request, incident) -> dict[str, Any]:
    post = request.POST
    components = {slug: post.get(f"component-{slug}", "")
                  for slug in incident.services.filter(is_component=True)
                  .values_list("slug", flat=True)}
    extra = post.get("add_component", "")
    if extra:
        components[extra] = post.get("add_component_status", ComponentStatus.MAJOR)
    return {"status": post.get("status", ""), "body_en": post.get("body_en", ""),
            "body_pt": post.get("body_pt", ""),
            "eta": None if post.get("eta_unknown") else _local(post.get("eta", "")),
            "components": {k: v for k, v in components.items() if v}}


@login_required
def compose(request, incident_id: int):
    """Write an update; *Preview* shows every channel's rendering, *Publish* sends it."""
    require(request.user, "incident.communicate")
    incident = _incident(request, incident_id)
    data: dict[str, Any] = {"status": incident.public_status, "body_en": "", "body_pt": "",
                            "eta": incident.eta, "components": suggested_states(incident)}
    previews = None
    if request.method == "POST":
        data = _form_data(request, incident)
        try:
            if request.POST.get("action") == "publish":
                actions.publish_update(incident, request.user, **data)
                messages.success(request, _("Published on every channel."))
                return redirect("incidents:room", incident.pk)
            previews = _previews(incident, data)
        except actions.CommsError as exc:
            messages.error(request, str(exc))
        except Exception as exc:  # noqa: BLE001 - an illegal status move is shown, not a 500
            from atalaia.incidents.lifecycle import IllegalMove

            if not isinstance(exc, IllegalMove):
                raise
            messages.error(request, str(exc))
    return render(request, "comms/compose.html", {
        "incident": incident, "data": data, "previews": previews,
        "statuses": PublicStatus.choices, "component_statuses": ComponentStatus.choices,
        "components": Service.objects.filter(is_component=True).order_by("name"),
        "affected": {s.slug: s for s in incident.services.filter(is_component=True)}})


def _previews(incident, data) -> dict:
    names = [s.name for s in Service.objects.filter(slug__in=data["components"])]
    body_en = data["body_en"] or texts.from_template(incident, data["status"], "en", names,
                                                     data["eta"])
    body_pt = data["body_pt"] or texts.from_template(incident, data["status"], "pt-br", names,
                                                     data["eta"])
    draft = texts.Draft(incident, data["status"], body_en, body_pt, data["eta"],
                        [{"name": n} for n in names])
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
                "scheduled_for": _local(post.get("scheduled_for", "")),
                "scheduled_until": _local(post.get("scheduled_until", ""))},
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
        "statuses": MaintenanceStatus.choices})


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
            "tickets": incident.tickets.all(), "tracking_url": texts.tracking_url(incident)}


def support_macro(update: Update, language: str) -> str:
    """What a support agent pastes into a ticket reply, matching the latest update."""
    with texts.speaking(language):
        return "\n".join([
            _("Hello,"), "", update.body(language), "",
            _("Expected resolution: %(eta)s.") % {"eta": texts.eta_text(update.eta, language)},
            "", _("You can follow it live here:"), texts.tracking_url(update.incident, language)])
