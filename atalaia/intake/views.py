"""Intake endpoints. Their formats belong to other systems, so they answer in
those systems' terms (PagerDuty's status/message/errors), accept fields they do
not know, and answer only after the events are committed."""

import json

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from atalaia.intake import actions
from atalaia.intake.formats import alertmanager, generic, pagerduty
from atalaia.intake.formats.common import InvalidEvent
from atalaia.intake.models import IntegrationKind


def _invalid(errors: list[str], status: int = 400) -> JsonResponse:
    return JsonResponse({"status": "invalid event", "message": "Event object is invalid",
                         "errors": errors}, status=status)


def _throttled() -> JsonResponse:
    return JsonResponse({"status": "throttle event", "message": "Requests for this "
                         "integration are temporarily rate limited", "errors": []}, status=429)


def _body(request):
    """The decoded JSON body, or a response that says why there is none."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.INTAKE_MAX_BYTES:
        return None, _invalid([f"the body is larger than {settings.INTAKE_MAX_BYTES} bytes"],
                              413)
    raw = request.body
    if len(raw) > settings.INTAKE_MAX_BYTES:
        return None, _invalid([f"the body is larger than {settings.INTAKE_MAX_BYTES} bytes"],
                              413)
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError):
        return None, _invalid(["the body is not valid JSON"])


@csrf_exempt
@require_POST
def pagerduty_enqueue(request):
    body, error = _body(request)
    if error:
        return error
    try:
        key, event = pagerduty.parse_event(body)
    except InvalidEvent as exc:
        return _invalid(exc.errors)
    integration = actions.integration_for_key(key, (IntegrationKind.PAGERDUTY,))
    if integration is None:
        return _invalid(["'routing_key' does not match an integration"])
    if not actions.within_rate(integration):
        return _throttled()
    actions.record_events(integration, IntegrationKind.PAGERDUTY, [event])
    return JsonResponse({"status": "success", "message": "Event processed",
                         "dedup_key": event.dedup_key}, status=202)


@csrf_exempt
@require_POST
def pagerduty_change(request):
    body, error = _body(request)
    if error:
        return error
    try:
        key, change = pagerduty.parse_change(body)
    except InvalidEvent as exc:
        return _invalid(exc.errors)
    integration = actions.integration_for_key(key, (IntegrationKind.PAGERDUTY,))
    if integration is None:
        return _invalid(["'routing_key' does not match an integration"])
    if not actions.within_rate(integration):
        return _throttled()
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
