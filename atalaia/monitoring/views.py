import asyncio
import json
import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, Q, Value, When
from django.http import HttpResponse, HttpResponseNotFound
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from atalaia.accounts import limits, throttle
from atalaia.accounts.actions import audit
from atalaia.accounts.permissions import can, require
from atalaia.catalog.models import Service
from atalaia.lib.clientaddress import client_address
from atalaia.monitoring import actions, config, summary
from atalaia.monitoring.checks import DOWN, CheckResult, run_check
from atalaia.monitoring.forms import WEEKDAYS, MonitorForm, WindowForm, config_text, zone_names
from atalaia.monitoring.heartbeats import ping
from atalaia.monitoring.models import (
    CheckRecord,
    MaintenanceWindow,
    Monitor,
    MonitorKind,
    MonitorState,
)

# Pings with a key of no heartbeat monitor, per client address (the one rate limiter).
UNKNOWN_PINGS = limits.Rule("ping.unknown_key", capacity=30, per_seconds=60)


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def heartbeat(request, key, action: str = "success", exit_code: int | None = None):
    """GET|POST /ping/<uuid>, /ping/<uuid>/start, /ping/<uuid>/fail, /ping/<uuid>/<exit-code>."""
    if exit_code is not None and exit_code > 255:
        return HttpResponse("exit code must be 0-255\n", status=400, content_type="text/plain")
    monitor = ping(key, action, exit_code)
    if monitor is None:
        # Only unknown keys spend: a good ping costs nothing more, a guesser is slowed.
        taken = limits.take(UNKNOWN_PINGS, client_address(request.META))
        if not taken:
            return throttle.too_many(HttpResponse(throttle.wait_text(taken) + "\n",
                                                  content_type="text/plain"), taken)
        return HttpResponseNotFound("no heartbeat monitor with this key\n",
                                    content_type="text/plain")
    return HttpResponse("OK\n", content_type="text/plain")


# -- console: monitors and maintenance windows ----------------------------------------

PAGE_SIZE = 50
# Longest a "Test now" may hold a web thread, whatever the monitor's own timeout.
TEST_TIMEOUT_CAP = 30.0
STATE_FILTERS = ("up", "degraded", "down", "unknown", "paused", "flapping")
SORTS = ("service", "state", "name", "checked")
# Worst first when sorting by state.
STATE_RANK = Case(When(paused=True, then=Value(4)), When(state=MonitorState.DOWN, then=Value(0)),
                  When(state=MonitorState.DEGRADED, then=Value(1)),
                  When(state=MonitorState.UNKNOWN, then=Value(2)), default=Value(3))


@dataclass
class Row:
    monitor: Monitor
    state: str
    target: str
    ping_url: str
    windows: dict[str, summary.Totals]
    spark: summary.Sparkline


@dataclass
class TestOutcome:
    result: CheckResult | None
    refusal: str = ""


def _state(monitor: Monitor) -> str:
    return MonitorState.PAUSED if monitor.paused else monitor.state


def _ping_url(monitor: Monitor) -> str:
    if monitor.kind != MonitorKind.HEARTBEAT:
        return ""
    return settings.SITE_URL.rstrip("/") + reverse("monitoring:ping", args=[monitor.ping_key])


def _filtered(monitors, filters: dict[str, str]):
    state = filters["state"]
    if state == "paused":
        monitors = monitors.filter(paused=True)
    elif state == "flapping":
        monitors = monitors.filter(flapping=True)
    elif state in STATE_FILTERS:
        monitors = monitors.filter(state=state, paused=False)
    if filters["service"]:
        monitors = monitors.filter(service__slug=filters["service"])
    if filters["q"]:
        monitors = monitors.filter(name__icontains=filters["q"])
    order = {"state": (STATE_RANK, "service__slug", "name"), "name": ("name", "pk"),
             "checked": (F("last_checked_at").desc(nulls_last=True), "pk")}
    return monitors.order_by(*order.get(filters["sort"], ("service__slug", "name", "pk")))


def _rows(monitors: list[Monitor]) -> list[Row]:
    overviews = summary.overviews([m.pk for m in monitors])
    return [Row(m, _state(m), summary.target(m), _ping_url(m), overviews[m.pk].windows,
                summary.sparkline(overviews[m.pk].hours)) for m in monitors]


