from typing import Literal

from django.http import Http404
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.accounts.models import User
from atalaia.catalog.impact import with_paths
from atalaia.incidents import actions, gate
from atalaia.incidents.actions import IncidentError
from atalaia.incidents.models import ChecklistItem, Incident, VerificationCheck
from atalaia.incidents.visibility import visible_incidents
from atalaia.lib.apiutil import ERRORS, Input, Timestamp

router = Router(tags=["incidents"])


class DeclareIn(Input):
    title: str = Field(..., min_length=1, max_length=200)
    services: list[str] = Field(..., min_length=1, max_length=1000)
    security_risk: bool = False
    security_reason: str = Field("", max_length=2000)
    summary: str = Field("", max_length=20_000)
    confidential: bool = False


class StageIn(Input):
    stage: str
    note: str = Field("", max_length=5000)


class StatusIn(Input):
    status: str
    message: str = Field("", max_length=5000)


class LevelIn(Input):
    level: str
    reason: str = Field(..., min_length=1, max_length=5000)


class RoleIn(Input):
    role: str
    username: str


class EtaIn(Input):
    eta: Timestamp | None


class ServicesIn(Input):
    services: list[str] = Field(..., min_length=1, max_length=1000)


class SecurityIn(Input):
    security_risk: bool
    reason: str = Field("", max_length=2000)


class VisibilityIn(Input):
    confidential: bool


class ResolutionIn(Input):
    root_cause: str = Field("", max_length=20_000)
    permanent_fix: str = Field("", max_length=20_000)
    temporary: bool = Field(False, description="the fix in place is temporary")


class EntryIn(Input):
    kind: str = "note"
    text: str = Field(..., min_length=1, max_length=20_000)
    outcome: str = ""


class CheckIn(Input):
    done: bool


class EntryOut(BaseModel):
    seq: int
    kind: str
    author: str
    created_at: str
    body: dict
    mac: str


class ImpactService(BaseModel):
    slug: str
    name: str
    criticality: str
    parent: str | None
    path: list[str]


class ImpactOut(BaseModel):
    users_affected: int
    users_total: int
    users_share: float
    segments: list[dict]
    services: list[ImpactService]
    services_affected: int
    critical_services: int
    security_risk: bool
    security_reason: str
    operational_risk: str


class IncidentSummary(BaseModel):
    id: int
    title: str
    level: str
    phase: str
    stage: str
    status: str
    confidential: bool
    declared_at: str
    services: list[str]


class IncidentOut(IncidentSummary):
    summary: str
    level_reason: str
    plan_level: str
    level_override_reason: str
    plan_version: int | None
    communication_open: bool
    eta: str | None
    root_cause: str
    permanent_fix: str
    fix_is_temporary: bool
    roles: dict[str, str]
    phases: dict[str, dict]
    checklist: list[dict]
    impact: ImpactOut
    entry_count: int


def summary_of(incident: Incident) -> dict:
    return {"id": incident.pk, "title": incident.title, "level": incident.level,
            "phase": incident.stage, "stage": incident.stage, "status": incident.public_status,
            "confidential": incident.confidential,
            "declared_at": incident.declared_at.isoformat(),
            "services": [s.slug for s in incident.services.all()]}


def detail_of(incident: Incident) -> dict:
    impact = dict(incident.impact)
    impact["services"] = with_paths(impact)
    return {
        **summary_of(incident), "summary": incident.summary,
        "level_reason": incident.level_override_reason or incident.plan_level_reason,
        "plan_level": incident.plan_level,
        "level_override_reason": incident.level_override_reason,
        "plan_version": incident.plan_version.number if incident.plan_version else None,
        "communication_open": incident.communication_open,
        "eta": incident.eta.isoformat() if incident.eta else None,
        "root_cause": incident.root_cause, "permanent_fix": incident.permanent_fix,
        "fix_is_temporary": incident.fix_is_temporary,
        "roles": {r.role: r.user.username for r in incident.roles.select_related("user")},
        "phases": {w.phase: {"started_at": w.started_at.isoformat(),
                             "ended_at": w.ended_at.isoformat() if w.ended_at else None}
                   for w in incident.phases.all()},
        "checklist": [{"id": c.pk, "phase": c.phase, "text": c.text_en, "text_pt_br": c.text_pt,
                       "owner": c.owner_role, "done": c.done_at is not None}
                      for c in incident.checklist.all()],
        "impact": impact, "entry_count": incident.entry_count,
    }


