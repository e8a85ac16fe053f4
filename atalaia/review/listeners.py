"""What the review does when the incident's lifecycle tells it something
(registered in ReviewConfig.ready())."""

from __future__ import annotations

from atalaia.comms import broadcasts
from atalaia.incidents import events
from atalaia.incidents.models import Incident
from atalaia.review.actions import add_permanent_fix_item, open_review, satisfaction_url
from atalaia.review.models import Review


def _on_resolved(event: events.Event) -> None:
    open_review(event.incident, event.actor)


def _on_resolution_set(event: events.Event) -> None:
    """A fix newly marked temporary: an action item for the permanent one, in a review
    already open (open_review adds it when the review opens later)."""
    review = Review.objects.filter(incident=event.incident).first()
    if event.data.get("newly_temporary") and review is not None:
        add_permanent_fix_item(review, event.incident, event.actor)


def _review_completed(incident: Incident) -> bool:
    return Review.objects.filter(incident=incident, completed_at__isnull=False).exists()


def register() -> None:
    events.on(events.RESOLVED, _on_resolved)
    events.on(events.RESOLUTION_SET, _on_resolution_set)
    events.add_closing_condition(_review_completed)
    broadcasts.provide_feedback_link(satisfaction_url)