def _counts() -> dict[str, int]:
    """How many monitors are in each state (paused ones apart), in one query."""
    active = Q(paused=False)
    # The "n_" prefix: an aggregate may not share a name with a field.
    counts = Monitor.objects.aggregate(
        n_total=Count("pk"), n_paused=Count("pk", filter=Q(paused=True)),
        n_flapping=Count("pk", filter=Q(flapping=True)),
        **{f"n_{s}": Count("pk", filter=active & Q(state=s))
           for s in ("up", "degraded", "down", "unknown")})
    return {name.removeprefix("n_"): value for name, value in counts.items()}


@login_required
def monitor_list(request):
    require(request.user, "view")
    filters = {k: request.GET.get(k, "").strip() for k in ("state", "service", "sort", "q")}
    if filters["sort"] not in SORTS:
        filters["sort"] = "service"
    monitors = _filtered(Monitor.objects.select_related("service"), filters)
    page = Paginator(monitors, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = _counts()
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "monitoring/list.html", {
        "rows": _rows(list(page.object_list)), "page": page, "filters": filters,
        "query": query.urlencode(), "counts": counts,
        "states": [(s, MonitorState(s).label) for s in ("up", "degraded", "down", "unknown",
                                                        "paused")],
        "services": Service.objects.filter(monitors__isnull=False).distinct()
        .values_list("slug", "name"),
        "can_manage": can(request.user, "monitors.manage")})


@login_required
def monitor_detail(request, monitor_id: int):
    require(request.user, "view")
    monitor = get_object_or_404(Monitor.objects.select_related("service"), pk=monitor_id)
    overview = summary.overviews([monitor.pk], (7, 30))[monitor.pk]
    can_manage = can(request.user, "monitors.manage")
    shown = monitor.config if can_manage else summary.redacted(monitor.config)
    return render(request, "monitoring/detail.html", {
        "monitor": monitor, "state": _state(monitor), "target": summary.target(monitor),
        "ping_url": _ping_url(monitor), "windows": overview.windows,
        "spark": summary.sparkline(overview.hours, width=480, height=60),
        "config": config_text(shown), "probes": monitor.probes.order_by("location"),
        "changes": monitor.changes.all()[:50],
        "results": CheckRecord.objects.filter(monitor=monitor).order_by("-checked_at")[:50],
        "baseline": _facts(monitor.baseline), "anomaly": _facts(monitor.anomaly),
        "can_manage": can_manage, "now": timezone.now()})


def _facts(values: dict) -> list[tuple[str, str]]:
    """A baseline or anomaly dict as (key, text) pairs, whatever its keys."""
    if not isinstance(values, dict):
        return []
    return [(str(key), value if isinstance(value, str) else json.dumps(value))
            for key, value in values.items()]


@login_required
def monitor_new(request):
    require(request.user, "monitors.manage")
    return _monitor_form(request, None)


@login_required
def monitor_edit(request, monitor_id: int):
    require(request.user, "monitors.manage")
    monitor = get_object_or_404(Monitor.objects.select_related("service"), pk=monitor_id)
    return _monitor_form(request, monitor)


def _monitor_form(request, monitor: Monitor | None):
    outcome = None
    if request.method != "POST":
        form = MonitorForm.for_monitor(monitor) if monitor else \
            MonitorForm(initial={"service": request.GET.get("service", "")})
    else:
        form = MonitorForm(request.POST)
        valid = form.is_valid()
        if "test" in request.POST:
            outcome = _test_from_form(form, request.user)
        elif valid:
            fields = {name: form.cleaned_data[name] for name in actions.EDITABLE}
            if monitor is None:
                monitor = actions.create_monitor(fields, request.user)
                messages.success(request, _("Monitor created."))
            else:
                actions.update_monitor(monitor, fields, request.user)
                messages.success(request, _("Monitor saved."))
            return redirect("monitoring:detail", monitor_id=monitor.pk)
    return render(request, "monitoring/form.html", {
        "form": form, "monitor": monitor, "outcome": outcome,
        "ping_url": _ping_url(monitor) if monitor else "",
        "kinds": [(kind, label, config.keys(kind), config.REQUIRED.get(kind, []))
                  for kind, label in MonitorKind.choices],
        "test_cap": int(TEST_TIMEOUT_CAP)})


def _test_from_form(form: MonitorForm, user) -> TestOutcome | None:
    """Run the check the form describes, once, without saving anything; None while
    the kind, config or timeout is wrong (the form shows why)."""
    data = form.cleaned_data
    if data.get("kind") == MonitorKind.HEARTBEAT:
        return TestOutcome(None, _("Heartbeat monitors cannot be tested: they are checked "
                                   "by the pings your job sends to their URL."))
    if any(name in form.errors or name not in data
           for name in ("kind", "config", "timeout_seconds")):
        return None
    timeout = min(data["timeout_seconds"], TEST_TIMEOUT_CAP)
    try:
        check = config.build(data["kind"], data["config"], timeout)
    except (TypeError, ValueError) as exc:
        return TestOutcome(None, str(exc))
    audit(user, "monitor.test", "monitor", data.get("name") or data["kind"],
          {"kind": data["kind"], "target": summary.target(Monitor(kind=data["kind"],
                                                                  config=data["config"]))})
    return TestOutcome(asyncio.run(_bounded_check(check, timeout)))


