"""Console pages for remote access: hosts and credentials (admins), runbooks, runs
from the incident room with approval of changes, and each run's output and replay."""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts.actions import audit
from atalaia.accounts.models import AccountRole
from atalaia.accounts.permissions import can, require
from atalaia.accounts.twofactor import SESSION_KEY
from atalaia.catalog.models import Service
from atalaia.incidents.views import _incident
from atalaia.lib.crypto import encrypt
from atalaia.lib.yamldoc import LimitError
from atalaia.remote import actions, runbooks
from atalaia.remote.models import Credential, Host, Run, Runbook, RunHost, RunStatus


def _back(run_or_incident_id: int):
    return redirect("incidents:room", run_or_incident_id)


# -- hosts and credentials (admins) ----------------------------------------------------

@login_required
def hosts(request):
    require(request.user, "remote.manage")
    if request.method == "POST":
        try:
            _save_host(request.POST)
        except ValueError as exc:
            messages.error(request, str(exc))
        return redirect("remote:hosts")
    return render(request, "remote/hosts.html", {
        "hosts": Host.objects.select_related("service", "credential", "jump"),
        "credentials": Credential.objects.all(), "services": Service.objects.all(),
        "roles": AccountRole.choices})


def _save_host(post) -> Host:
    service = Service.objects.filter(slug=post.get("service", "")).first()
    name, address = post.get("name", "").strip(), post.get("address", "").strip()
    username = post.get("username", "").strip()
    if service is None or not name or not address or not username:
        raise ValueError(_("A host needs its service, a name, an address and a user."))
    try:
        port = int(post.get("port") or 22)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(_("The port is 1 to 65535."))
    return Host.objects.create(
        service=service, name=name[:200], address=address[:255], port=port,
        username=username[:100],
        credential=Credential.objects.filter(pk=post.get("credential") or 0).first(),
        jump=Host.objects.filter(pk=post.get("jump") or 0).first())


@login_required
@require_POST
def trust(request, host_id: int):
    """Fetch the host's key once and pin it: from then on a different key is refused."""
    require(request.user, "remote.manage")
    from atalaia.remote import ssh

    host = get_object_or_404(Host, pk=host_id)
    try:
        key, fingerprint = asyncio.run(ssh.fetch_host_key(host.address, host.port))
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is said, not raised
        messages.error(request, _("Could not read the host key: %(error)s") % {"error": exc})
        return redirect("remote:hosts")
    host.host_key, host.host_key_fingerprint = key, fingerprint
    host.trusted_at, host.trusted_by = timezone.now(), request.user
    host.save(update_fields=["host_key", "host_key_fingerprint", "trusted_at", "trusted_by"])
    audit(request.user, "host.trust", "host", str(host), {"fingerprint": fingerprint})
    messages.success(request, _("Trusted %(host)s: %(fp)s") % {"host": host, "fp": fingerprint})
    return redirect("remote:hosts")


@login_required
@require_POST
def credential_add(request):
    require(request.user, "remote.manage")
    post = request.POST
    name, key = post.get("name", "").strip(), post.get("private_key", "").strip()
    agent = post.get("agent_path", "").strip()
    roles = [r for r in post.getlist("roles") if r in AccountRole.values]
    try:
        fingerprint = _fingerprint(key, post.get("passphrase", "")) if key else ""
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("remote:hosts")
    if not name or not (key or agent) or Credential.objects.filter(name=name).exists():
        messages.error(request, _("A credential needs a new name and a private key or an "
                                  "agent socket."))
        return redirect("remote:hosts")
    credential = Credential.objects.create(
        name=name[:100], private_key=encrypt(key) if key else "",
        passphrase=encrypt(post["passphrase"]) if post.get("passphrase") else "",
        agent_path=agent[:500], public_fingerprint=fingerprint, allowed_roles=roles)
    audit(request.user, "credential.create", "credential", credential.name, {"roles": roles})
    return redirect("remote:hosts")


def _fingerprint(key: str, passphrase: str) -> str:
    import asyncssh

    try:
        private = asyncssh.import_private_key(key, passphrase or None)
    except (asyncssh.KeyImportError, ValueError):
        raise ValueError(_("Not a private key Atalaia can read (or a wrong passphrase).")) \
            from None
    return private.get_fingerprint("sha256")


# -- runbooks --------------------------------------------------------------------------

