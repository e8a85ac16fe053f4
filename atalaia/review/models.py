"""The post-crisis review: how the plan and the tools worked (timings against the
plan's targets), feedback from the team and from users, action items, the post-mortem
document, and proposals that become the next version of the crisis plan."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Review(models.Model):
    """Opens when the incident is resolved; the incident closes only once it is completed."""

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE,
                                    related_name="review")
    opened_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    contributing_factors = models.TextField(blank=True)
    # The post-mortem as edited in the console (Markdown); generated when empty.
    document = models.TextField(blank=True)
    document_updated_at = models.DateTimeField(null=True, blank=True)
    # A public version on the tracking page (Statuspage's "postmortem" status).
    public_document = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"review of #{self.incident_id}"


class ActionItem(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="action_items")
    due_on = models.DateField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # Made for the permanent fix when the fix recorded was temporary.
    permanent_fix = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["done_at", "due_on", "pk"]


class TeamFeedback(models.Model):
    """One participant's answer: what worked, what did not, the plan and the tools 1–5."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="team_feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    worked = models.TextField(blank=True)
    did_not = models.TextField(blank=True)
    plan_rating = models.PositiveSmallIntegerField()
    tools_rating = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "user"],
                                               name="one_feedback_per_participant")]


class UserFeedback(models.Model):
    """A user's satisfaction with how the crisis was handled: one answer per recipient
    of the closing message, through a signed link that needs no account."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE,
                                 related_name="user_feedback")
    recipient = models.CharField(max_length=64)  # sha256 of who received the closing message
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "recipient"],
                                               name="one_answer_per_recipient")]


class ProposalStatus(models.TextChoices):
    OPEN = "open", _("Proposed")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")


class PlanProposal(models.Model):
    """A change to the crisis plan proposed by a review; accepted by an admin, it
    becomes the next plan version, linked to the review that caused it."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="proposals")
    source = models.TextField()
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=ProposalStatus.choices,
                              default=ProposalStatus.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    plan_version = models.ForeignKey("plans.PlanVersion", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="proposals")
