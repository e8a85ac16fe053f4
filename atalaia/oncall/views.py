from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from atalaia.accounts.models import User
from atalaia.accounts.permissions import can, require
from atalaia.monitoring.forms import zone_names
from atalaia.oncall import actions, feeds
from atalaia.oncall.forms import (
    LayerForm,
    OverrideForm,
    ScheduleForm,
    local,
    restrictions_text,
    wall,
)
from atalaia.oncall.models import Layer, Override, Schedule
from atalaia.oncall.schedules import OVERRIDE, on_call_now, shifts

SHOWN_DAYS = 14


@dataclass
class Row:
    starts_at: datetime  # wall-clock time in the schedule's zone
    ends_at: datetime
    user: User | None
    source: str
    hours: float


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


@login_required
def schedule_list(request):
    require(request.user, "view")
    now = timezone.now()
    schedules = [(s, on_call_now(s, now)) for s in feeds.with_rows()]
    return render(request, "oncall/list.html", {
        "schedules": schedules, "can_manage": can(request.user, "oncall.manage")})


def _rows(schedule: Schedule, start: datetime, end: datetime) -> list[Row]:
    """The final shifts with the gaps where nobody is on call, in local time."""
    zone = ZoneInfo(schedule.time_zone)
    found = shifts(schedule, start, end)
    users = {u.pk: u for u in User.objects.filter(pk__in={s.user_id for s in found})}
    rows, cursor = [], start
    for shift in [*found, None]:
        upto = shift.starts_at if shift else end
        if cursor < upto:
            rows.append(Row(wall(cursor, zone), wall(upto, zone), None, "",
                            (upto - cursor) / timedelta(hours=1)))
        if shift:
            rows.append(Row(wall(shift.starts_at, zone), wall(shift.ends_at, zone),
                            users.get(shift.user_id), shift.source,
                            (shift.ends_at - shift.starts_at) / timedelta(hours=1)))
            cursor = shift.ends_at
    return rows


@login_required
def schedule_detail(request, schedule_id: int):
    require(request.user, "view")
    schedule = get_object_or_404(feeds.with_rows(), pk=schedule_id)
    zone = ZoneInfo(schedule.time_zone)
    now = timezone.now()
    can_manage = can(request.user, "oncall.manage")
    layers = [(layer, restrictions_text(layer.restrictions), local(layer.rotation_start, zone))
              for layer in schedule.layers.all()]
    overrides = [(o, local(o.starts_at, zone), local(o.ends_at, zone))
                 for o in schedule.overrides.all() if o.ends_at > now]
    return render(request, "oncall/detail.html", {
        "schedule": schedule, "rows": _rows(schedule, now, now + timedelta(days=SHOWN_DAYS)),
        "on_call": on_call_now(schedule, now), "layers": layers, "overrides": overrides,
        "override_source": OVERRIDE, "can_manage": can_manage, "days": SHOWN_DAYS,
        "schedule_feed": _site(reverse("oncall:schedule_feed", args=[
            schedule.pk, feeds.schedule_token(schedule)])) if can_manage else "",
        "person_feed": _site(reverse("oncall:person_feed", args=[
            request.user.pk, feeds.person_token(request.user)]))})


@login_required
def schedule_new(request):
    require(request.user, "oncall.manage")
    return _schedule_form(request, None)


@login_required
def schedule_edit(request, schedule_id: int):
    require(request.user, "oncall.manage")
    return _schedule_form(request, get_object_or_404(Schedule, pk=schedule_id))


def _schedule_form(request, schedule: Schedule | None):
    if request.method != "POST":
        initial = {"name": schedule.name, "description": schedule.description,
                   "time_zone": schedule.time_zone} if schedule else None
        form = ScheduleForm(initial=initial, schedule=schedule)
    else:
        form = ScheduleForm(request.POST, schedule=schedule)
        if form.is_valid():
            schedule = actions.save_schedule(schedule, form.cleaned_data, request.user)
            messages.success(request, _("Schedule saved."))
            return redirect("oncall:detail", schedule.pk)
    return render(request, "oncall/schedule_form.html", {
        "form": form, "schedule": schedule, "zones": sorted(zone_names())})


