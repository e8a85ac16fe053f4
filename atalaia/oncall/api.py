"""Paging in the API: pages and their acknowledgement, the plan's activation,
responders added by hand, escalation policies, who is on call now."""

from datetime import datetime
from typing import Any, Literal

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Status
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.accounts.models import User
from atalaia.catalog.models import Team
from atalaia.incidents.models import Incident
from atalaia.incidents.visibility import visible_incidents
from atalaia.lib.apiutil import ERRORS, Input
from atalaia.oncall import feeds, paging, policies
from atalaia.oncall.models import Escalation, EscalationPolicy, Page
from atalaia.oncall.schedules import on_call_now

router = Router(tags=["paging"])


class PageOut(BaseModel):
    id: int
    incident: int
    user: str
    status: str
    urgency: str
    level: int
    via: str
    policy: str
    policy_version: int
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_via: str
    resolved_at: datetime | None
    notifications: list[dict]


def _page_out(page: Page) -> dict:
    return {"id": page.pk, "incident": page.incident_id, "user": page.user.username,
            "status": page.status, "urgency": page.urgency, "level": page.level_index + 1,
            "via": page.via, "policy": page.escalation.snapshot["name"],
            "policy_version": page.escalation.snapshot["version"],
            "created_at": page.created_at, "acknowledged_at": page.acknowledged_at,
            "acknowledged_via": page.acknowledged_via, "resolved_at": page.resolved_at,
            "notifications": [{"channel": d.channel, "to": d.recipient, "status": d.status,
                               "attempts": d.attempts, "due": d.next_attempt_at,
                               "sent_at": d.sent_at, "error": d.last_error}
                              for d in page.deliveries.all()]}


def _incident(request, incident_id: int) -> Incident:
    return get_object_or_404(visible_incidents(request.auth), pk=incident_id)


def _page(request, page_id: int) -> Page:
    page = get_object_or_404(Page.objects.select_related("incident", "user", "escalation")
                             .prefetch_related("deliveries"), pk=page_id)
    _incident(request, page.incident_id)
    return page


class PageFilter(BaseModel):
    status: Literal["triggered", "acknowledged", "escalated", "resolved"] | None = None
    mine: bool = False


@router.get("/incidents/{incident_id}/pages", response={200: list[PageOut], **ERRORS})
def incident_pages(request, incident_id: int, filters: Query[PageFilter]):
    """Who was paged for this incident, when, how, and whether they answered."""
    allow(request, "view")
    pages = paging.incident_pages(_incident(request, incident_id))
    if filters.status:
        pages = pages.filter(status=filters.status)
    if filters.mine:
        pages = pages.filter(user=request.auth)
    return [_page_out(p) for p in pages]


@router.get("/pages/{page_id}", response={200: PageOut, **ERRORS})
def get_page(request, page_id: int):
    allow(request, "view")
    return _page_out(_page(request, page_id))


@router.post("/pages/{page_id}/acknowledge", response={200: PageOut, **ERRORS})
def acknowledge(request, page_id: int):
    """Acknowledge a page (your own, or anyone's with the responder role): the
    person's further notifications for the incident stop."""
    page = _page(request, page_id)
    if page.user_id != request.auth.pk:
        allow(request, "incident.respond")
    if page.status != "triggered":
        return Status(409, {"detail": f"the page is {page.status}, not waiting for an "
                                      "acknowledgement"})
    paging.acknowledge(page, request.auth, "api")
    return _page_out(_page(request, page_id))


class ReassignIn(Input):
    username: str = Field(..., min_length=1, max_length=150)


@router.post("/pages/{page_id}/reassign", response={200: PageOut, **ERRORS})
def reassign(request, page_id: int, payload: ReassignIn):
    allow(request, "incident.respond")
    page = _page(request, page_id)
    to = User.objects.filter(username=payload.username, is_active=True).first()
    if to is None:
        return Status(422, {"detail": f"no active person called {payload.username!r}"})
    try:
        new = paging.reassign(page, to, request.auth)
    except paging.PagingError as exc:
        return Status(409, {"detail": str(exc)})
    return _page_out(_page(request, new.pk))


class ActivationOut(BaseModel):
    team: str
    policy: str | None
    policy_version: int | None
    urgency: str
    running: bool
    first_level: list[str]
    unreachable: list[str]
    nobody_on_call: list[str]
    problem: str


@router.get("/incidents/{incident_id}/activation", response={200: list[ActivationOut], **ERRORS})
def activation_preview(request, incident_id: int):
    """Who activating the plan for the incident's level would page first, right now."""
    allow(request, "incident.respond")
    return [_activation_out(a) for a in paging.plan_for(_incident(request, incident_id))]


def _activation_out(item: paging.Activation) -> dict[str, Any]:
    people = item.first.targets if item.first else []
    return {"team": item.team_slug, "policy": item.snapshot and item.snapshot["name"],
            "policy_version": item.snapshot and item.snapshot["version"],
            "urgency": item.urgency, "running": item.running,
            "first_level": [t.user.username for t in people],
            "unreachable": [t.user.username for t in people if not paging.reachable(t.user)],
            "nobody_on_call": item.first.gaps if item.first else [], "problem": item.problem}


class EscalationOut(BaseModel):
    id: int
    policy: str
    policy_version: int
    team: str | None
    urgency: str
    status: str
    level: int
    cycle: int
    next_step_at: datetime | None
    reason: str


def _escalation_out(e: Escalation) -> dict:
    return {"id": e.pk, "policy": e.snapshot["name"], "policy_version": e.snapshot["version"],
            "team": e.team.slug if e.team else None, "urgency": e.urgency, "status": e.status,
            "level": e.level_index + 1, "cycle": e.cycle + 1, "next_step_at": e.next_step_at,
            "reason": e.reason}


