import json
import time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts.models import User
from atalaia.accounts.permissions import can, require
from atalaia.catalog.graphsvg import GraphUnavailable, render_svg
from atalaia.catalog.impact import compromised_slugs, current_graph, with_paths
from atalaia.catalog.models import Service
from atalaia.incidents import actions, events, gate, live
from atalaia.incidents.models import (
    ChecklistItem,
    Incident,
    IncidentRole,
    Level,
    Phase,
    PublicStatus,
    Stage,
)
from atalaia.incidents.visibility import visible_incidents
from atalaia.plans.schema import level_name


def _incident(request, incident_id: int) -> Incident:
    incident = visible_incidents(request.user).select_related("plan_version").filter(
        pk=incident_id).first()
    if incident is None:
        raise Http404("no such incident")
    return incident


@login_required
def incident_list(request):
    require(request.user, "view")
    incidents = visible_incidents(request.user).prefetch_related("services")
    filters = {k: request.GET.get(k, "") for k in ("level", "phase", "status")}
    if filters["level"]:
        incidents = incidents.filter(level=filters["level"])
    if filters["phase"]:
        incidents = incidents.filter(stage=filters["phase"])
    if filters["status"]:
        incidents = incidents.filter(public_status=filters["status"])
    return render(request, "incidents/list.html", {
        "incidents": incidents.order_by("-declared_at", "-id")[:200], "filters": filters,
        "levels": Level.choices, "stages": Stage.choices, "statuses": PublicStatus.choices,
        "can_declare": can(request.user, "incident.declare")})


class DeclareForm(forms.Form):
    title = forms.CharField(max_length=200)
    services = forms.MultipleChoiceField(choices=())
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    security_risk = forms.BooleanField(required=False)
    security_reason = forms.CharField(max_length=2000, required=False)
    confidential = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].choices = Service.objects.values_list("slug", "name")

    def clean(self):
        data = super().clean()
        if data.get("security_risk") and not data.get("security_reason", "").strip():
            self.add_error("security_reason", _("Say why there is a security risk."))
        return data


@login_required
def declare(request):
    require(request.user, "incident.declare")
    form = DeclareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = actions.declare_incident(
                request.user, data["title"], data["services"], summary=data["summary"],
                security_risk=data["security_risk"], security_reason=data["security_reason"],
                confidential=data["confidential"])
        except actions.IncidentError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("incidents:room", incident_id=incident.pk)
    return render(request, "incidents/declare.html", {"form": form})


def entry_view(entry) -> dict:
    return {"seq": entry.seq, "kind": entry.kind, "kind_label": entry.get_kind_display(),
            "author": entry.author_name, "created_at": entry.created_at, "body": entry.body}


@login_required
def room(request, incident_id: int):
    require(request.user, "view")
    incident = _incident(request, incident_id)
    plan = incident.plan_version.plan if incident.plan_version else None
    impact = incident.impact
    entries = [entry_view(e) for e in incident.entries.order_by("-seq")]
    try:
        graph = render_svg(current_graph(), affected=set(impact.get("affected", [])),
                           compromised=set(compromised_slugs(impact)),
                           focus=set(impact.get("affected", [])))
    except GraphUnavailable:
        graph = None
    checklist = list(incident.checklist.select_related("done_by"))
    lang = get_language() or "en"
    return render(request, "incidents/room.html", {
        "incident": incident, "entries": entries, "impact": impact,
        "impact_services": with_paths(impact), "graph": graph,
        "level_label": level_name(plan, incident.level, lang),
        "plan_level_label": level_name(plan, incident.plan_level, lang),
        "phases": _phases(incident), "checklist": _checklist(checklist),
        "roles": {r.role: r.user for r in incident.roles.select_related("user")},
        "role_choices": IncidentRole.choices, "levels": Level.choices,
        "stages": Stage.choices, "statuses": PublicStatus.choices,
        "services": Service.objects.values_list("slug", "name"),
        "affected": set(incident.services.values_list("slug", flat=True)),
        "users": User.objects.filter(is_active=True).order_by("username"),
        "may": {cap: can(request.user, "incident." + cap)
                for cap in ("command", "respond", "communicate", "note")},
        "portuguese": lang.lower().startswith("pt"),
        "gate": gate.evaluate(incident) if incident.stage == Stage.RESOLUTION else None,
        "gate_may": gate.may(incident, request.user) if incident.stage == Stage.RESOLUTION
        else None,
        # The phases' panels (signals and changes, pages, communication, remote runs),
        # registered by each phase: incidents knows none of them.
        **events.room_panels(incident, request.user),
    })


def _phases(incident: Incident) -> list[dict]:
    windows = {w.phase: w for w in incident.phases.all()}
    return [{"key": key, "label": label, "window": windows.get(key)}
            for key, label in Phase.choices]


def _checklist(items: list[ChecklistItem]) -> list[dict]:
    groups = []
    for key, label in Phase.choices:
        group = [i for i in items if i.phase == key]
        if group:
            groups.append({"label": label, "items": group})
    return groups


class EntryForm(forms.Form):
    kind = forms.ChoiceField(choices=[(k, k) for k in actions.USER_ENTRY_KINDS])
    text = forms.CharField(max_length=20_000)
    outcome = forms.ChoiceField(choices=[("", "")] + [(o, o) for o in actions.OUTCOMES],
                                required=False)


