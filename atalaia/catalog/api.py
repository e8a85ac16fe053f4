import re

from django.shortcuts import get_object_or_404
from ninja import Router, Status
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.catalog.actions import save_service
from atalaia.catalog.impact import compute, current_graph, with_paths
from atalaia.catalog.models import Segment, Service, Team
from atalaia.lib.apiutil import ERRORS, Input
from atalaia.lib.yamldoc import DocumentError

router = Router(tags=["catalog"])


class SegmentShare(Input):
    segment: str
    share: float = Field(1.0, ge=0, le=1)


class ServiceOut(BaseModel):
    slug: str
    name: str
    description: str
    criticality: str
    owner: str | None
    hosts: list[str]
    depends_on: list[str]
    dependents: list[str]
    segments: list[SegmentShare]
    component: bool
    component_group: str


class ServiceIn(Input):
    slug: str = Field(..., min_length=1, max_length=63)
    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    criticality: str = "medium"
    owner: str | None = None
    hosts: list[str] = []
    depends_on: list[str] = []
    segments: list[SegmentShare] = []
    component: bool = False
    component_group: str = ""


class ServicePatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    criticality: str | None = None
    owner: str | None = None
    hosts: list[str] | None = None
    depends_on: list[str] | None = None
    segments: list[SegmentShare] | None = None
    component: bool | None = None
    component_group: str | None = None


class SegmentOut(BaseModel):
    slug: str
    name: str
    users: int
    description: str


class TeamOut(BaseModel):
    slug: str
    name: str
    members: list[str]


class GraphOut(BaseModel):
    nodes: list[dict]
    edges: list[list[str]]


class ImpactIn(Input):
    services: list[str] = Field(..., min_length=1)
    security_risk: bool = False


def service_out(svc: Service) -> ServiceOut:
    return ServiceOut(
        slug=svc.slug, name=svc.name, description=svc.description,
        criticality=svc.criticality, owner=svc.owner_team.slug if svc.owner_team else None,
        hosts=list(svc.hosts), depends_on=sorted(s.slug for s in svc.depends_on.all()),
        dependents=sorted(s.slug for s in svc.dependents.all()),
        segments=[SegmentShare(segment=r.segment.slug, share=r.share)
                  for r in svc.segment_rows.all()],
        component=svc.is_component, component_group=svc.component_group)


def _services():
    return Service.objects.select_related("owner_team").prefetch_related(
        "depends_on", "dependents", "segment_rows__segment")


@router.get("/services", response={200: list[ServiceOut], **ERRORS})
def list_services(request):
    allow(request, "view")
    return [service_out(s) for s in _services()]


@router.get("/services/graph", response={200: GraphOut, **ERRORS})
def service_graph(request):
    allow(request, "view")
    graph = current_graph()
    nodes = [{"slug": s, "name": n, "criticality": ("low", "medium", "high", "critical")[c]}
             for s, n, c in zip(graph.slugs, graph.names, graph.criticality, strict=True)]
    edges = [[graph.slugs[dep], graph.slugs[target]]
             for target, deps in enumerate(graph.dependents) for dep in deps]
    return GraphOut(nodes=nodes, edges=edges)


@router.get("/services/{slug}", response={200: ServiceOut, **ERRORS})
def get_service(request, slug: str):
    allow(request, "view")
    return service_out(get_object_or_404(_services(), slug=slug))


def _fields(data: dict) -> dict:
    fields = {k: v for k, v in data.items()
              if k not in ("component", "component_group", "segments")}
    if data.get("segments") is not None:
        fields["segments"] = [dict(s) for s in data["segments"]]
    if data.get("component") is not None:
        fields["component"] = {"group": data.get("component_group") or ""} \
            if data["component"] else None
    return fields


def _save(request, fields: dict, existing: Service | None) -> Service:
    try:
        return save_service(fields, request.auth, existing)
    except DocumentError as exc:
        # The checks run on a one-service catalog document: drop its line
        # numbers and path prefix, which mean nothing to an API caller.
        raise DocumentError([re.sub(r"^(line \d+: )?services\[0\]\.?", "", p) or p
                             for p in exc.problems]) from None


@router.post("/services", response={201: ServiceOut, **ERRORS})
def create_service(request, payload: ServiceIn):
    allow(request, "catalog.edit")
    if Service.objects.filter(slug=payload.slug).exists():
        return Status(409, {"detail": f"service {payload.slug!r} already exists"})
    service = _save(request, _fields(payload.model_dump()), None)
    return Status(201, service_out(_services().get(pk=service.pk)))


@router.patch("/services/{slug}", response={200: ServiceOut, **ERRORS})
def update_service(request, slug: str, payload: ServicePatch):
    allow(request, "catalog.edit")
    existing = get_object_or_404(Service, slug=slug)
    data = payload.model_dump(exclude_unset=True)
    fields = _fields(data)
    if "component" in fields and fields["component"] is None:
        fields.pop("component")
        fields["_drop_component"] = True
    service = _save(request, fields, existing)
    return service_out(_services().get(pk=service.pk))


@router.get("/segments", response={200: list[SegmentOut], **ERRORS})
def list_segments(request):
    allow(request, "view")
    return [SegmentOut(slug=s.slug, name=s.name, users=s.users, description=s.description)
            for s in Segment.objects.all()]


@router.get("/teams", response={200: list[TeamOut], **ERRORS})
def list_teams(request):
    allow(request, "view")
    return [TeamOut(slug=t.slug, name=t.name, members=sorted(u.username for u in t.members.all()))
            for t in Team.objects.prefetch_related("members")]


@router.post("/impact", response={200: dict, **ERRORS})
def preview_impact(request, payload: ImpactIn):
    """The impact a failure of these services would have (nothing is stored)."""
    allow(request, "view")
    from atalaia.catalog.impact import UnknownService

    try:
        snapshot = compute(current_graph(), payload.services, payload.security_risk)
    except UnknownService as exc:
        return Status(400, {"detail": str(exc)})
    return {**snapshot, "services": with_paths(snapshot)}
