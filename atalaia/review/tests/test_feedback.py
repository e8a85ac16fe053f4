"""The team's feedback: participants only, one answer each (editable), ratings 1–5."""

import pytest
from django.core.exceptions import PermissionDenied

from atalaia.incidents.actions import assign_role
from atalaia.review.actions import ReviewError, submit_feedback
from atalaia.review.models import TeamFeedback


def test_a_participant_answers_once_and_may_change_the_answer(crisis, personas):
    review = crisis.review
    submit_feedback(review, personas["responder"], "paging", "runbooks", 4, 2)
    submit_feedback(review, personas["responder"], "paging", "runbooks were old", 4, 3)
    answer = TeamFeedback.objects.get()
    assert (answer.user, answer.did_not, answer.tools_rating) == (
        personas["responder"], "runbooks were old", 3)


def test_participants_are_those_paged_those_with_a_role_and_the_incident_participants(
        crisis, personas):
    review = crisis.review
    submit_feedback(review, personas["commander"], "", "", 5, 5)  # declared it
    submit_feedback(review, personas["responder"], "", "", 5, 5)  # was paged
    assign_role(crisis, personas["commander"], "communications_lead", personas["viewer"])
    submit_feedback(review, personas["viewer"], "", "", 3, 3)  # holds a role
    assert TeamFeedback.objects.count() == 3


def test_someone_who_did_not_take_part_is_refused(crisis, personas):
    with pytest.raises(PermissionDenied):
        submit_feedback(crisis.review, personas["admin"], "", "", 3, 3)
    assert not TeamFeedback.objects.exists()


@pytest.mark.parametrize(("plan", "tools"), [(0, 3), (6, 3), (3, -1), (3, "4"), (True, 3),
                                             (3, 4.5)])
def test_ratings_are_whole_numbers_from_1_to_5(crisis, personas, plan, tools):
    with pytest.raises(ReviewError):
        submit_feedback(crisis.review, personas["responder"], "", "", plan, tools)
    assert not TeamFeedback.objects.exists()