def _incident(request, incident_id: int) -> Incident:
    incident = visible_incidents(request.auth).select_related("plan_version").filter(
        pk=incident_id).first()
    if incident is None:
        raise Http404(f"no incident {incident_id}")
    return incident


def _fresh(incident: Incident) -> dict:
    return detail_of(Incident.objects.select_related("plan_version").get(pk=incident.pk))


@router.post("", response={201: IncidentOut, **ERRORS})
def declare(request, payload: DeclareIn):
    allow(request, "incident.declare")
    incident = actions.declare_incident(
        request.auth, payload.title, payload.services, summary=payload.summary,
        security_risk=payload.security_risk, security_reason=payload.security_reason,
        confidential=payload.confidential)
    return Status(201, _fresh(incident))


LevelName = Literal["localized", "large_scale", "critical"]
StageName = Literal["assessment", "response", "resolution", "review", "closed"]
StatusName = Literal["investigating", "identified", "monitoring", "resolved"]


@router.get("", response={200: list[IncidentSummary], **ERRORS})
def list_incidents(request, level: LevelName | None = None, phase: StageName | None = None,
                   status: StatusName | None = None, limit: int = Query(50, ge=1, le=500),
                   offset: int = Query(0, ge=0, le=10_000_000)):
    allow(request, "view")
    incidents = visible_incidents(request.auth).prefetch_related("services")
    if level:
        incidents = incidents.filter(level=level)
    if phase:
        incidents = incidents.filter(stage=phase)
    if status:
        incidents = incidents.filter(public_status=status)
    return [summary_of(i) for i in incidents.order_by("-declared_at", "-id")[offset:offset + limit]]


@router.get("/{incident_id}", response={200: IncidentOut, **ERRORS})
def get_incident(request, incident_id: int):
    allow(request, "view")
    return detail_of(_incident(request, incident_id))


@router.post("/{incident_id}/stage", response={200: IncidentOut, **ERRORS})
def move_stage(request, incident_id: int, payload: StageIn):
    allow(request, "incident.command")
    incident = _incident(request, incident_id)
    actions.move_stage(incident, request.auth, payload.stage, payload.note)
    return _fresh(incident)


@router.post("/{incident_id}/status", response={200: IncidentOut, **ERRORS})
def set_status(request, incident_id: int, payload: StatusIn):
    allow(request, "incident.communicate")
    incident = _incident(request, incident_id)
    actions.set_public_status(incident, request.auth, payload.status, payload.message)
    return _fresh(incident)


@router.put("/{incident_id}/level", response={200: IncidentOut, **ERRORS})
def set_level(request, incident_id: int, payload: LevelIn):
    allow(request, "incident.command")
    incident = _incident(request, incident_id)
    actions.override_level(incident, request.auth, payload.level, payload.reason)
    return _fresh(incident)


@router.put("/{incident_id}/roles", response={200: IncidentOut, **ERRORS})
def set_role(request, incident_id: int, payload: RoleIn):
    allow(request, "incident.command")
    incident = _incident(request, incident_id)
    holder = User.objects.filter(username=payload.username, is_active=True).first()
    if holder is None:
        raise actions.IncidentError(f"no active user {payload.username!r}")
    actions.assign_role(incident, request.auth, payload.role, holder)
    return _fresh(incident)


@router.put("/{incident_id}/eta", response={200: IncidentOut, **ERRORS})
def set_eta(request, incident_id: int, payload: EtaIn):
    allow(request, "incident.command")
    incident = _incident(request, incident_id)
    actions.set_eta(incident, request.auth, payload.eta)
    return _fresh(incident)


@router.put("/{incident_id}/services", response={200: IncidentOut, **ERRORS})
def set_services(request, incident_id: int, payload: ServicesIn):
    allow(request, "incident.respond")
    incident = _incident(request, incident_id)
    actions.set_affected_services(incident, request.auth, payload.services)
    return _fresh(incident)


@router.put("/{incident_id}/security", response={200: IncidentOut, **ERRORS})
def set_security(request, incident_id: int, payload: SecurityIn):
    allow(request, "incident.respond")
    incident = _incident(request, incident_id)
    actions.set_security_risk(incident, request.auth, payload.security_risk, payload.reason)
    return _fresh(incident)


