"""Console pages for plan proposals: write one from a review, read its difference
with the active plan, accept or decline it (admins)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts.permissions import require
from atalaia.incidents.visibility import visible_incidents
from atalaia.plans.actions import active_plan
from atalaia.review import proposals
from atalaia.review.models import PlanProposal, Review


def _review(request, incident_id: int) -> Review:
    review = Review.objects.filter(incident_id=incident_id).select_related("incident").first()
    if review is None or not visible_incidents(request.user).filter(pk=incident_id).exists():
        raise Http404("no review for this incident")
    return review


@login_required
def propose(request, incident_id: int):
    require(request.user, "incident.respond")
    review = _review(request, incident_id)
    current = active_plan()
    source = request.POST.get("source") or (current.source if current else "")
    if request.method == "POST":
        try:
            proposal = proposals.propose(review, request.user, source,
                                         request.POST.get("reason", ""))
        except proposals.ProposalError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("review_proposal", proposal.pk)
    return render(request, "review/propose.html", {"review": review, "source": source,
                                                   "reason": request.POST.get("reason", "")})


@login_required
def proposal(request, proposal_id: int):
    require(request.user, "view")
    found = get_object_or_404(PlanProposal.objects.select_related("review__incident"),
                              pk=proposal_id)
    _review(request, found.review.incident_id)
    return render(request, "review/proposal.html", {"proposal": found,
                                                    "lines": proposals.diff(found)})


@login_required
@require_POST
def decide(request, proposal_id: int):
    require(request.user, "plan.edit")
    found = get_object_or_404(PlanProposal, pk=proposal_id)
    _review(request, found.review.incident_id)
    try:
        proposals.decide(found, request.user, request.POST.get("decision") == "accept")
    except proposals.ProposalError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect("review_proposal", found.pk)
