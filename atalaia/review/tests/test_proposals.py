"""A review proposes a plan change; an admin accepts it and it becomes the next active
plan version, linked to the review; incidents under the old version keep it."""

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from atalaia.incidents.actions import declare_incident
from atalaia.plans.actions import active_plan
from atalaia.review import proposals
from atalaia.review.models import Review
from conftest import signed_in


@pytest.fixture
def review(demo, personas):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    return Review.objects.create(incident=incident, opened_at=timezone.now())


def test_an_accepted_proposal_becomes_the_next_plan_version(review, personas):
    old = active_plan()
    source = old.source.replace("update_every_minutes: 15", "update_every_minutes: 10")
    proposal = proposals.propose(review, personas["commander"], source,
                                 "Critical users asked to hear from us more often")
    assert ("-", "-    update_every_minutes: 15") in proposals.diff(proposal)
    with pytest.raises(PermissionDenied, match="only an admin"):
        proposals.decide(proposal, personas["commander"], True)
    proposal = proposals.decide(proposal, personas["admin"], True)
    new = active_plan()
    assert new.number == old.number + 1 and proposal.plan_version == new
    assert "review of incident" in new.note and new.plan["levels"]["critical"][
        "update_every_minutes"] == 10
    review.incident.refresh_from_db()
    assert review.incident.plan_version == old  # incidents keep the version they began with
    page = signed_in(personas["viewer"]).get(f"/plan/v{new.number}/").content.decode()
    assert "the review&#x27;s proposal" in page or "the review's proposal" in page


def test_a_proposal_must_be_a_valid_plan_with_a_reason(review, personas):
    with pytest.raises(proposals.ProposalError, match="say why"):
        proposals.propose(review, personas["commander"], active_plan().source, " ")
    with pytest.raises(proposals.ProposalError, match="unknown key"):
        proposals.propose(review, personas["commander"], "schema_version: 1\nnme: x\n", "typo")


def test_the_console_shows_the_difference_and_lets_an_admin_accept(review, personas):
    console = signed_in(personas["commander"])
    source = active_plan().source.replace("update_every_minutes: 60", "update_every_minutes: 45")
    made = console.post(f"/review/{review.incident_id}/plan/", {"source": source,
                                                                 "reason": "quicker"})
    assert made.status_code == 302
    page = console.get(made["Location"]).content.decode()
    assert "update_every_minutes: 45" in page
    admin = signed_in(personas["admin"])
    assert admin.post(made["Location"] + "decide/", {"decision": "accept"}).status_code == 302
    assert active_plan().plan["levels"]["localized"]["update_every_minutes"] == 45
