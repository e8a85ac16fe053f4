"""Communication in the API: publish and correct updates, link help-desk tickets,
scheduled maintenance, component states."""

from datetime import datetime
from typing import Literal

from django.shortcuts import get_object_or_404
from ninja import Router, Status
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.catalog.models import Service
from atalaia.comms import actions
from atalaia.comms.models import Maintenance, Update
from atalaia.comms.views import support_macro
from atalaia.incidents.models import Incident
from atalaia.incidents.visibility import visible_incidents
from atalaia.lib.apiutil import ERRORS, Input, Timestamp

router = Router(tags=["communication"])
ComponentStatusIn = Literal["operational", "degraded_performance", "partial_outage",
                            "major_outage", "under_maintenance"]


def _incident(request, incident_id: int) -> Incident:
    return get_object_or_404(visible_incidents(request.auth), pk=incident_id)


class UpdateIn(Input):
    status: Literal["investigating", "identified", "monitoring", "resolved"]
    body_en: str = Field("", max_length=5000)
    body_pt: str = Field("", max_length=5000, description="empty: the plan's template")
    eta: Timestamp | None = Field(None, description="none: unknown")
    components: dict[str, ComponentStatusIn] = Field(default_factory=dict)


class UpdateOut(BaseModel):
    id: int
    incident: int
    status: str
    body_en: str
    body_pt: str
    eta: datetime | None
    components: list[dict]
    published_at: datetime
    corrected_at: datetime | None


def _update_out(update: Update) -> dict:
    return {"id": update.pk, "incident": update.incident_id, "status": update.status,
            "body_en": update.body_en, "body_pt": update.body_pt, "eta": update.eta,
            "components": update.components, "published_at": update.published_at,
            "corrected_at": update.corrected_at}


@router.post("/incidents/{incident_id}/updates", response={201: UpdateOut, **ERRORS})
def publish(request, incident_id: int, payload: UpdateIn):
    """Publish an update to the status page and every channel."""
    allow(request, "incident.communicate")
    update = actions.publish_update(_incident(request, incident_id), request.auth,
                                    **payload.model_dump())
    return Status(201, _update_out(update))


@router.get("/incidents/{incident_id}/updates", response={200: list[UpdateOut], **ERRORS})
def list_updates(request, incident_id: int):
    allow(request, "view")
    return [_update_out(u) for u in _incident(request, incident_id).updates.all()]


class CorrectionIn(Input):
    body_en: str = Field(..., min_length=1, max_length=5000)
    body_pt: str = Field(..., min_length=1, max_length=5000)


@router.post("/updates/{update_id}/correct", response={200: UpdateOut, **ERRORS})
def correct(request, update_id: int, payload: CorrectionIn):
    allow(request, "incident.communicate")
    update = get_object_or_404(Update, pk=update_id)
    _incident(request, update.incident_id)
    return _update_out(actions.correct_update(update, request.auth, payload.body_en,
                                              payload.body_pt))


@router.get("/incidents/{incident_id}/macro", response={200: dict[str, str], **ERRORS})
def macro(request, incident_id: int):
    """The support macro: the text an agent pastes into a ticket, in both languages."""
    allow(request, "view")
    latest = _incident(request, incident_id).updates.order_by("-published_at").first()
    if latest is None:
        return Status(409, {"detail": "nothing has been published about this incident yet"})
    return {"en": support_macro(latest, "en"), "pt-BR": support_macro(latest, "pt-br")}


class TicketIn(Input):
    reference: str = Field(..., min_length=1, max_length=200)
    system: str = Field("", max_length=50)
    url: str = Field("", max_length=500)


class TicketsOut(BaseModel):
    count: int
    created: bool


@router.post("/incidents/{incident_id}/tickets", response={200: TicketsOut, 201: TicketsOut,
                                                            **ERRORS})
def link_ticket(request, incident_id: int, payload: TicketIn):
    """Link a help-desk ticket to the incident (idempotent per system and reference)."""
    allow(request, "incident.note")
    incident = _incident(request, incident_id)
    _link, created = actions.link_ticket(incident, request.auth, payload.reference,
                                         payload.system, payload.url)
    body = {"count": incident.tickets.count(), "created": created}
    return Status(201 if created else 200, body)


class MaintenanceIn(Input):
    title_en: str = Field(..., min_length=1, max_length=200)
    title_pt: str = Field(..., min_length=1, max_length=200)
    body_en: str = Field("", max_length=5000)
    body_pt: str = Field("", max_length=5000)
    scheduled_for: Timestamp
    scheduled_until: Timestamp
    components: list[str] = Field(..., min_length=1, max_length=500)


class MaintenanceOut(BaseModel):
    id: int
    title_en: str
    status: str
    scheduled_for: datetime
    scheduled_until: datetime
    components: list[str]


def _maintenance_out(m: Maintenance) -> dict:
    return {"id": m.pk, "title_en": m.title_en, "status": m.status,
            "scheduled_for": m.scheduled_for, "scheduled_until": m.scheduled_until,
            "components": [c.slug for c in m.components.all()]}


@router.post("/maintenances", response={201: MaintenanceOut, **ERRORS})
def schedule(request, payload: MaintenanceIn):
    allow(request, "incident.communicate")
    fields = payload.model_dump()
    components = fields.pop("components")
    return Status(201, _maintenance_out(actions.schedule_maintenance(request.auth, fields,
                                                                     components)))


class MoveIn(Input):
    status: Literal["scheduled", "in_progress", "verifying", "completed"]


@router.post("/maintenances/{maintenance_id}/move", response={200: MaintenanceOut, **ERRORS})
def move(request, maintenance_id: int, payload: MoveIn):
    allow(request, "incident.communicate")
    maintenance = get_object_or_404(Maintenance, pk=maintenance_id)
    actions.move_maintenance(maintenance, request.auth, payload.status)
    maintenance.refresh_from_db()
    return _maintenance_out(maintenance)


class ComponentIn(Input):
    status: ComponentStatusIn


@router.put("/components/{slug}/status", response={200: dict, **ERRORS})
def set_component(request, slug: str, payload: ComponentIn):
    """Set a public component's state outside an update (it shows on the page)."""
    allow(request, "incident.communicate")
    service = get_object_or_404(Service, slug=slug)
    return actions.set_component_status(service, payload.status, request.auth)
