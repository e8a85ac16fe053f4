"""Phase 5, the post-crisis review: opening and completing it, the team's feedback,
users' satisfaction through a signed link, and action items. Views, API and the
incident's own actions all call these (docs/review.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from atalaia.accounts.models import User
from atalaia.incidents.actions import IncidentError, append_entry, move_stage
from atalaia.incidents.lifecycle import IllegalMove
from atalaia.incidents.models import (
    ChecklistItem,
    EntryKind,
    Incident,
    IncidentRole,
    Phase,
    Stage,
)
from atalaia.lib.crypto import sha256_hex
from atalaia.review.models import ActionItem, Review, TeamFeedback, UserFeedback

SATISFACTION_SALT = "atalaia.review.satisfaction"
SATISFACTION_LINK_DAYS = 30
MAX_TEXT = 5_000
MAX_TITLE = 300


class ReviewError(IncidentError):
    """Input a review action cannot accept; the message says what is wrong."""


class AlreadyAnswered(ReviewError):
    """This recipient has already said how satisfied they were."""


class ReviewNotReady(IllegalMove):
    """The review cannot be completed yet; the message says what is missing."""


# -- opening and completing -------------------------------------------------------------

@transaction.atomic
def open_review(incident: Incident, actor: User | None) -> Review:
    """The review of a resolved incident. Idempotent: a reopened incident resolved
    again keeps its one review."""
    incident = Incident.objects.select_for_update(of=("self",)).get(pk=incident.pk)
    review, created = Review.objects.get_or_create(incident=incident,
                                                   defaults={"opened_at": timezone.now()})
    if created:
        append_entry(incident, EntryKind.REVIEW, actor, {"event": "opened"})
        if incident.fix_is_temporary:
            add_permanent_fix_item(review, incident, actor)
    return review


def add_permanent_fix_item(review: Review, incident: Incident, actor: User | None) -> None:
    """The fix in place is temporary: an action item for the permanent one, owned by the
    technical lead when someone holds the role."""
    if review.action_items.filter(permanent_fix=True, done_at__isnull=True).exists():
        return
    lead = incident.roles.filter(role=IncidentRole.TECHNICAL_LEAD).first()
    add_action_item(review, actor, "Replace the temporary fix with a permanent one",
                    lead.user if lead else None, None, permanent_fix=True)


def blocking(review: Review, note: str = "") -> list[str]:
    """What stands between the review and its completion (empty: it may complete)."""
    incident = review.incident
    reasons = []
    if incident.stage != Stage.REVIEW:
        reasons.append(_("the incident is in the %(stage)s stage: its commander moves it to "
                         "review first") % {"stage": incident.get_stage_display()})
    open_items = ChecklistItem.objects.filter(incident=incident, phase=Phase.REVIEW,
                                              done_at__isnull=True).count()
    if open_items:
        reasons.append(ngettext("%(n)s item of the review checklist is not ticked",
                                "%(n)s items of the review checklist are not ticked",
                                open_items) % {"n": open_items})
    if not note.strip() and not review.team_feedback.exists():
        reasons.append(_("no one from the team has given feedback: collect some, or say in "
                         "a note why there is none"))
    return reasons


@transaction.atomic
def complete_review(review: Review, actor: User, note: str = "") -> Review:
    """Complete the review and close the incident: the review checklist is ticked, and
    the team gave feedback or the note says why it did not."""
    review = Review.objects.select_for_update(of=("self",)).select_related("incident").get(
        pk=review.pk)
    if review.completed_at is not None:
        raise ReviewNotReady(_("the review is already completed"))
    if len(note) > MAX_TEXT:
        raise ReviewError(_("the note is longer than %(n)s characters") % {"n": MAX_TEXT})
    reasons = blocking(review, note)
    if reasons:
        raise ReviewNotReady("; ".join(reasons))
    review.completed_at, review.completed_by = timezone.now(), actor
    review.save(update_fields=["completed_at", "completed_by"])
    append_entry(review.incident, EntryKind.REVIEW, actor, {
        "event": "completed", "note": note.strip(),
        "feedback": review.team_feedback.count(),
        "action_items": review.action_items.filter(done_at__isnull=True).count()})
    # Saved first: the stage rules let an incident close only once its review is completed.
    move_stage(review.incident, actor, Stage.CLOSED, note.strip())
    return review


# -- the team's feedback ----------------------------------------------------------------

def participants(incident: Incident) -> QuerySet[User]:
    """Who took part: the incident's participants, whoever was paged, the role holders."""
    return User.objects.filter(
        Q(incidents=incident) | Q(pages__incident=incident)
        | Q(roleassignment__incident=incident)).distinct()


def is_participant(incident: Incident, user: User) -> bool:
    return participants(incident).filter(pk=user.pk).exists()


