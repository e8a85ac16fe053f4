from django.shortcuts import get_object_or_404
from ninja import Router, Status
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.lib.apiutil import ERRORS, Input
from atalaia.lib.yamldoc import DocumentError, LimitError
from atalaia.plans.actions import activate_plan, import_plan, validate_plan
from atalaia.plans.models import PlanVersion

router = Router(tags=["plans"])


class PlanSummary(BaseModel):
    number: int
    name: str
    active: bool
    schema_version: int
    created_at: str
    note: str


class PlanOut(PlanSummary):
    source: str
    document: dict


class PlanIn(Input):
    source: str = Field(..., min_length=1, max_length=1_000_000)
    activate: bool = True
    note: str = Field("", max_length=500)


class SourceIn(Input):
    source: str = Field(..., min_length=1, max_length=1_000_000)


class Validation(BaseModel):
    valid: bool
    problems: list[str]


def summary(v: PlanVersion) -> dict:
    return {"number": v.number, "name": v.name, "active": v.is_active,
            "schema_version": v.schema_version, "created_at": v.created_at.isoformat(),
            "note": v.note}


@router.get("", response={200: list[PlanSummary], **ERRORS})
def list_plans(request):
    allow(request, "view")
    return [summary(v) for v in PlanVersion.objects.all()]


@router.post("/validate", response={200: Validation, **ERRORS})
def validate(request, payload: SourceIn):
    allow(request, "view")
    try:
        validate_plan(payload.source)
    except LimitError:
        raise  # not a plan with problems but a document refused unread: 413
    except DocumentError as exc:
        return {"valid": False, "problems": exc.problems}
    return {"valid": True, "problems": []}


@router.get("/{number}", response={200: PlanOut, **ERRORS})
def get_plan(request, number: int):
    allow(request, "view")
    version = get_object_or_404(PlanVersion, number=number)
    return {**summary(version), "source": version.source, "document": version.plan}


@router.post("", response={201: PlanOut, **ERRORS})
def create_plan(request, payload: PlanIn):
    allow(request, "plan.edit")
    version = import_plan(payload.source, request.auth, payload.activate, payload.note)
    return Status(201, {**summary(version), "source": version.source, "document": version.plan})


@router.post("/{number}/activate", response={200: PlanSummary, **ERRORS})
def activate(request, number: int):
    allow(request, "plan.edit")
    version = get_object_or_404(PlanVersion, number=number)
    activate_plan(version, request.auth)
    return summary(version)
