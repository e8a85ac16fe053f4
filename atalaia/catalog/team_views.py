"""Teams and their members in the console: anyone sees them, admins change them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts.models import User
from atalaia.accounts.permissions import can, require
from atalaia.catalog.actions import add_team_member, remove_team_member
from atalaia.catalog.models import Team


@login_required
def teams(request):
    require(request.user, "view")
    return render(request, "catalog/teams.html", {
        "teams": Team.objects.prefetch_related("members"),
        "people": User.objects.filter(is_active=True).order_by("username"),
        "can_edit": can(request.user, "catalog.edit")})


@login_required
@require_POST
def team_members(request, slug: str):
    require(request.user, "catalog.edit")
    team = get_object_or_404(Team, slug=slug)
    username = request.POST.get("add") or request.POST.get("remove") or ""
    person = User.objects.filter(username=username).first()
    if person is None:
        messages.error(request, _("There is no user %(name)s.") % {"name": username})
    elif "add" in request.POST:
        add_team_member(team, person, request.user)
        messages.success(request, _("%(name)s is now in %(team)s.")
                         % {"name": person.username, "team": team.name})
    else:
        remove_team_member(team, person, request.user)
        messages.success(request, _("%(name)s is no longer in %(team)s.")
                         % {"name": person.username, "team": team.name})
    return redirect("teams")