def _rating(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ReviewError(_("%(what)s is a whole number from 1 to 5") % {"what": what})
    return value


def _text(value: str | None, what: str) -> str:
    value = (value or "").strip()
    if len(value) > MAX_TEXT:
        raise ReviewError(_("%(what)s is longer than %(n)s characters")
                          % {"what": what, "n": MAX_TEXT})
    return value


@transaction.atomic
def submit_feedback(review: Review, user: User, worked: str, did_not: str,
                    plan_rating: int, tools_rating: int) -> TeamFeedback:
    """A participant's answer; giving it again replaces the earlier one."""
    if not is_participant(review.incident, user):
        raise PermissionDenied(_("only the people who took part in the incident give "
                                 "feedback on it"))
    if Review.objects.filter(pk=review.pk, completed_at__isnull=False).exists():
        raise ReviewError(_("the review is completed: feedback is closed"))
    feedback, _created = TeamFeedback.objects.update_or_create(
        review=review, user=user, defaults={
            "worked": _text(worked, _("what worked")),
            "did_not": _text(did_not, _("what did not work")),
            "plan_rating": _rating(plan_rating, _("the plan's rating")),
            "tools_rating": _rating(tools_rating, _("the tools' rating"))})
    return feedback


# -- users' satisfaction ---------------------------------------------------------------

def recipient_digest(recipient: str) -> str:
    return sha256_hex(recipient.strip().lower())


def satisfaction_token(incident: Incident, recipient: str) -> str:
    return signing.dumps({"i": incident.pk, "r": recipient_digest(recipient)},
                         salt=SATISFACTION_SALT, compress=True)


def satisfaction_url(incident: Incident, recipient: str) -> str:
    """The link in the closing message: no account needed, one answer per recipient."""
    path = reverse("review_satisfaction", args=[satisfaction_token(incident, recipient)])
    return settings.SITE_URL.rstrip("/") + path


def read_token(token: str) -> tuple[Incident, str]:
    """The incident and the recipient's digest a link stands for; ReviewError if the
    link was altered, forged or has expired."""
    try:
        data = signing.loads(token, salt=SATISFACTION_SALT,
                             max_age=timedelta(days=SATISFACTION_LINK_DAYS))
    except signing.SignatureExpired:
        raise ReviewError(_("This link has expired.")) from None
    except signing.BadSignature:
        raise ReviewError(_("This link is not valid.")) from None
    incident = Incident.objects.filter(pk=data.get("i")).first()
    digest = data.get("r")
    if incident is None or not isinstance(digest, str) or len(digest) != 64:
        raise ReviewError(_("This link is not valid."))
    return incident, digest


@transaction.atomic
def record_user_feedback(token: str, rating: int, comment: str = "") -> UserFeedback:
    incident, digest = read_token(token)
    rating, comment = _rating(rating, _("the rating")), _text(comment, _("the comment"))
    if UserFeedback.objects.filter(incident=incident, recipient=digest).exists():
        raise AlreadyAnswered(_("You have already answered. Thank you!"))
    try:
        with transaction.atomic():
            return UserFeedback.objects.create(incident=incident, recipient=digest,
                                               rating=rating, comment=comment)
    except IntegrityError:  # the same link posted twice at once
        raise AlreadyAnswered(_("You have already answered. Thank you!")) from None


def has_answered(incident: Incident, digest: str) -> bool:
    return UserFeedback.objects.filter(incident=incident, recipient=digest).exists()


# -- action items ----------------------------------------------------------------------

@transaction.atomic
def add_action_item(review: Review, actor: User | None, title: str, owner: User | None,
                    due_on: date | None, permanent_fix: bool = False) -> ActionItem:
    title = (title or "").strip()
    if not title:
        raise ReviewError(_("an action item needs a title"))
    if len(title) > MAX_TITLE:
        raise ReviewError(_("the title is longer than %(n)s characters") % {"n": MAX_TITLE})
    if owner is not None and not owner.is_active:
        raise ReviewError(_("the owner's account is disabled"))
    if due_on is not None and (isinstance(due_on, datetime) or not isinstance(due_on, date)):
        raise ReviewError(_("the due date is a date, without a time"))
    item = ActionItem.objects.create(review=review, title=title, owner=owner, due_on=due_on,
                                     permanent_fix=permanent_fix)
    append_entry(review.incident, EntryKind.REVIEW, actor, {
        "event": "action_item", "item": item.pk, "title": title,
        "owner": owner.username if owner else None,
        "due_on": due_on.isoformat() if due_on else None, "permanent_fix": permanent_fix})
    return item


@transaction.atomic
def complete_action_item(item: ActionItem, actor: User) -> bool:
    """Mark an item done; False when it already was."""
    item = ActionItem.objects.select_for_update(of=("self",)).select_related(
        "review__incident").get(pk=item.pk)
    if item.done_at is not None:
        return False
    item.done_at = timezone.now()
    item.save(update_fields=["done_at"])
    append_entry(item.review.incident, EntryKind.REVIEW, actor, {
        "event": "action_item_done", "item": item.pk, "title": item.title})
    return True


def open_items() -> QuerySet[ActionItem]:
    return ActionItem.objects.filter(done_at__isnull=True).select_related(
        "owner", "review__incident")


def overdue_items(now: datetime | None = None) -> QuerySet[ActionItem]:
    """Open items whose due date has passed (in the instance's time zone)."""
    today = timezone.localdate(now or timezone.now())
    return open_items().filter(due_on__lt=today).order_by("due_on", "pk")


def is_overdue(item: ActionItem, now: datetime | None = None) -> bool:
    today = timezone.localdate(now or timezone.now())
    return item.done_at is None and item.due_on is not None and item.due_on < today