@router.post("/incidents/{incident_id}/activate", response={200: list[EscalationOut], **ERRORS})
def activate(request, incident_id: int):
    """Page the plan's teams for the incident's level that are not paged yet."""
    allow(request, "incident.respond")
    started = paging.activate(_incident(request, incident_id), request.auth, "activated by hand")
    return [_escalation_out(e) for e in started]


@router.get("/incidents/{incident_id}/escalations", response={200: list[EscalationOut], **ERRORS})
def escalations(request, incident_id: int):
    allow(request, "view")
    incident = _incident(request, incident_id)
    return [_escalation_out(e) for e in incident.escalations.select_related("team")]


@router.post("/escalations/{escalation_id}/escalate", response={200: EscalationOut, **ERRORS})
def escalate(request, escalation_id: int):
    """Page the next level now, without waiting for the delay."""
    allow(request, "incident.respond")
    escalation = get_object_or_404(Escalation, pk=escalation_id)
    _incident(request, escalation.incident_id)
    try:
        paging.escalate_now(escalation, request.auth)
    except paging.PagingError as exc:
        return Status(409, {"detail": str(exc)})
    return _escalation_out(Escalation.objects.select_related("team").get(pk=escalation_id))


class RespondersIn(Input):
    kind: Literal["person", "schedule", "team"]
    name: str = Field(..., min_length=1, max_length=200)
    urgency: Literal["high", "low"] = "high"


@router.post("/incidents/{incident_id}/responders", response={201: EscalationOut, **ERRORS})
def add_responders(request, incident_id: int, payload: RespondersIn):
    """Page a person, a schedule's on-call person or a whole team now."""
    allow(request, "incident.respond")
    try:
        escalation = paging.add_responders(_incident(request, incident_id), request.auth,
                                           payload.kind, payload.name, payload.urgency)
    except paging.PagingError as exc:
        return Status(422, {"detail": str(exc)})
    return Status(201, _escalation_out(escalation))


# -- escalation policies -------------------------------------------------------------

class PolicyIn(Input):
    name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    team: str | None = Field(None, description="the slug of the team this policy pages for")
    levels: list[dict] | str = Field(..., description=(
        'a list of {"targets": [{"person"|"schedule"|"team": name}], '
        '"escalate_after_minutes": n}, or the same as YAML text'))
    repeats: int = Field(0, ge=0, le=9)
    ack_timeout_minutes: int = Field(30, ge=0, le=1440)


class PolicyOut(BaseModel):
    id: int
    name: str
    description: str
    team: str | None
    levels: list[dict]
    repeats: int
    ack_timeout_minutes: int
    version: int


def _policy_out(policy: EscalationPolicy) -> dict:
    names = policies.current_names(policy.levels)
    levels = [{"targets": [{t["kind"]: names.get((t["kind"], t["id"]), t["name"])}
                           for t in level["targets"]],
               "escalate_after_minutes": level["delay_minutes"]} for level in policy.levels]
    return {"id": policy.pk, "name": policy.name, "description": policy.description,
            "team": policy.team.slug if policy.team else None, "levels": levels,
            "repeats": policy.repeats, "ack_timeout_minutes": policy.ack_timeout_minutes,
            "version": policy.version}


@router.get("/escalation-policies", response={200: list[PolicyOut], **ERRORS})
def list_policies(request):
    allow(request, "view")
    return [_policy_out(p) for p in EscalationPolicy.objects.select_related("team")]


def _save(request, policy: EscalationPolicy | None, payload: PolicyIn):
    fields = payload.model_dump()
    if payload.team:
        fields["team"] = Team.objects.filter(slug=payload.team).first()
        if fields["team"] is None:
            return Status(422, {"detail": f"team: no team called {payload.team!r}"})
    try:
        policy = policies.save_policy(policy, fields, request.auth)
    except policies.PolicyError as exc:
        return Status(422, {"detail": f"{exc.field}: {exc}"})
    return _policy_out(policy)


@router.post("/escalation-policies", response={201: PolicyOut, **ERRORS})
def create_policy(request, payload: PolicyIn):
    allow(request, "oncall.manage")
    result = _save(request, None, payload)
    return result if isinstance(result, Status) else Status(201, result)


@router.put("/escalation-policies/{policy_id}", response={200: PolicyOut, **ERRORS})
def replace_policy(request, policy_id: int, payload: PolicyIn):
    """Change a policy: its version goes up; escalations already running keep theirs."""
    allow(request, "oncall.manage")
    return _save(request, get_object_or_404(EscalationPolicy, pk=policy_id), payload)


@router.delete("/escalation-policies/{policy_id}", response={204: None, **ERRORS})
def delete_policy(request, policy_id: int):
    allow(request, "oncall.manage")
    policy = get_object_or_404(EscalationPolicy, pk=policy_id)
    if policy.escalations.filter(status__in=paging.RUNNING).exists():
        return Status(409, {"detail": "the policy drives a running escalation"})
    policies.delete_policy(policy, request.auth)
    return Status(204, None)


# -- who is on call ------------------------------------------------------------------

class OnCallOut(BaseModel):
    schedule: str
    user: str | None


@router.get("/oncall/now", response={200: list[OnCallOut], **ERRORS})
def who_is_on_call(request):
    allow(request, "view")
    at = timezone.now()
    result = []
    for schedule in feeds.with_rows():
        user = on_call_now(schedule, at)
        result.append({"schedule": schedule.name, "user": user.username if user else None})
    return result
