"""Runs in the API: request a runbook step or an ad-hoc command, read a run's results.
Approving a change happens in the console, in a session with two-factor authentication."""

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Router, Status
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.incidents.visibility import visible_incidents
from atalaia.lib.apiutil import ERRORS, Input
from atalaia.remote import actions
from atalaia.remote.models import Run, Runbook

router = Router(tags=["remote"])


class RunIn(Input):
    runbook: str = Field(..., min_length=1, max_length=63)
    step: str = Field(..., min_length=1, max_length=200)
    params: dict[str, str | int] = Field(default_factory=dict)
    hosts: list[int] = Field(default_factory=list, description="none: every affected host")
    concurrency: int = Field(10, ge=1, le=100)


class AdhocIn(Input):
    command: str = Field(..., min_length=1, max_length=5000)
    hosts: list[int] = Field(default_factory=list)
    timeout: int = Field(30, ge=1, le=3600)


class HostOut(BaseModel):
    host: str
    status: str
    exit_status: int | None
    stdout: str
    stderr: str
    truncated: bool
    error: str
    duration: float | None


class RunOut(BaseModel):
    id: int
    incident: int
    step: str
    kind: str
    command: str
    status: str
    runbook: str | None
    runbook_version: int | None
    requested_by: str | None
    decided_by: str | None
    requested_at: datetime
    finished_at: datetime | None
    is_fix: bool
    hosts: list[HostOut]


def _out(run: Run) -> dict:
    return {"id": run.pk, "incident": run.incident_id, "step": run.step, "kind": run.kind,
            "command": run.command, "status": run.status,
            "runbook": run.runbook.slug if run.runbook else None,
            "runbook_version": run.runbook_version,
            "requested_by": run.requested_by.username if run.requested_by else None,
            "decided_by": run.decided_by.username if run.decided_by else None,
            "requested_at": run.requested_at, "finished_at": run.finished_at,
            "is_fix": run.is_fix,
            "hosts": [{"host": h.host_name, "status": h.status, "exit_status": h.exit_status,
                       "stdout": h.stdout, "stderr": h.stderr, "truncated": h.truncated,
                       "error": h.error, "duration": h.duration} for h in run.hosts.all()]}


@router.post("/incidents/{incident_id}/runs", response={201: RunOut, **ERRORS})
def request_run(request, incident_id: int, payload: RunIn):
    """Run a runbook step: a diagnostic runs at once, a change waits for approval."""
    allow(request, "incident.respond")
    incident = get_object_or_404(visible_incidents(request.auth), pk=incident_id)
    runbook = get_object_or_404(Runbook, slug=payload.runbook)
    run = actions.request_run(incident, request.auth, runbook, payload.step,
                              dict(payload.params), payload.hosts or None, payload.concurrency)
    return Status(201, _out(run))


@router.post("/incidents/{incident_id}/adhoc", response={201: RunOut, **ERRORS})
def request_adhoc(request, incident_id: int, payload: AdhocIn):
    allow(request, "incident.respond")
    incident = get_object_or_404(visible_incidents(request.auth), pk=incident_id)
    run = actions.request_adhoc(incident, request.auth, payload.command, payload.hosts or None,
                                payload.timeout)
    return Status(201, _out(run))


@router.get("/runs/{run_id}", response={200: RunOut, **ERRORS})
def get_run(request, run_id: int):
    allow(request, "view")
    run = get_object_or_404(Run.objects.select_related("runbook", "requested_by",
                                                       "decided_by"), pk=run_id)
    get_object_or_404(visible_incidents(request.auth), pk=run.incident_id)
    return _out(run)
