"""Console pages of the review (timings, feedback, action items) and the public page
where a user says how satisfied they were, through the signed link of the closing message."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count, F
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from atalaia.accounts import throttle
from atalaia.accounts.permissions import can, require
from atalaia.comms.actions import late_updates
from atalaia.incidents.models import Incident, Phase, PublicStatus
from atalaia.incidents.views import _incident
from atalaia.incidents.visibility import visible_incidents
from atalaia.review import actions, timings
from atalaia.review.forms import ActionItemForm, FeedbackForm, SatisfactionForm
from atalaia.review.models import ActionItem, Review, TeamFeedback, UserFeedback


def duration(seconds: float | None, signed: bool = False) -> str:
    """A span for people: '45 s', '12 min', '1 h 05 min', '2 d 3 h'."""
    if seconds is None:
        return "—"
    sign = ("+" if seconds > 0 else "−" if seconds < 0 else "") if signed else ""
    d, rest = divmod(round(abs(seconds)), 86_400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{sign}{d} d {h} h"
    if h:
        return f"{sign}{h} h {m:02d} min"
    if m:
        return f"{sign}{m} min" + (f" {s} s" if s else "")
    return f"{sign}{s} s"


def timing_rows(incident: Incident) -> list[dict]:
    return [{"timing": t, "duration": duration(t.seconds),
             "target": duration(t.target_seconds), "gap": duration(t.gap, signed=True)}
            for t in timings.for_incident(incident)]


def feedback_summary(review: Review) -> dict:
    """The team's answers with their average ratings."""
    answers = list(review.team_feedback.select_related("user").order_by("created_at", "pk"))
    count = len(answers)
    return {"answers": answers, "count": count,
            "plan": sum(a.plan_rating for a in answers) / count if count else None,
            "tools": sum(a.tools_rating for a in answers) / count if count else None}


def satisfaction_summary(incident: Incident) -> dict:
    """Users' answers through the closing message's link: average, count, comments."""
    rows = UserFeedback.objects.filter(incident=incident)
    figures = rows.aggregate(average=Avg("rating"), count=Count("pk"))
    comments = list(rows.exclude(comment="").order_by("-created_at")
                    .values("rating", "comment", "created_at")[:50])
    return {**figures, "comments": comments}


@login_required
def review_page(request, incident_id: int):
    require(request.user, "view")
    incident = _incident(request, incident_id)
    review = Review.objects.filter(incident=incident).select_related("completed_by").first()
    context: dict[str, object] = {
        "incident": incident, "review": review, "timings": timing_rows(incident),
        "may_edit": can(request.user, "incident.respond"),
        "satisfaction": satisfaction_summary(incident),
        "late_updates": late_updates(incident),
        "checklist": incident.checklist.filter(phase=Phase.REVIEW).select_related("done_by")}
    if review is not None:
        review.incident = incident
        items = list(review.action_items.select_related("owner"))
        context.update({
            "feedback": feedback_summary(review),
            "participant": actions.is_participant(incident, request.user),
            "items": [(item, actions.is_overdue(item)) for item in items],
            "item_form": ActionItemForm(),
            "blocking": [] if review.completed_at else actions.blocking(review)})
    return render(request, "review/page.html", context)


def _review(request, incident_id: int) -> Review:
    incident = _incident(request, incident_id)
    return get_object_or_404(Review.objects.select_related("incident"), incident=incident)


@login_required
@require_POST
def review_open(request, incident_id: int):
    """For an incident resolved before reviews opened by themselves."""
    require(request.user, "incident.respond")
    incident = _incident(request, incident_id)
    if incident.public_status != PublicStatus.RESOLVED:
        messages.error(request, _("The review opens once the incident is resolved."))
    else:
        actions.open_review(incident, request.user)
    return redirect("review:page", incident.pk)


@login_required
def feedback(request, incident_id: int):
    require(request.user, "view")
    review = _review(request, incident_id)
    if not actions.is_participant(review.incident, request.user):
        raise PermissionDenied(_("Only the people who took part in the incident give "
                                 "feedback on it."))
    mine = TeamFeedback.objects.filter(review=review, user=request.user).first()
    initial = ({"worked": mine.worked, "did_not": mine.did_not, "plan_rating": mine.plan_rating,
                "tools_rating": mine.tools_rating} if mine else None)
    form = FeedbackForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.submit_feedback(review, request.user, **form.cleaned_data)
        except actions.ReviewError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Thank you: your feedback is saved."))
            return redirect("review:page", review.incident_id)
    return render(request, "review/feedback.html", {
        "incident": review.incident, "review": review, "form": form, "mine": mine})


@login_required
@require_POST
def action_item_add(request, incident_id: int):
    require(request.user, "incident.respond")
    review = _review(request, incident_id)
    form = ActionItemForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(str(e) for errors in form.errors.values()
                                          for e in errors))
        return redirect("review:page", review.incident_id)
    try:
        actions.add_action_item(review, request.user, **form.cleaned_data)
    except actions.ReviewError as exc:
        messages.error(request, str(exc))
    return redirect("review:page", review.incident_id)


@login_required
@require_POST
def action_item_done(request, item_id: int):
    item = get_object_or_404(ActionItem.objects.select_related("review"), pk=item_id)
    _incident(request, item.review.incident_id)  # 404 when the incident is hidden
    if item.owner_id != request.user.pk:
        require(request.user, "incident.respond")
    actions.complete_action_item(item, request.user)
    if request.POST.get("back") == "list":
        return redirect("review:action_items")
    return redirect("review:page", item.review.incident_id)


@login_required
@require_POST
def review_complete(request, incident_id: int):
    require(request.user, "incident.respond")
    review = _review(request, incident_id)
    try:
        actions.complete_review(review, request.user, request.POST.get("note", ""))
    except (actions.ReviewNotReady, actions.ReviewError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The review is complete and the incident is closed."))
    return redirect("review:page", review.incident_id)


@login_required
def action_items(request):
    """Every open action item of the incidents this user may see, overdue first."""
    require(request.user, "view")
    items = list(actions.open_items().filter(
        review__incident__in=visible_incidents(request.user).values("pk"))
        .order_by(F("due_on").asc(nulls_last=True), "pk")[:500])
    today = timezone.localdate()
    return render(request, "review/action_items.html", {
        "rows": [(item, item.due_on is not None and item.due_on < today) for item in items],
        "may_edit": can(request.user, "incident.respond")})


# -- public: no account ------------------------------------------------------------------

@never_cache
def satisfaction(request, token: str):
    """Opening the link only shows the question (mail scanners open links); the
    form's POST answers, once per recipient."""
    taken = throttle.link_opened(request, token)
    if not taken:
        return throttle.too_many(render(request, "review/satisfaction.html", {
            "problem": throttle.wait_text(taken)}), taken)
    try:
        incident, digest = actions.read_token(token)
    except actions.ReviewError as exc:
        return render(request, "review/satisfaction.html", {"problem": str(exc)}, status=400)
    answered = actions.has_answered(incident, digest)
    form = SatisfactionForm(request.POST or None)
    status, done = 200, False
    if request.method == "POST":
        if answered:
            status = 409
        elif form.is_valid():
            try:
                actions.record_user_feedback(token, **form.cleaned_data)
                done = True
            except actions.AlreadyAnswered:
                answered, status = True, 409
            except actions.ReviewError as exc:
                form.add_error(None, str(exc))
        else:
            status = 400
    return render(request, "review/satisfaction.html", {
        "title": "" if incident.confidential else incident.title, "form": form,
        "answered": answered, "done": done}, status=status)
