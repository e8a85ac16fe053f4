"""Monitors in the JSON API: list, read, create, change, pause, delete, raw results
and availability. Reading needs `view`; changing needs `monitors.manage`, as in
the console. Config secrets are shown only to those who may edit the monitor."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from ninja import Query, Router, Status
from ninja.errors import HttpError
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.accounts.permissions import can
from atalaia.catalog.models import Service
from atalaia.lib.apiutil import ERRORS, Input
from atalaia.monitoring import actions, summary
from atalaia.monitoring.models import CheckRecord, Monitor, MonitorKind, ProbeState

router = Router(tags=["monitoring"])

Kind = Literal["http", "tcp", "ping", "smtp", "postgresql", "mysql", "dns", "tls", "heartbeat"]
Severity = Literal["critical", "error", "warning", "info"]
State = Literal["up", "degraded", "down", "unknown", "paused"]


def _limited(name: str, default: Any) -> Any:
    low, high = actions.LIMITS[name]
    return Field(default, ge=low, le=high)


class MonitorIn(Input):
    service: str = Field(..., min_length=1, max_length=63)
    name: str = Field(..., min_length=1, max_length=200)
    kind: Kind
    config: dict[str, Any] = {}
    interval_seconds: int = _limited("interval_seconds", 60)
    retry_interval_seconds: int = _limited("retry_interval_seconds", 20)
    timeout_seconds: float = _limited("timeout_seconds", 10.0)
    failures_to_down: int = _limited("failures_to_down", 3)
    successes_to_up: int = _limited("successes_to_up", 2)
    locations_required: int = _limited("locations_required", 1)
    severity: Severity = "critical"
    paused: bool = False
    anomaly_detection: bool = True
    anomaly_k: int = _limited("anomaly_k", 5)
    anomaly_m: int = _limited("anomaly_m", 6)
    grace_seconds: int = _limited("grace_seconds", 300)


class MonitorPatch(Input):
    """Only the fields given change; null is refused."""

    service: str | None = Field(None, min_length=1, max_length=63)
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: Kind | None = None
    config: dict[str, Any] | None = None
    interval_seconds: int | None = _limited("interval_seconds", None)
    retry_interval_seconds: int | None = _limited("retry_interval_seconds", None)
    timeout_seconds: float | None = _limited("timeout_seconds", None)
    failures_to_down: int | None = _limited("failures_to_down", None)
    successes_to_up: int | None = _limited("successes_to_up", None)
    locations_required: int | None = _limited("locations_required", None)
    severity: Severity | None = None
    paused: bool | None = None
    anomaly_detection: bool | None = None
    anomaly_k: int | None = _limited("anomaly_k", None)
    anomaly_m: int | None = _limited("anomaly_m", None)
    grace_seconds: int | None = _limited("grace_seconds", None)


class ProbeOut(BaseModel):
    location: str
    state: str
    failures: int
    successes: int
    checked_at: datetime | None
    latency_ms: float | None
    message: str
    holder: str
    lease_until: datetime | None


class MonitorOut(BaseModel):
    id: int
    service: str
    name: str
    kind: str
    config: dict[str, Any]
    interval_seconds: int
    retry_interval_seconds: int
    timeout_seconds: float
    failures_to_down: int
    successes_to_up: int
    locations_required: int
    severity: str
    paused: bool
    state: str
    state_since: datetime | None
    message: str
    flapping: bool
    last_checked_at: datetime | None
    last_latency_ms: float | None
    anomaly_detection: bool
    anomaly_k: int
    anomaly_m: int
    baseline: dict[str, Any]
    anomaly: dict[str, Any]
    grace_seconds: int
    ping_url: str | None
    last_ping_at: datetime | None
    deadline_at: datetime | None


class MonitorDetailOut(MonitorOut):
    probes: list[ProbeOut]


class ResultOut(BaseModel):
    location: str
    checked_at: datetime
    state: str
    latency_ms: float | None
    message: str


class WindowOut(BaseModel):
    availability: float | None  # 0..1, null without checks
    checks: int
    up: int
    degraded: int
    down: int


class AvailabilityOut(BaseModel):
    last_24h: WindowOut
    last_7d: WindowOut
    last_30d: WindowOut


PLAIN_FIELDS = ("name", "kind", "interval_seconds", "retry_interval_seconds", "timeout_seconds",
                "failures_to_down", "successes_to_up", "locations_required", "severity",
                "paused", "state", "state_since", "message", "flapping", "last_checked_at",
                "last_latency_ms", "anomaly_detection", "anomaly_k", "anomaly_m", "baseline",
                "anomaly", "grace_seconds", "last_ping_at", "deadline_at")


def monitor_out(request, monitor: Monitor) -> dict[str, Any]:
    heartbeat = monitor.kind == MonitorKind.HEARTBEAT
    return {
        **{name: getattr(monitor, name) for name in PLAIN_FIELDS},
        "id": monitor.pk, "service": monitor.service.slug,
        "config": monitor.config if can(request.auth, "monitors.manage")
        else summary.redacted(monitor.config),
        "ping_url": settings.SITE_URL.rstrip("/") + reverse("monitoring:ping",
                                                            args=[monitor.ping_key])
        if heartbeat else None}


def detail_out(request, monitor: Monitor) -> dict[str, Any]:
    probes = ProbeState.objects.filter(monitor=monitor).order_by("location")
    return {**monitor_out(request, monitor), "probes": [
        {"location": p.location, "state": p.state, "failures": p.failures,
         "successes": p.successes, "checked_at": p.checked_at, "latency_ms": p.latency_ms,
         "message": p.message, "holder": p.holder, "lease_until": p.lease_until}
        for p in probes]}


def _monitor(monitor_id: int) -> Monitor:
    monitor = Monitor.objects.select_related("service").filter(pk=monitor_id).first()
    if monitor is None:
        raise Http404(f"no monitor {monitor_id}")
    return monitor


def _service(slug: str) -> Service:
    service = Service.objects.filter(slug=slug).first()
    if service is None:
        raise HttpError(400, f"service: unknown service {slug!r}")
    return service


def _checked(change) -> Monitor:
    try:
        return change()
    except actions.MonitorError as exc:
        raise HttpError(422, exc.message) from None


@router.get("/monitors", response={200: list[MonitorOut], **ERRORS})
def list_monitors(request, service: str | None = None, state: State | None = None,
                  kind: Kind | None = None, limit: int = Query(100, ge=1, le=500),
                  offset: int = Query(0, ge=0, le=10_000_000)):
    allow(request, "view")
    monitors = Monitor.objects.select_related("service").order_by("service__slug", "name", "pk")
    if service:
        monitors = monitors.filter(service__slug=service)
    if state == "paused":
        monitors = monitors.filter(paused=True)
    elif state:
        monitors = monitors.filter(state=state, paused=False)
    if kind:
        monitors = monitors.filter(kind=kind)
    return [monitor_out(request, m) for m in monitors[offset:offset + limit]]


@router.post("/monitors", response={201: MonitorDetailOut, **ERRORS})
def create_monitor(request, payload: MonitorIn):
    allow(request, "monitors.manage")
    fields = {**payload.model_dump(), "service": _service(payload.service)}
    monitor = _checked(lambda: actions.create_monitor(fields, request.auth))
    return Status(201, detail_out(request, _monitor(monitor.pk)))


@router.get("/monitors/{monitor_id}", response={200: MonitorDetailOut, **ERRORS})
def get_monitor(request, monitor_id: int):
    allow(request, "view")
    return detail_out(request, _monitor(monitor_id))


@router.patch("/monitors/{monitor_id}", response={200: MonitorDetailOut, **ERRORS})
def update_monitor(request, monitor_id: int, payload: MonitorPatch):
    allow(request, "monitors.manage")
    monitor = _monitor(monitor_id)
    changes = payload.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise HttpError(422, f"{name}: may not be null (leave it out to keep it)")
    if "service" in changes:
        changes["service"] = _service(changes["service"])
    _checked(lambda: actions.update_monitor(monitor, changes, request.auth))
    return detail_out(request, _monitor(monitor_id))


@router.delete("/monitors/{monitor_id}", response={204: None, **ERRORS})
def delete_monitor(request, monitor_id: int):
    allow(request, "monitors.manage")
    actions.delete_monitor(_monitor(monitor_id), request.auth)
    return Status(204, None)


@router.post("/monitors/{monitor_id}/pause", response={200: MonitorDetailOut, **ERRORS})
def pause_monitor(request, monitor_id: int):
    allow(request, "monitors.manage")
    actions.set_paused(_monitor(monitor_id), True, request.auth)
    return detail_out(request, _monitor(monitor_id))


@router.post("/monitors/{monitor_id}/resume", response={200: MonitorDetailOut, **ERRORS})
def resume_monitor(request, monitor_id: int):
    allow(request, "monitors.manage")
    actions.set_paused(_monitor(monitor_id), False, request.auth)
    return detail_out(request, _monitor(monitor_id))


@router.get("/monitors/{monitor_id}/results", response={200: list[ResultOut], **ERRORS})
def monitor_results(request, monitor_id: int, limit: int = Query(100, ge=1, le=1000),
                    location: str | None = None):
    """The latest raw results, newest first (kept MONITOR_RAW_DAYS days)."""
    allow(request, "view")
    records = CheckRecord.objects.filter(monitor=_monitor(monitor_id)).order_by("-checked_at",
                                                                                "-pk")
    if location:
        records = records.filter(location=location)
    return [{"location": r.location, "checked_at": r.checked_at, "state": r.state,
             "latency_ms": r.latency_ms, "message": r.message} for r in records[:limit]]


@router.get("/monitors/{monitor_id}/availability", response={200: AvailabilityOut, **ERRORS})
def monitor_availability(request, monitor_id: int):
    """Share of checks not down (degraded counts as up) over the last 24 hours and the
    last 7 and 30 UTC days, today included."""
    allow(request, "view")
    windows = summary.availability_windows(_monitor(monitor_id))

    def window(totals: summary.Totals) -> dict[str, Any]:
        return {"availability": totals.availability, "checks": totals.checks, "up": totals.up,
                "degraded": totals.degraded, "down": totals.down}

    return {"last_24h": window(windows["24h"]), "last_7d": window(windows["7d"]),
            "last_30d": window(windows["30d"])}
