"""Intake endpoints. Their formats belong to other systems, so they answer in
those systems' terms (PagerDuty's status/message/errors), accept fields they do
not know, and answer only after the events are committed."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from atalaia.accounts.permissions import can, require
from atalaia.catalog.models import Service
from atalaia.incidents.visibility import visible_incidents
from atalaia.intake import actions
from atalaia.intake.formats import alertmanager, generic, pagerduty
from atalaia.intake.formats.common import InvalidEvent
from atalaia.intake.models import Integration, IntegrationKind, Signal, SignalStatus


def _invalid(errors: list[str], status: int = 400) -> JsonResponse:
    return JsonResponse({"status": "invalid event", "message": "Event object is invalid",
                         "errors": errors}, status=status)


def _throttled() -> JsonResponse:
    return JsonResponse({"status": "throttle event", "message": "Requests for this "
                         "integration are temporarily rate limited", "errors": []}, status=429)


def _body(request):
    """The decoded JSON body, or a response that says why there is none."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None, _invalid(["the Content-Length header is not a number"])
    # The header is checked first so that a huge body is never read; the length
    # read is checked too, for a sender that gives no (or a false) Content-Length.
    if length > settings.INTAKE_MAX_BYTES or len(raw := request.body) > settings.INTAKE_MAX_BYTES:
        return None, _invalid([f"the body is larger than {settings.INTAKE_MAX_BYTES} bytes"],
                              413)
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError):
        return None, _invalid(["the body is not valid JSON"])


def _pagerduty(request, parse):
    """(integration, what `parse` read, None), or (None, None, the refusal)."""
    body, error = _body(request)
    if error:
        return None, None, error
    try:
        key, parsed = parse(body)
    except InvalidEvent as exc:
        return None, None, _invalid(exc.errors)
    integration = actions.integration_for_key(key, (IntegrationKind.PAGERDUTY,))
    if integration is None:
        return None, None, _invalid(["'routing_key' does not match an integration"])
    if not actions.within_rate(integration):
        return None, None, _throttled()
    return integration, parsed, None


@csrf_exempt
@require_POST
def pagerduty_enqueue(request):
    integration, event, refusal = _pagerduty(request, pagerduty.parse_event)
    if refusal:
        return refusal
    actions.record_events(integration, IntegrationKind.PAGERDUTY, [event])
    return JsonResponse({"status": "success", "message": "Event processed",
                         "dedup_key": event.dedup_key}, status=202)


@csrf_exempt
@require_POST
def pagerduty_change(request):
    integration, change, refusal = _pagerduty(request, pagerduty.parse_change)
    if refusal:
        return refusal
    actions.record_change(integration, change)
    return JsonResponse({"status": "success", "message": "Change event processed"},
                        status=202)


def _key(request, key: str | None) -> str:
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.startswith("Bearer ") else ""
    return bearer or key or request.GET.get("key", "")


def _batch(request, key, kind: str, parse):
    body, error = _body(request)
    if error:
        return error
    integration = actions.integration_for_key(_key(request, key), (kind,))
    if integration is None:
        return JsonResponse({"status": "unauthorized", "message": "unknown integration key",
                             "errors": []}, status=401)
    try:
        events = parse(body)
    except InvalidEvent as exc:
        return _invalid(exc.errors)
    if not actions.within_rate(integration, len(events)):
        return _throttled()
    actions.record_events(integration, kind, events)
    return JsonResponse({"status": "success", "message": "Events processed",
                         "count": len(events)}, status=202)


@csrf_exempt
@require_POST
def alertmanager_webhook(request, key: str | None = None):
    return _batch(request, key, IntegrationKind.ALERTMANAGER, alertmanager.parse)


@csrf_exempt
@require_POST
def generic_webhook(request, key: str | None = None):
    return _batch(request, key, IntegrationKind.GENERIC, generic.parse)


# -- console pages: the signal inbox and the integrations ---------------------------


@login_required
def inbox(request):
    require(request.user, "view")
    status = request.GET.get("status", "open")
    if status not in SignalStatus.values:
        status = "open"
    signals = (Signal.objects.filter(status=status, incident__isnull=True)
               .select_related("service", "integration").order_by("-last_seen_at")[:200])
    grouped = (Signal.objects.filter(status=status, incident__in=visible_incidents(
        request.user).values("pk")).select_related("service", "incident")
        .order_by("-last_seen_at")[:200])
    return render(request, "intake/inbox.html", {
        "signals": signals, "grouped": grouped, "status": status,
        "statuses": SignalStatus.choices,
        "incidents": visible_incidents(request.user).filter(
            stage__in=("assessment", "response", "resolution")).order_by("-declared_at")[:50],
        "can_declare": can(request.user, "incident.declare"),
        "can_respond": can(request.user, "incident.respond")})


@login_required
@require_POST
def decide(request, signal_id: int, decision: str):
    capability = {"declare": "incident.declare", "attach": "incident.respond",
                  "dismiss": "incident.respond"}.get(decision)
    if capability is None:
        raise Http404("unknown decision")
    require(request.user, capability)
    signal = get_object_or_404(Signal, pk=signal_id, incident__isnull=True)
    try:
        if decision == "declare":
            incident = actions.declare_from_signal(signal, request.user)
            return redirect("incidents:room", incident_id=incident.pk)
        if decision == "attach":
            incident = get_object_or_404(visible_incidents(request.user),
                                         pk=request.POST.get("incident") or 0)
            actions.attach_signal(signal, incident, request.user)
        else:
            actions.dismiss_signal(signal, request.user)
    except actions.SignalError as exc:
        messages.error(request, str(exc))
    return redirect("signals")


@login_required
def integrations(request):
    require(request.user, "integrations.manage")
    key = None
    if request.method == "POST":
        kind, name = request.POST.get("kind", ""), request.POST.get("name", "").strip()
        service = Service.objects.filter(slug=request.POST.get("service", "")).first()
        if kind in IntegrationKind.values and name:
            _integration, key = actions.create_integration(kind, name, request.user, service)
        else:
            messages.error(request, _("Choose a kind and give the integration a name."))
    return render(request, "intake/integrations.html", {
        "integrations": Integration.objects.select_related("service"), "key": key,
        "kinds": IntegrationKind.choices, "services": Service.objects.values_list("slug", "name"),
        "base": request.build_absolute_uri("/").rstrip("/")})
