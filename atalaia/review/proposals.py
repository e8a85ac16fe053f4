"""Plan improvement: a review proposes a new version of the crisis plan (the YAML,
edited in the console and checked like any plan); an admin reads the difference with
the active version and accepts it, and it becomes the next plan version, linked to
the review that caused it. Incidents under the old version keep theirs."""

from __future__ import annotations

import difflib

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from atalaia.accounts.models import AccountRole, User
from atalaia.incidents.actions import append_entry
from atalaia.incidents.models import EntryKind
from atalaia.lib.yamldoc import DocumentError
from atalaia.plans.actions import active_plan, import_plan, validate_plan
from atalaia.review.models import PlanProposal, ProposalStatus, Review


class ProposalError(ValueError):
    """A proposal that cannot be made or decided; the message says why."""


@transaction.atomic
def propose(review: Review, actor: User, source: str, reason: str) -> PlanProposal:
    reason = (reason or "").strip()
    if not reason:
        raise ProposalError("say why the plan should change")
    try:
        validate_plan(source)
    except DocumentError as exc:
        raise ProposalError("; ".join(exc.problems)) from None
    proposal = PlanProposal.objects.create(review=review, source=source, reason=reason[:5000],
                                           created_by=actor)
    append_entry(review.incident, EntryKind.REVIEW, actor,
                 {"text": f"proposed a plan change: {reason}", "proposal": proposal.pk})
    return proposal


def diff(proposal: PlanProposal) -> list[tuple[str, str]]:
    """The proposal against the active plan: (kind, line), kind in ' +-@'."""
    current = active_plan()
    old = current.source if current else ""
    lines = difflib.unified_diff(old.splitlines(), proposal.source.splitlines(),
                                 f"v{current.number}" if current else "none", "proposal",
                                 lineterm="", n=3)
    return [(line[:1] if line[:1] in "+-@" else " ", line) for line in lines]


@transaction.atomic
def decide(proposal: PlanProposal, actor: User, accept: bool) -> PlanProposal:
    proposal = PlanProposal.objects.select_for_update().select_related(
        "review__incident").get(pk=proposal.pk)
    if actor.role != AccountRole.ADMIN:
        raise PermissionDenied("only an admin accepts a change to the plan")
    if proposal.status != ProposalStatus.OPEN:
        raise ProposalError(f"the proposal is already {proposal.get_status_display().lower()}")
    if accept:
        try:
            proposal.plan_version = import_plan(
                proposal.source, actor, activate=True,
                note=f"review of incident #{proposal.review.incident_id}: {proposal.reason}")
        except DocumentError as exc:  # the catalog changed since it was proposed
            raise ProposalError("; ".join(exc.problems)) from None
    proposal.status = ProposalStatus.ACCEPTED if accept else ProposalStatus.DECLINED
    proposal.decided_by, proposal.decided_at = actor, timezone.now()
    proposal.save()
    append_entry(proposal.review.incident, EntryKind.REVIEW, actor, {
        "text": (f"plan v{proposal.plan_version.number} accepted from this review"
                 if accept and proposal.plan_version else "plan change declined"),
        "proposal": proposal.pk})
    return proposal
