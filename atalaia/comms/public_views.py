"""The public status site (no login): the status page, one tracking page per crisis,
the history, component badges and the embeddable banner. Responses are cached as
ready bytes in front of Django (comms/front.py); these views only render."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import timedelta
from functools import wraps

from csp.decorators import csp_replace
from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from atalaia.catalog.models import Service
from atalaia.comms import availability, language, public
from atalaia.comms import render as texts
from atalaia.comms.models import ComponentStatus
from atalaia.incidents.models import Incident

RECENT_DAYS = 7


def public_page(view):
    """GET only, in the visitor's language (`?lang=` or the browser's)."""
    @require_GET
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        language.activate_for(request)
        response = view(request, *args, **kwargs)
        response["Vary"] = "Accept-Language"
        return response
    return wrapper


def _summary():
    items = public.components()
    open_incidents = public.incidents(resolved=False)
    value = public.indicator(open_incidents, items)
    return items, open_incidents, value


def _indicator_text(value: str) -> str:
    return {"none": _("All systems operational"), "minor": _("Minor service outage"),
            "major": _("Partial system outage"), "critical": _("Major system outage")}[value]


@public_page
def status(request):
    items, open_incidents, value = _summary()
    bars = availability.bars([c.service for c in items])
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    recent = [i for i in public.incidents(resolved=True, limit=20)
              if i.updates.all()[0].published_at >= since]
    return render(request, "comms/status.html", {
        "indicator": value, "indicator_text": _indicator_text(value),
        "groups": public.groups(items), "bars": bars, "incidents": open_incidents,
        "recent": recent, "active_maintenance": public.maintenances(active=True),
        "upcoming_maintenance": public.maintenances(upcoming=True),
        "lang": request.LANGUAGE_CODE})


def _public_incident(incident_id: int) -> Incident:
    found = public.published().filter(pk=incident_id).prefetch_related(
        "updates", "services").first()
    if found is None:
        raise Http404("no such public incident")
    return found


@public_page
def incident(request, incident_id: int):
    """The tracking page: the whole public story of one crisis, newest first."""
    found = _public_incident(incident_id)
    updates = sorted(found.updates.all(), key=lambda u: (u.published_at, u.pk), reverse=True)
    names = {s.slug: s.name for s in found.services.filter(is_component=True)}
    for update in updates:
        for change in update.components:
            names.setdefault(change["service"], change["name"])
    return render(request, "comms/incident.html", {
        "incident": found, "updates": updates, "latest": updates[0],
        "components": list(names.values()), "impact": public.impact(found),
        "lang": request.LANGUAGE_CODE})


def short_link(request, incident_id: int):
    """/i/<id>: the short, stable link every message carries."""
    return redirect("status_incident", incident_id=incident_id)


@public_page
def history(request):
    months: OrderedDict[str, list] = OrderedDict()
    for item in public.incidents(resolved=True, limit=500):
        months.setdefault(item.declared_at.strftime("%Y-%m"), []).append(item)
    return render(request, "comms/history.html", {"months": months,
                                                  "lang": request.LANGUAGE_CODE})


BADGE_COLOURS = {"operational": "#027a48", "degraded_performance": "#b54708",
                 "partial_outage": "#dc6803", "major_outage": "#b42318",
                 "under_maintenance": "#175cd3"}


@public_page
def badge(request, slug: str):
    """An SVG badge of one component's state, for READMEs and intranets."""
    service = Service.objects.filter(slug=slug, is_component=True).first()
    if service is None:
        raise Http404("no such component")
    state = next(c for c in public.components() if c.service.pk == service.pk).status
    label, value = service.name, str(ComponentStatus(state).label)
    svg = render_to_string("comms/badge.svg", {
        "label": label, "value": value, "colour": BADGE_COLOURS[state],
        "left": 10 + 7 * len(label), "right": 10 + 7 * len(value)})
    return HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")


def _banner_data(lang: str) -> dict:
    open_incidents = public.incidents(resolved=False)
    if not open_incidents:
        return {"active": False}
    worst = max(open_incidents, key=lambda i: public.INDICATORS.index(public.impact(i)))
    latest = worst.updates.all()[0]
    return {"active": True, "impact": public.impact(worst), "title": worst.title,
            "status": texts.status_label(latest.status, lang),
            "message": latest.body(lang)[:280], "url": texts.tracking_url(worst, lang),
            "count": len(open_incidents)}


@public_page
def banner_json(request):
    response = JsonResponse(_banner_data(request.LANGUAGE_CODE))
    response["Access-Control-Allow-Origin"] = "*"
    return response


@public_page
@xframe_options_exempt
def banner_frame(request):
    """The iframe variant: a one-line notice, empty when all is well. The one page other
    sites may frame (ATALAIA_STATUS_EMBED_ORIGINS)."""
    response = render(request, "comms/banner.html", {"banner": _banner_data(
        request.LANGUAGE_CODE)})
    embeddable = csp_replace({"frame-ancestors": settings.STATUS_EMBED_ORIGINS})
    return embeddable(lambda request: response)(request)


@require_GET
def stylesheet(request):
    """The status site's styles in the brand's colour: a file, so that the security
    policy allows no inline style."""
    css = render_to_string("comms/status.css", {"brand_color": settings.STATUS_COLOR})
    return HttpResponse(css, content_type="text/css; charset=utf-8")


@public_page
def banner_script(request):
    """`<script src=".../status/banner.js" async></script>`: fetches banner.json and, in
    a crisis, puts a notice with a link to the tracking page at the top of the page."""
    script = render_to_string("comms/banner.js", {
        "json_url": request.build_absolute_uri("/status/banner.json"),
        "lang": json.dumps(request.GET.get("lang", ""))})
    return HttpResponse(script, content_type="text/javascript; charset=utf-8")