@login_required
@require_POST
def schedule_delete(request, schedule_id: int):
    require(request.user, "oncall.manage")
    actions.delete_schedule(get_object_or_404(Schedule, pk=schedule_id), request.user)
    messages.success(request, _("Schedule deleted."))
    return redirect("oncall:list")


@login_required
@require_POST
def schedule_feed_reset(request, schedule_id: int):
    require(request.user, "oncall.manage")
    actions.reset_schedule_feed(get_object_or_404(Schedule, pk=schedule_id), request.user)
    messages.success(request, _("The schedule's feed has a new URL; the old one no longer "
                                "works."))
    return redirect("oncall:detail", schedule_id)


@login_required
@require_POST
def person_feed_reset(request):
    require(request.user, "view")
    actions.reset_person_feed(request.user)
    messages.success(request, _("Your shifts feed has a new URL; the old one no longer works."))
    back = request.POST.get("schedule", "")
    return redirect("oncall:detail", int(back)) if back.isdigit() else redirect("oncall:list")


@login_required
def layer_new(request, schedule_id: int):
    require(request.user, "oncall.manage")
    return _layer_form(request, get_object_or_404(Schedule, pk=schedule_id), None)


@login_required
def layer_edit(request, schedule_id: int, layer_id: int):
    require(request.user, "oncall.manage")
    layer = get_object_or_404(Layer, pk=layer_id, schedule_id=schedule_id)
    return _layer_form(request, layer.schedule, layer)


def _layer_form(request, schedule: Schedule, layer: Layer | None):
    if request.method != "POST":
        form = LayerForm.for_layer(schedule, layer) if layer else LayerForm(schedule=schedule)
    else:
        form = LayerForm(request.POST, schedule=schedule)
        if form.is_valid():
            data = form.cleaned_data
            actions.save_layer(schedule, layer, data, data["members"], request.user)
            messages.success(request, _("Layer saved."))
            return redirect("oncall:detail", schedule.pk)
    return render(request, "oncall/layer_form.html", {
        "form": form, "schedule": schedule, "layer": layer})


@login_required
@require_POST
def layer_delete(request, schedule_id: int, layer_id: int):
    require(request.user, "oncall.manage")
    layer = get_object_or_404(Layer.objects.select_related("schedule"), pk=layer_id,
                              schedule_id=schedule_id)
    actions.delete_layer(layer, request.user)
    messages.success(request, _("Layer deleted."))
    return redirect("oncall:detail", schedule_id)


@login_required
def override_new(request, schedule_id: int):
    require(request.user, "oncall.manage")
    schedule = get_object_or_404(Schedule, pk=schedule_id)
    if request.method != "POST":
        form = OverrideForm(schedule=schedule)
    else:
        form = OverrideForm(request.POST, schedule=schedule)
        if form.is_valid():
            data = form.cleaned_data
            actions.add_override(schedule, data["username"], data["starts_at"],
                                 data["ends_at"], data["note"], request.user)
            messages.success(request, _("Override added."))
            return redirect("oncall:detail", schedule.pk)
    return render(request, "oncall/override_form.html", {"form": form, "schedule": schedule})


@login_required
@require_POST
def override_delete(request, schedule_id: int, override_id: int):
    require(request.user, "oncall.manage")
    override = get_object_or_404(Override.objects.select_related("schedule", "user"),
                                 pk=override_id, schedule_id=schedule_id)
    actions.delete_override(override, request.user)
    messages.success(request, _("Override deleted."))
    return redirect("oncall:detail", schedule_id)


def _ics(body: bytes) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response


@require_GET
def schedule_feed(request, schedule_id: int, token: str):
    schedule = feeds.with_rows().filter(pk=schedule_id).first()
    if schedule is None or not feeds.schedule_token_matches(schedule, token):
        raise Http404
    return _ics(feeds.schedule_calendar(schedule, timezone.now()))


@require_GET
def person_feed(request, user_id: int, token: str):
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not feeds.person_token_matches(user, token):
        raise Http404
    return _ics(feeds.person_calendar(user, timezone.now()))
