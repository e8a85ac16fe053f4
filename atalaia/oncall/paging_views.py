"""Console pages for paging: the acknowledgement link, the incident's paging
actions, who is on call now, and escalation policies."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from atalaia.accounts import throttle
from atalaia.accounts.models import User
from atalaia.accounts.permissions import can, require
from atalaia.catalog.models import Team
from atalaia.incidents.views import _incident
from atalaia.oncall import feeds, paging, policies, rules
from atalaia.oncall.forms import PolicyForm
from atalaia.oncall.models import Escalation, EscalationPolicy, Page, PageStatus, Urgency
from atalaia.oncall.schedules import on_call_now, shifts


@never_cache
def page_ack(request, token: str):
    """The link in a page notification. Opening it only shows what it would do (mail
    scanners open links); the button on that page acknowledges, once."""
    taken = throttle.link_opened(request, token)
    if not taken:
        return throttle.too_many(render(request, "oncall/ack.html", {
            "problem": throttle.wait_text(taken)}), taken)
    try:
        page = paging.page_from_token(token)
    except paging.PagingError as exc:
        return render(request, "oncall/ack.html", {"problem": str(exc)}, status=400)
    done = []
    if request.method == "POST":
        done = paging.acknowledge(page, None, "link")
        page.refresh_from_db()
    return render(request, "oncall/ack.html", {
        "page": page, "incident": page.incident, "done": done,
        "posted": request.method == "POST"})


def _page(request, page_id: int) -> Page:
    page = get_object_or_404(Page.objects.select_related("incident", "user"), pk=page_id)
    _incident(request, page.incident_id)  # 404 when the incident is hidden from this user
    return page


def _back(incident_id: int) -> HttpResponseRedirect:
    return redirect("incidents:room", incident_id)


@login_required
@require_POST
def page_acknowledge(request, page_id: int):
    page = _page(request, page_id)
    if page.user_id != request.user.pk:
        require(request.user, "incident.respond")
    if not paging.acknowledge(page, request.user, "console"):
        messages.info(request, _("That page was not waiting for an acknowledgement."))
    return _back(page.incident_id)


@login_required
@require_POST
def page_reassign(request, page_id: int):
    require(request.user, "incident.respond")
    page = _page(request, page_id)
    to = User.objects.filter(username=request.POST.get("username", ""), is_active=True).first()
    try:
        if to is None:
            raise paging.PagingError(_("Choose an active person to hand the page to."))
        paging.reassign(page, to, request.user)
    except paging.PagingError as exc:
        messages.error(request, str(exc))
    return _back(page.incident_id)


@login_required
@require_POST
def escalate(request, escalation_id: int):
    require(request.user, "incident.respond")
    escalation = get_object_or_404(Escalation, pk=escalation_id)
    _incident(request, escalation.incident_id)
    try:
        paging.escalate_now(escalation, request.user)
    except paging.PagingError as exc:
        messages.error(request, str(exc))
    return _back(escalation.incident_id)


@login_required
@require_POST
def add_responders(request, incident_id: int):
    require(request.user, "incident.respond")
    incident = _incident(request, incident_id)
    kind, name = request.POST.get("kind", ""), request.POST.get("name", "").strip()
    try:
        if kind not in policies.KINDS or not name:
            raise paging.PagingError(_("Choose a person, a schedule or a team."))
        paging.add_responders(incident, request.user, kind, name,
                              request.POST.get("urgency", Urgency.HIGH))
        messages.success(request, _("Paged."))
    except paging.PagingError as exc:
        messages.error(request, str(exc))
    return _back(incident.pk)


@login_required
def activate(request, incident_id: int):
    """GET shows who the plan's teams for the incident's level would page; POST pages them."""
    require(request.user, "incident.respond")
    incident = _incident(request, incident_id)
    if request.method == "POST":
        started = paging.activate(incident, request.user, "activated by hand")
        messages.success(request, _("Protocol activated: %(n)s escalation(s) started.")
                         % {"n": len(started)})
        return _back(incident.pk)
    preview = paging.plan_for(incident)
    rows = [(item, [(t, paging.reachable(t.user)) for t in item.first.targets]
             if item.first else []) for item in preview]
    return render(request, "oncall/activate.html", {
        "incident": incident, "rows": rows,
        "startable": any(not i.running and not i.problem for i in preview)})


@login_required
def now(request):
    """Who is on call now, and next, for every schedule; who each team's policy pages first."""
    require(request.user, "view")
    at = timezone.now()
    rows = []
    for schedule in feeds.with_rows():
        upcoming = shifts(schedule, at, at + timedelta(days=14))
        current = on_call_now(schedule, at)
        ends = upcoming[0].ends_at if upcoming and upcoming[0].starts_at <= at else None
        following = next((s for s in upcoming if s.starts_at > at), None)
        rows.append({"schedule": schedule, "user": current, "until": ends,
                     "next": following and User.objects.filter(pk=following.user_id).first(),
                     "next_at": following and following.starts_at})
    teams = []
    for team in Team.objects.prefetch_related("members", "escalation_policies"):
        policy = team.escalation_policies.order_by("name").first()
        snapshot = policies.snapshot(policy) if policy else policies.team_snapshot(team)
        teams.append({"team": team, "policy": policy,
                      "first": paging.level_people(snapshot["levels"][0], at)})
    return render(request, "oncall/now.html", {"rows": rows, "teams": teams})


@login_required
def my_pages(request):
    require(request.user, "view")
    return render(request, "oncall/my_pages.html", {
        "pages": Page.objects.filter(user=request.user).select_related("incident")
        .order_by("-created_at")[:100],
        "open": PageStatus.TRIGGERED})


@login_required
@require_POST
def rule_add(request):
    require(request.user, "view")
    try:
        rules.add_rule(request.user, request.POST.get("urgency", ""),
                       request.POST.get("method", ""), request.POST.get("delay_minutes", ""))
    except rules.RuleError as exc:
        messages.error(request, str(exc))
    return redirect("contact")


@login_required
@require_POST
def rule_delete(request, rule_id: int):
    require(request.user, "view")
    request.user.notification_rules.filter(pk=rule_id).delete()
    return redirect("contact")


# -- escalation policies -----------------------------------------------------------------

@login_required
def policy_list(request):
    require(request.user, "view")
    rows = [(p, policies.current_names(p.levels)) for p in
            EscalationPolicy.objects.select_related("team")]
    return render(request, "oncall/policies.html", {
        "rows": rows, "can_manage": can(request.user, "oncall.manage")})


@login_required
def policy_edit(request, policy_id: int | None = None):
    require(request.user, "oncall.manage")
    policy = get_object_or_404(EscalationPolicy, pk=policy_id) if policy_id else None
    form = PolicyForm(request.POST or None, policy=policy)
    if request.method == "POST" and form.is_valid():
        try:
            policy = policies.save_policy(policy, form.cleaned_data, request.user)
        except policies.PolicyError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, _("Saved: version %(v)s.") % {"v": policy.version})
            return redirect("oncall:policies")
    return render(request, "oncall/policy_form.html", {"form": form, "policy": policy})


@login_required
@require_POST
def policy_delete(request, policy_id: int):
    require(request.user, "oncall.manage")
    policy = get_object_or_404(EscalationPolicy, pk=policy_id)
    if policy.escalations.filter(status__in=paging.RUNNING).exists():
        raise PermissionDenied(_("This policy drives a running escalation; stop it first."))
    policies.delete_policy(policy, request.user)
    messages.success(request, _("Deleted."))
    return redirect("oncall:policies")
