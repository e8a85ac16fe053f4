from typing import Literal

from django.http import Http404
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.catalog.models import Service
from atalaia.incidents.visibility import visible_incidents
from atalaia.intake import actions
from atalaia.intake.models import Integration, Signal
from atalaia.lib.apiutil import ERRORS, Input

router = Router(tags=["intake"])


class IntegrationIn(Input):
    kind: Literal["pagerduty", "alertmanager", "generic"]
    name: str = Field(..., min_length=1, max_length=200)
    service: str | None = None
    rate_per_minute: int | None = Field(None, ge=1, le=1_000_000)


class IntegrationOut(BaseModel):
    id: int
    kind: str
    name: str
    key_prefix: str
    service: str | None
    rate_per_minute: int
    created_at: str


class NewIntegrationOut(IntegrationOut):
    key: str


class SignalOut(BaseModel):
    id: int
    source: str
    dedup_key: str
    status: str
    severity: str
    service: str | None
    summary: str
    count: int
    first_seen_at: str
    last_seen_at: str
    incident: int | None
    details: dict
    links: list


class AttachIn(Input):
    incident: int


def integration_out(i: Integration) -> dict:
    return {"id": i.pk, "kind": i.kind, "name": i.name, "key_prefix": i.key_prefix,
            "service": i.service.slug if i.service else None,
            "rate_per_minute": i.rate_per_minute, "created_at": i.created_at.isoformat()}


def signal_out(s: Signal) -> dict:
    return {"id": s.pk, "source": s.source, "dedup_key": s.dedup_key, "status": s.status,
            "severity": s.severity, "service": s.service.slug if s.service else None,
            "summary": s.summary, "count": s.count, "first_seen_at": s.first_seen_at.isoformat(),
            "last_seen_at": s.last_seen_at.isoformat(), "incident": s.incident_id,
            "details": s.details, "links": s.links}


@router.get("/integrations", response={200: list[IntegrationOut], **ERRORS})
def list_integrations(request):
    allow(request, "integrations.manage")
    return [integration_out(i) for i in Integration.objects.select_related("service")]


@router.post("/integrations", response={201: NewIntegrationOut, **ERRORS})
def create_integration(request, payload: IntegrationIn):
    allow(request, "integrations.manage")
    service = None
    if payload.service:
        service = Service.objects.filter(slug=payload.service).first()
        if service is None:
            return Status(400, {"detail": f"unknown service {payload.service!r}"})
    integration, key = actions.create_integration(payload.kind, payload.name, request.auth,
                                                  service, payload.rate_per_minute)
    return Status(201, {**integration_out(integration), "key": key})


@router.get("/signals", response={200: list[SignalOut], **ERRORS})
def list_signals(request, status: Literal["open", "acknowledged", "resolved"] | None = None,
                 inbox: bool = False, limit: int = Query(100, ge=1, le=500),
                 offset: int = Query(0, ge=0, le=10_000_000)):
    allow(request, "view")
    signals = _visible_signals(request)
    if status:
        signals = signals.filter(status=status)
    if inbox:
        signals = signals.filter(incident__isnull=True)
    return [signal_out(s) for s in signals[offset:offset + limit]]


def _visible_signals(request):
    incidents = visible_incidents(request.auth).values("pk")
    signals = Signal.objects.select_related("service").order_by("-last_seen_at", "-id")
    return signals.filter(incident__isnull=True) | signals.filter(incident__in=incidents)


def _signal(request, signal_id: int) -> Signal:
    signal = _visible_signals(request).filter(pk=signal_id).first()
    if signal is None:
        raise Http404(f"no signal {signal_id}")
    return signal


@router.post("/signals/{signal_id}/declare", response={201: dict, **ERRORS})
def declare(request, signal_id: int):
    allow(request, "incident.declare")
    incident = actions.declare_from_signal(_signal(request, signal_id), request.auth)
    return Status(201, {"incident": incident.pk, "level": incident.level})


@router.post("/signals/{signal_id}/attach", response={200: SignalOut, **ERRORS})
def attach(request, signal_id: int, payload: AttachIn):
    allow(request, "incident.respond")
    signal = _signal(request, signal_id)
    incident = get_object_or_404(visible_incidents(request.auth), pk=payload.incident)
    actions.attach_signal(signal, incident, request.auth)
    return signal_out(Signal.objects.get(pk=signal.pk))


@router.post("/signals/{signal_id}/dismiss", response={200: SignalOut, **ERRORS})
def dismiss(request, signal_id: int):
    allow(request, "incident.respond")
    signal = _signal(request, signal_id)
    actions.dismiss_signal(signal, request.auth)
    return signal_out(Signal.objects.get(pk=signal.pk))
