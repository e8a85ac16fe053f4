"""Intake endpoints. Their formats belong to other systems, so they answer in
those systems' terms (PagerDuty's status/message/errors), accept fields they do
not know, and answer only after the events are committed."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from atalaia.accounts.permissions import can, require
from atalaia.catalog.models import Service
from atalaia.incidents.visibility import visible_incidents
from atalaia.intake import actions, receive
from atalaia.intake.models import Integration, IntegrationKind, Signal, SignalStatus


def _answer(answer: receive.Answer) -> JsonResponse:
    return JsonResponse(answer.body, status=answer.status, headers=dict(answer.headers))


def _raw(request) -> bytes | receive.Answer:
    """The body; a huge one (by its Content-Length) is refused before it is read."""
    length = receive.content_length(request.META.get("CONTENT_LENGTH"))
    if isinstance(length, receive.Answer):
        return length
    if length > settings.INTAKE_MAX_BYTES:
        return receive.too_large()
    return request.body


def _receive(request, handle, *args) -> JsonResponse:
    raw = _raw(request)
    return _answer(raw if isinstance(raw, receive.Answer) else handle(raw, *args))


@csrf_exempt
@require_POST
def pagerduty_enqueue(request):
    return _receive(request, receive.pagerduty_event)


@csrf_exempt
@require_POST
def pagerduty_change(request):
    return _receive(request, receive.pagerduty_change)


def _webhook(request, name: str, key: str | None) -> JsonResponse:
    key = receive.webhook_key(key, request.headers.get("Authorization", ""),
                              request.GET.get("key", ""))
    return _receive(request, lambda raw: receive.webhook(name, raw, key))


@csrf_exempt
@require_POST
def alertmanager_webhook(request, key: str | None = None):
    return _webhook(request, "alertmanager", key)


@csrf_exempt
@require_POST
def generic_webhook(request, key: str | None = None):
    return _webhook(request, "generic", key)


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
    # Signals the worker kept failing to group, set aside with their error.
    quarantined = (Signal.objects.filter(
        Q(incident__isnull=True) | Q(incident__in=visible_incidents(request.user).values("pk")),
        quarantined_at__isnull=False).exclude(status=SignalStatus.RESOLVED)
        .select_related("service", "integration").order_by("-quarantined_at")[:200])
    return render(request, "intake/inbox.html", {
        "signals": signals, "grouped": grouped, "status": status, "quarantined": quarantined,
        "statuses": SignalStatus.choices,
        "incidents": visible_incidents(request.user).filter(
            stage__in=("assessment", "response", "resolution")).order_by("-declared_at")[:50],
        "can_declare": can(request.user, "incident.declare"),
        "can_respond": can(request.user, "incident.respond")})


@login_required
@require_POST
def decide(request, signal_id: int, decision: str):
    capability = {"declare": "incident.declare", "attach": "incident.respond",
                  "dismiss": "incident.respond", "retry": "incident.respond"}.get(decision)
    if capability is None:
        raise Http404("unknown decision")
    require(request.user, capability)
    if decision == "retry":  # a set-aside signal may already belong to an incident
        return _retry(request, get_object_or_404(Signal, pk=signal_id))
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


def _retry(request, signal: Signal):
    try:
        actions.retry_grouping(signal, request.user)
    except actions.SignalError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The worker will group this signal again."))
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
