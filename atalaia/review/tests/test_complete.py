"""Completing the review closes the incident, once the review checklist is ticked and
the team gave feedback (or a note says why not)."""

import pytest

from atalaia.incidents.actions import tick_checklist
from atalaia.incidents.models import EntryKind, Phase, Stage
from atalaia.review.actions import (
    ReviewError,
    ReviewNotReady,
    complete_review,
    submit_feedback,
)
from atalaia.review.tests.conftest import at, walk


def _tick_review_checklist(incident, actor):
    for item in incident.checklist.filter(phase=Phase.REVIEW):
        tick_checklist(item, actor, True)


def test_completing_the_review_closes_the_incident(crisis, personas, clock):
    commander = personas["commander"]
    _tick_review_checklist(crisis, commander)
    submit_feedback(crisis.review, personas["responder"], "paging", "", 4, 4)
    clock.move_to(at(60 * 24 * 2))
    complete_review(crisis.review, commander)
    crisis.refresh_from_db()
    assert crisis.stage == Stage.CLOSED
    assert (crisis.review.completed_at, crisis.review.completed_by) == (at(2880), commander)
    window = crisis.phases.get(phase=Phase.REVIEW)
    assert (window.started_at, window.ended_at) == (at(110), at(2880))
    assert crisis.entries.filter(kind=EntryKind.REVIEW, body__event="completed").exists()


def test_the_review_checklist_must_be_ticked(crisis, personas):
    submit_feedback(crisis.review, personas["responder"], "", "", 4, 4)
    with pytest.raises(ReviewNotReady, match="review checklist"):
        complete_review(crisis.review, personas["commander"])
    crisis.refresh_from_db()
    assert crisis.stage == Stage.REVIEW and crisis.review.completed_at is None


def test_without_team_feedback_a_note_must_say_why(crisis, personas):
    _tick_review_checklist(crisis, personas["commander"])
    with pytest.raises(ReviewNotReady, match="feedback"):
        complete_review(crisis.review, personas["commander"], "  ")
    complete_review(crisis.review, personas["commander"], "Handled by one person at night.")
    crisis.refresh_from_db()
    assert crisis.stage == Stage.CLOSED
    entry = crisis.entries.get(kind=EntryKind.REVIEW, body__event="completed")
    assert entry.body["note"] == "Handled by one person at night."


def test_the_incident_must_be_in_the_review_stage(demo, personas, clock):
    incident = walk(personas, clock, to_review=False)
    _tick_review_checklist(incident, personas["commander"])
    with pytest.raises(ReviewNotReady, match="review first"):
        complete_review(incident.review, personas["commander"], "note")
    incident.refresh_from_db()
    assert incident.stage == Stage.RESOLUTION and incident.review.completed_at is None


def test_a_completed_review_takes_no_more_feedback_and_does_not_complete_twice(
        crisis, personas):
    _tick_review_checklist(crisis, personas["commander"])
    complete_review(crisis.review, personas["commander"], "quiet night")
    with pytest.raises(ReviewNotReady):
        complete_review(crisis.review, personas["commander"], "again")
    with pytest.raises(ReviewError):
        submit_feedback(crisis.review, personas["responder"], "", "", 3, 3)


def test_a_closed_incident_no_longer_changes(crisis, personas, clock):
    from atalaia.incidents.actions import IllegalMove, override_level, set_visibility
    from atalaia.oncall.models import Page

    _tick_review_checklist(crisis, personas["commander"])
    complete_review(crisis.review, personas["commander"], "a quiet night")
    pages = Page.objects.count()
    with pytest.raises(IllegalMove, match="the incident is closed"):
        override_level(crisis, personas["commander"], "critical", "late worry")
    with pytest.raises(IllegalMove, match="the incident is closed"):
        tick_checklist(crisis.checklist.first(), personas["commander"], False)
    assert Page.objects.count() == pages  # nobody paged for a closed incident
    set_visibility(crisis, personas["admin"], True)  # its visibility may still change