async def _bounded_check(check, timeout: float) -> CheckResult:
    try:
        # Every check bounds itself; this bounds the web thread should one not.
        return await asyncio.wait_for(run_check(check), timeout + 1)
    except TimeoutError:
        return CheckResult(DOWN, None, f"timed out after {timeout:g} s")


@login_required
def monitor_delete(request, monitor_id: int):
    require(request.user, "monitors.manage")
    monitor = get_object_or_404(Monitor.objects.select_related("service"), pk=monitor_id)
    if request.method == "POST":
        actions.delete_monitor(monitor, request.user)
        messages.success(request, _("Monitor deleted."))
        return redirect("monitoring:list")
    return render(request, "monitoring/confirm_delete.html", {
        "object": monitor, "cancel": reverse("monitoring:detail", args=[monitor.pk]),
        "question": _("Delete the monitor “%(name)s” of %(service)s, with its history?")
        % {"name": monitor.name, "service": monitor.service.name}})


@login_required
@require_POST
def monitor_pause(request, monitor_id: int, paused: bool):
    require(request.user, "monitors.manage")
    monitor = get_object_or_404(Monitor.objects.select_related("service"), pk=monitor_id)
    actions.set_paused(monitor, paused, request.user)
    messages.success(request, _("Monitor paused.") if paused else _("Monitor resumed."))
    return redirect("monitoring:detail", monitor_id=monitor.pk)


# -- maintenance windows ---------------------------------------------------------------

@dataclass
class WindowRow:
    window: MaintenanceWindow
    local_start: datetime
    weekdays: list[str]
    local_until: datetime | None
    duration: str


def _window_row(window: MaintenanceWindow) -> WindowRow:
    try:
        zone = zoneinfo.ZoneInfo(window.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    names = dict(WEEKDAYS)
    return WindowRow(window, window.starts_at.astimezone(zone),
                     [str(names[d]) for d in window.weekdays if d in names],
                     window.until.astimezone(zone) if window.until else None,
                     _duration(window.duration_minutes))


def _duration(minutes: int) -> str:
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [_("%(count)d d") % {"count": days} if days else "",
             _("%(count)d h") % {"count": hours} if hours else "",
             _("%(count)d min") % {"count": minutes} if minutes else ""]
    return " ".join(part for part in parts if part)


@login_required
def maintenance_list(request):
    require(request.user, "view")
    windows = MaintenanceWindow.objects.prefetch_related("services").order_by("-starts_at", "pk")
    page = Paginator(windows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "monitoring/maintenance.html", {
        "rows": [_window_row(w) for w in page.object_list], "page": page,
        "can_manage": can(request.user, "monitors.manage")})


@login_required
def maintenance_new(request):
    require(request.user, "monitors.manage")
    return _window_form(request, None)


@login_required
def maintenance_edit(request, window_id: int):
    require(request.user, "monitors.manage")
    return _window_form(request, get_object_or_404(MaintenanceWindow, pk=window_id))


def _window_form(request, window: MaintenanceWindow | None):
    if request.method != "POST":
        form = WindowForm.for_window(window) if window else WindowForm()
    else:
        form = WindowForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            services = list(data["services"])
            if window is None:
                actions.create_window(data, services, request.user)
                messages.success(request, _("Maintenance window created."))
            else:
                actions.update_window(window, data, services, request.user)
                messages.success(request, _("Maintenance window saved."))
            return redirect("monitoring:maintenance")
    return render(request, "monitoring/maintenance_form.html", {
        "form": form, "window": window, "zones": sorted(zone_names())})


@login_required
def maintenance_delete(request, window_id: int):
    require(request.user, "monitors.manage")
    window = get_object_or_404(MaintenanceWindow, pk=window_id)
    if request.method == "POST":
        actions.delete_window(window, request.user)
        messages.success(request, _("Maintenance window deleted."))
        return redirect("monitoring:maintenance")
    return render(request, "monitoring/confirm_delete.html", {
        "object": window, "cancel": reverse("monitoring:maintenance"),
        "question": _("Delete the maintenance window “%(title)s”?") % {"title": window.title}})