@router.put("/{incident_id}/visibility", response={200: IncidentOut, **ERRORS})
def set_visibility(request, incident_id: int, payload: VisibilityIn):
    allow(request, "incident.command")
    incident = _incident(request, incident_id)
    actions.set_visibility(incident, request.auth, payload.confidential)
    return _fresh(incident)


@router.put("/{incident_id}/resolution", response={200: IncidentOut, **ERRORS})
def set_resolution(request, incident_id: int, payload: ResolutionIn):
    allow(request, "incident.respond")
    incident = _incident(request, incident_id)
    actions.set_resolution(incident, request.auth, payload.root_cause, payload.permanent_fix,
                           payload.temporary)
    return _fresh(incident)


@router.get("/{incident_id}/timeline", response={200: list[EntryOut], **ERRORS})
def timeline(request, incident_id: int, after: int = Query(0, ge=0, le=2**31),
             limit: int = Query(200, ge=1, le=1000)):
    allow(request, "view")
    incident = _incident(request, incident_id)
    entries = incident.entries.filter(seq__gt=after).order_by("seq")[:limit]
    return [entry_out(e) for e in entries]


@router.post("/{incident_id}/timeline", response={201: EntryOut, **ERRORS})
def add_entry(request, incident_id: int, payload: EntryIn):
    kind_capability = "incident.note" if payload.kind == "note" else "incident.respond"
    allow(request, kind_capability)
    incident = _incident(request, incident_id)
    entry = actions.add_entry(incident, request.auth, payload.kind, payload.text, payload.outcome)
    return Status(201, entry_out(entry))


@router.post("/{incident_id}/checklist/{item_id}", response={200: IncidentOut, **ERRORS})
def tick(request, incident_id: int, item_id: int, payload: CheckIn):
    allow(request, "incident.respond")
    incident = _incident(request, incident_id)
    item = get_object_or_404(ChecklistItem, pk=item_id, incident=incident)
    actions.tick_checklist(item, request.auth, payload.done)
    return _fresh(incident)


def entry_out(entry) -> dict:
    return {"seq": entry.seq, "kind": entry.kind, "author": entry.author_name,
            "created_at": entry.created_at.isoformat(), "body": entry.body, "mac": entry.mac}


# -- the verification gate -------------------------------------------------------------

class GateItemOut(BaseModel):
    kind: str
    label: str
    ok: bool
    detail: str
    check: int | None
    remaining_seconds: float | None


class GateOut(BaseModel):
    ok: bool
    forced: str
    items: list[GateItemOut]


def _gate_out(incident: Incident) -> dict:
    result = gate.evaluate(incident)
    return {"ok": result.ok, "forced": result.forced, "items": [
        {"kind": i.kind, "label": str(i.label), "ok": i.ok, "detail": str(i.detail),
         "check": i.check,
         "remaining_seconds": i.remaining.total_seconds() if i.remaining else None}
        for i in result.items]}


def _gate_call(fn):
    try:
        fn()
    except gate.GateError as exc:
        raise IncidentError(str(exc)) from None


@router.get("/{incident_id}/gate", response={200: GateOut, **ERRORS})
def get_gate(request, incident_id: int):
    """What must hold before the public status may become resolved, and what blocks."""
    allow(request, "view")
    return _gate_out(_incident(request, incident_id))


@router.post("/{incident_id}/gate/checks/{check_id}", response={200: GateOut, **ERRORS})
def tick_gate_check(request, incident_id: int, check_id: int):
    """Tick a manual check (a member of its team, or the holder of its incident role)."""
    allow(request, "view")
    incident = _incident(request, incident_id)
    check = get_object_or_404(VerificationCheck, pk=check_id, incident=incident)
    _gate_call(lambda: gate.tick(check, request.auth))
    return _gate_out(incident)


@router.post("/{incident_id}/gate/signoff", response={200: GateOut, **ERRORS})
def sign_off_gate(request, incident_id: int):
    allow(request, "view")
    incident = _incident(request, incident_id)
    _gate_call(lambda: gate.sign_off(incident, request.auth))
    return _gate_out(incident)


class ForceIn(Input):
    reason: str = Field(..., min_length=1, max_length=5000)


@router.post("/{incident_id}/gate/force", response={200: GateOut, **ERRORS})
def force_gate(request, incident_id: int, payload: ForceIn):
    """An admin lets the incident resolve past a failing gate, with a written reason."""
    allow(request, "view")
    incident = _incident(request, incident_id)
    _gate_call(lambda: gate.force(incident, request.auth, payload.reason))
    return _gate_out(incident)
