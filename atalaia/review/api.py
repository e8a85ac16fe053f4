"""The review in the API: timings against the plan, the review itself, the team's
feedback, action items, and timings aggregated over many incidents."""

from datetime import date, datetime
from typing import Literal

from django.shortcuts import get_object_or_404
from ninja import Router, Status
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.accounts.models import User
from atalaia.incidents.models import Incident
from atalaia.incidents.visibility import visible_incidents
from atalaia.lib.apiutil import ERRORS, Day, Input
from atalaia.review import actions, timings
from atalaia.review.models import ActionItem, Review
from atalaia.review.views import feedback_summary, satisfaction_summary

router = Router(tags=["review"])


def _incident(request, incident_id: int) -> Incident:
    return get_object_or_404(visible_incidents(request.auth).select_related("plan_version"),
                             pk=incident_id)


def _review(request, incident_id: int) -> Review:
    incident = _incident(request, incident_id)
    return get_object_or_404(Review.objects.select_related("incident", "completed_by"),
                             incident=incident)


class TimingOut(BaseModel):
    name: str
    label: str
    seconds: float | None
    target_seconds: float | None = Field(description="the plan's target for the level")
    gap_seconds: float | None = Field(description="over the target; negative: under it")
    start: datetime | None
    end: datetime | None


def _timings_out(incident: Incident) -> list[dict]:
    return [{"name": t.name, "label": str(t.label), "seconds": t.seconds,
             "target_seconds": t.target_seconds, "gap_seconds": t.gap, "start": t.start,
             "end": t.end} for t in timings.for_incident(incident)]


@router.get("/incidents/{incident_id}/timings", response={200: list[TimingOut], **ERRORS})
def incident_timings(request, incident_id: int):
    """Each timing of the incident against the plan's target (docs/review.md)."""
    allow(request, "view")
    return _timings_out(_incident(request, incident_id))


class FeedbackOut(BaseModel):
    user: str
    worked: str
    did_not: str
    plan_rating: int
    tools_rating: int
    updated_at: datetime


class ActionItemOut(BaseModel):
    id: int
    title: str
    owner: str | None
    due_on: date | None
    done_at: datetime | None
    permanent_fix: bool
    overdue: bool


class SatisfactionOut(BaseModel):
    count: int
    average: float | None


class ReviewOut(BaseModel):
    incident: int
    opened_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    blocking: list[str] = Field(description="what stands between the review and completion")
    timings: list[TimingOut]
    feedback: list[FeedbackOut]
    plan_rating_average: float | None
    tools_rating_average: float | None
    user_satisfaction: SatisfactionOut
    action_items: list[ActionItemOut]


def _feedback_out(answer) -> dict:
    return {"user": answer.user.username, "worked": answer.worked, "did_not": answer.did_not,
            "plan_rating": answer.plan_rating, "tools_rating": answer.tools_rating,
            "updated_at": answer.created_at}


def _item_out(item: ActionItem) -> dict:
    return {"id": item.pk, "title": item.title,
            "owner": item.owner.username if item.owner else None, "due_on": item.due_on,
            "done_at": item.done_at, "permanent_fix": item.permanent_fix,
            "overdue": actions.is_overdue(item)}


@router.get("/incidents/{incident_id}/review", response={200: ReviewOut, **ERRORS})
def get_review(request, incident_id: int):
    """The review; 404 until it opens (when the incident is resolved)."""
    allow(request, "view")
    review = _review(request, incident_id)
    summary = feedback_summary(review)
    satisfaction = satisfaction_summary(review.incident)
    return {
        "incident": review.incident_id, "opened_at": review.opened_at,
        "completed_at": review.completed_at,
        "completed_by": review.completed_by.username if review.completed_by else None,
        "blocking": [] if review.completed_at else actions.blocking(review),
        "timings": _timings_out(review.incident),
        "feedback": [_feedback_out(a) for a in summary["answers"]],
        "plan_rating_average": summary["plan"], "tools_rating_average": summary["tools"],
        "user_satisfaction": {"count": satisfaction["count"],
                              "average": satisfaction["average"]},
        "action_items": [_item_out(i) for i in review.action_items.select_related("owner")]}


class FeedbackIn(Input):
    worked: str = Field("", max_length=actions.MAX_TEXT)
    did_not: str = Field("", max_length=actions.MAX_TEXT)
    plan_rating: int = Field(..., ge=1, le=5)
    tools_rating: int = Field(..., ge=1, le=5)


@router.post("/incidents/{incident_id}/review/feedback", response={200: FeedbackOut, **ERRORS})
def submit_feedback(request, incident_id: int, payload: FeedbackIn):
    """Your own feedback, as one of the incident's participants; sending again replaces it."""
    allow(request, "view")
    review = _review(request, incident_id)
    answer = actions.submit_feedback(review, request.auth, **payload.model_dump())
    return _feedback_out(answer)


class ActionItemIn(Input):
    title: str = Field(..., min_length=1, max_length=actions.MAX_TITLE)
    owner: str | None = Field(None, description="a username")
    due_on: Day | None = None
    permanent_fix: bool = False


@router.post("/incidents/{incident_id}/review/action-items",
             response={201: ActionItemOut, **ERRORS})
def add_action_item(request, incident_id: int, payload: ActionItemIn):
    allow(request, "incident.respond")
    review = _review(request, incident_id)
    owner = None
    if payload.owner:
        owner = User.objects.filter(username=payload.owner).first()
        if owner is None:
            raise actions.ReviewError(f"no user named {payload.owner!r}")
    item = actions.add_action_item(review, request.auth, payload.title, owner, payload.due_on,
                                   payload.permanent_fix)
    return Status(201, _item_out(item))


class FiguresOut(BaseModel):
    count: int
    mean: float | None
    median: float | None
    p90: float | None


@router.get("/review/aggregates",
            response={200: dict[str, dict[str, FiguresOut]], **ERRORS})
def aggregates(request, by: Literal["level", "service", "plan_version", "month"] = "level"):
    """Timings in seconds over every incident you may see, grouped by level, service,
    plan version or month of declaration: {key: {timing: {count, mean, median, p90}}}."""
    allow(request, "view")
    return timings.aggregate(visible_incidents(request.auth), by)


class CompleteIn(Input):
    note: str = Field("", max_length=5000,
                      description="why there is no team feedback, when there is none")


@router.post("/incidents/{incident_id}/review/complete", response={200: ReviewOut, **ERRORS})
def complete(request, incident_id: int, payload: CompleteIn):
    """Complete the review: the incident closes (409 with the reasons when not ready)."""
    allow(request, "incident.respond")
    actions.complete_review(_review(request, incident_id), request.auth, payload.note)
    return get_review(request, incident_id)