def _do_entry(request, incident):
    form = EntryForm(request.POST)
    if not form.is_valid():
        raise actions.IncidentError(_flatten(form))
    require(request.user, "incident.note" if form.cleaned_data["kind"] == "note"
            else "incident.respond")
    d = form.cleaned_data
    actions.add_entry(incident, request.user, d["kind"], d["text"], d["outcome"])


def _do_stage(request, incident):
    actions.move_stage(incident, request.user, request.POST.get("stage", ""),
                       request.POST.get("note", ""))


def _do_status(request, incident):
    actions.set_public_status(incident, request.user, request.POST.get("status", ""),
                              request.POST.get("message", ""))


def _do_level(request, incident):
    actions.override_level(incident, request.user, request.POST.get("level", ""),
                           request.POST.get("reason", ""))


def _do_role(request, incident):
    holder = User.objects.filter(pk=request.POST.get("user") or 0, is_active=True).first()
    if holder is None:
        raise actions.IncidentError(_("choose a person"))
    actions.assign_role(incident, request.user, request.POST.get("role", ""), holder)


def _do_eta(request, incident):
    field = forms.DateTimeField(required=False)
    try:
        eta = field.clean(request.POST.get("eta", ""))
    except forms.ValidationError:
        raise actions.IncidentError(_("the ETA is not a valid date and time")) from None
    if eta is not None and timezone.is_naive(eta):
        eta = timezone.make_aware(eta)
    actions.set_eta(incident, request.user, eta)


def _do_services(request, incident):
    actions.set_affected_services(incident, request.user, request.POST.getlist("services"))


def _do_security(request, incident):
    actions.set_security_risk(incident, request.user, bool(request.POST.get("security_risk")),
                              request.POST.get("reason", ""))


def _do_visibility(request, incident):
    actions.set_visibility(incident, request.user, bool(request.POST.get("confidential")))


def _do_check(request, incident):
    item = get_object_or_404(ChecklistItem, pk=request.POST.get("item") or 0, incident=incident)
    actions.tick_checklist(item, request.user, request.POST.get("done") == "1")


def _do_resolution(request, incident):
    actions.set_resolution(incident, request.user, request.POST.get("root_cause", ""),
                           request.POST.get("permanent_fix", ""),
                           temporary=bool(request.POST.get("temporary")))


# action name -> (capability checked before anything, handler)
def _gate_action(do):
    """Gate actions check who may do them themselves (team, incident role, admin)."""
    def handler(request, incident):
        try:
            do(request, incident)
        except gate.GateError as exc:
            raise actions.IncidentError(str(exc)) from None
    return handler


def _do_gate_tick(request, incident):
    check = incident.verification_checks.filter(pk=request.POST.get("check") or 0).first()
    if check is None:
        raise gate.GateError(_("No such check."))
    gate.tick(check, request.user)


ACTIONS = {
    "entry": ("incident.note", _do_entry),
    "stage": ("incident.command", _do_stage),
    "status": ("incident.communicate", _do_status),
    "level": ("incident.command", _do_level),
    "role": ("incident.command", _do_role),
    "eta": ("incident.command", _do_eta),
    "services": ("incident.respond", _do_services),
    "security": ("incident.respond", _do_security),
    "visibility": ("incident.command", _do_visibility),
    "check": ("incident.respond", _do_check),
    "resolution": ("incident.respond", _do_resolution),
    "gate_tick": ("view", _gate_action(_do_gate_tick)),
    "gate_signoff": ("view", _gate_action(lambda r, i: gate.sign_off(i, r.user))),
    "gate_force": ("view", _gate_action(lambda r, i: gate.force(i, r.user,
                                                                 r.POST.get("reason", "")))),
}


@login_required
@require_POST
def act(request, incident_id: int, action: str):
    if action not in ACTIONS:
        raise Http404("unknown action")
    capability, handler = ACTIONS[action]
    require(request.user, capability)
    incident = _incident(request, incident_id)
    try:
        handler(request, incident)
    except (actions.IncidentError, actions.IllegalMove) as exc:
        messages.error(request, str(exc))
    return redirect("incidents:room", incident_id=incident.pk)


def _flatten(form: forms.Form) -> str:
    return "; ".join(f"{field}: {' '.join(str(e) for e in errors)}"
                     for field, errors in form.errors.items())


@login_required
def live_stream(request, incident_id: int):
    """Server-Sent Events: each new timeline entry as rendered HTML, resumable by seq."""
    require(request.user, "view")
    incident = _incident(request, incident_id)
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    after = int(raw) if raw.isdigit() else 0
    language = get_language()
    live.release_connection()
    response = StreamingHttpResponse(_events(incident.pk, after, language),
                                     content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _events(incident_id: int, after: int, language: str):
    from django.utils import translation

    live.hub.subscribe(incident_id)
    try:
        yield "retry: 1000\n\n"
        deadline = time.monotonic() + settings.LIVE_STREAM_SECONDS
        while time.monotonic() < deadline:
            with translation.override(language):
                for entry in live.entries_after(incident_id, after):
                    html = render_to_string("incidents/_entry.html", {"e": entry_view(entry)})
                    yield f"id: {entry.seq}\nevent: entry\ndata: {json.dumps(html)}\n\n"
                    after = entry.seq
            count = live.hub.wait(incident_id, after, timeout=15)
            if count <= after:
                yield ": keep-alive\n\n"
    finally:
        live.hub.unsubscribe(incident_id)