@login_required
def runbook_list(request):
    require(request.user, "view")
    if request.method == "POST":
        require(request.user, "runbooks.edit")
        try:
            saved = runbooks.import_runbooks(request.POST.get("source", ""), request.user)
        except runbooks.DocumentError as exc:
            return render(request, "remote/runbooks.html", {
                "runbooks": Runbook.objects.all(), "problems": exc.problems,
                "source": request.POST.get("source", ""), "can_edit": True},
                status=413 if isinstance(exc, LimitError) else 200)
        messages.success(request, _("Imported: %(names)s") % {
            "names": ", ".join(f"{r.slug} v{r.version}" for r in saved)})
        return redirect("remote:runbooks")
    return render(request, "remote/runbooks.html", {
        "runbooks": Runbook.objects.select_related("service"),
        "can_edit": can(request.user, "runbooks.edit")})


# -- runs ------------------------------------------------------------------------------

def _values(text: str) -> dict[str, str]:
    values = {}
    for line in (text or "").splitlines():
        if line.strip():
            name, _sep, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@login_required
@require_POST
def run_request(request, incident_id: int):
    incident = _incident(request, incident_id)
    post = request.POST
    hosts = [int(h) for h in post.getlist("hosts") if h.isdigit()] or None
    try:
        if post.get("adhoc"):
            actions.request_adhoc(incident, request.user, post.get("adhoc", ""), hosts)
        else:
            slug, _sep, step = post.get("step", "").partition("::")
            runbook = Runbook.objects.filter(slug=slug).first()
            if runbook is None:
                raise actions.RemoteError(_("Choose a runbook step."))
            actions.request_run(incident, request.user, runbook, step,
                                _values(post.get("params", "")), hosts)
    except actions.RemoteError as exc:
        messages.error(request, str(exc))
    return _back(incident.pk)


@login_required
@require_POST
def run_decide(request, run_id: int):
    run = get_object_or_404(Run, pk=run_id)
    _incident(request, run.incident_id)
    try:
        actions.decide(run, request.user, request.POST.get("decision") == "approve",
                       bool(request.session.get(SESSION_KEY)))
    except actions.RemoteError as exc:
        messages.error(request, str(exc))
    return _back(run.incident_id)


@login_required
@require_POST
def run_fix(request, run_id: int):
    run = get_object_or_404(Run, pk=run_id)
    _incident(request, run.incident_id)
    try:
        actions.mark_fix(run, request.user)
    except actions.RemoteError as exc:
        messages.error(request, str(exc))
    return _back(run.incident_id)


@login_required
@require_POST
def session_attach(request, incident_id: int):
    require(request.user, "incident.respond")
    incident = _incident(request, incident_id)
    try:
        actions.attach_session(incident, request.user, request.POST.get("tool", ""),
                               request.POST.get("url", ""), request.POST.get("summary", ""))
    except actions.RemoteError as exc:
        messages.error(request, str(exc))
    return _back(incident.pk)


@login_required
def run_detail(request, run_id: int):
    require(request.user, "view")
    run = get_object_or_404(Run.objects.select_related("runbook", "requested_by", "decided_by"),
                            pk=run_id)
    incident = _incident(request, run.incident_id)
    return render(request, "remote/run.html", {"run": run, "incident": incident,
                                               "rows": run.hosts.all()})


@login_required
def run_live(request, run_id: int):
    """The run's state and each host's output so far, for the run page's polling."""
    require(request.user, "view")
    run = get_object_or_404(Run, pk=run_id)
    _incident(request, run.incident_id)
    return JsonResponse({"status": run.status, "done": run.status not in (
        RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.AWAITING), "hosts": [
        {"id": h.pk, "name": h.host_name, "status": h.status, "exit": h.exit_status,
         "output": h.live or (h.stdout + h.stderr), "error": h.error}
        for h in run.hosts.all()]})


@login_required
def recording(request, run_id: int, row_id: int):
    """One host's terminal recording (asciicast v2), or its whole output."""
    require(request.user, "view")
    row = get_object_or_404(RunHost, pk=row_id, run_id=run_id)
    _incident(request, row.run.incident_id)
    if request.GET.get("full"):
        response = HttpResponse(bytes(row.full_output), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="run-{run_id}-{row_id}.txt"'
        return response
    response = HttpResponse(row.recording, content_type="application/x-asciicast")
    response["Content-Disposition"] = f'inline; filename="run-{run_id}-{row_id}.cast"'
    return response


def room_context(incident, user) -> dict:
    steps = [(f"{r.slug}::{s['name']}", f"{r.name} — {s['name']}", s)
             for r in Runbook.objects.all() for s in r.steps]
    return {"runs": incident.runs.select_related("requested_by")[:50], "steps": steps,
            "hosts": Host.objects.filter(service__in=incident.services.all()),
            "adhoc": user.role in settings.REMOTE_ADHOC_ROLES}
