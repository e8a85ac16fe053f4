"""Runs of runbook steps (and ad-hoc commands) from the incident room: request,
approval of changes, execution by the worker, and the record on the timeline.

A diagnostic step runs as soon as it is requested. A change waits for approval
by the incident's commander or another responder — never the person who asked —
signed in with two-factor authentication. The worker runs queued runs in a
thread beside its loop (so paging never waits behind SSH), holding a lease it
renews; a run whose lease ran out was interrupted, and is marked *outcome
unknown* and never retried: a change runs at most once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import close_old_connections, transaction
from django.utils import timezone

from atalaia.accounts.models import User
from atalaia.accounts.permissions import can
from atalaia.incidents.actions import IncidentError, append_entry
from atalaia.incidents.models import EntryKind, Incident, IncidentRole
from atalaia.lib.crypto import decrypt
from atalaia.remote import runbooks
from atalaia.remote.models import Host, Run, Runbook, RunHost, RunStatus, StepKind

log = logging.getLogger("atalaia.remote")
LEASE_SECONDS = 30
LIVE_FLUSH_SECONDS = 0.5
MAX_HOSTS = 500


class RemoteError(IncidentError):
    """A run that cannot be requested or decided; the message says why."""


def _hosts(incident: Incident, host_ids: Iterable[int] | None) -> list[Host]:
    """The chosen hosts, or every host of the incident's services."""
    hosts = Host.objects.select_related("credential")
    if host_ids:
        found = list(hosts.filter(pk__in=list(host_ids)))
    else:
        found = list(hosts.filter(service__in=incident.services.all()))
    if not found:
        raise RemoteError("no host to run on: add the service's hosts under Remote access")
    if len(found) > MAX_HOSTS:
        raise RemoteError(f"at most {MAX_HOSTS} hosts in one run")
    for host in found:
        if not host.host_key:
            raise RemoteError(f"{host.name}: trust its host key first (Remote access)")
    return found


def _check_credentials(actor: User, hosts: list[Host]) -> None:
    for host in hosts:
        credential = host.credential
        if credential is None:
            raise RemoteError(f"{host.name}: no credential")
        if actor.role not in credential.allowed_roles:
            raise PermissionDenied(f"your account role may not use the credential of "
                                   f"{host.name}")


@transaction.atomic
def request_run(incident: Incident, actor: User, runbook: Runbook, step_name: str,
                values: dict, host_ids: Iterable[int] | None = None,
                concurrency: int = 10) -> Run:
    if not can(actor, "incident.respond"):
        raise PermissionDenied("your account role may not run steps")
    step = _step(runbook, step_name)
    try:
        command, used = runbooks.render(step, values)
    except runbooks.ParamError as exc:
        raise RemoteError(str(exc)) from None
    hosts = _hosts(incident, host_ids)
    _check_credentials(actor, hosts)
    return _create(incident, actor, hosts, command, step["kind"], step["name"], used,
                   step["timeout"], concurrency, runbook)


def _step(runbook: Runbook, name: str) -> dict:
    try:
        return runbooks.find_step(runbook, name)
    except runbooks.ParamError as exc:
        raise RemoteError(str(exc)) from None


@transaction.atomic
def request_adhoc(incident: Incident, actor: User, command: str,
                  host_ids: Iterable[int] | None = None, timeout: int = 30) -> Run:
    """A command outside any runbook: only for the roles the admin allows, always a
    change that needs approval."""
    if actor.role not in settings.REMOTE_ADHOC_ROLES:
        raise PermissionDenied("your account role may not run ad-hoc commands")
    command = (command or "").strip()
    if not command or len(command) > 5000:
        raise RemoteError("an ad-hoc command is one to 5,000 characters")
    if not 1 <= timeout <= 3600:
        raise RemoteError("the timeout is 1 to 3600 seconds")
    hosts = _hosts(incident, host_ids)
    _check_credentials(actor, hosts)
    return _create(incident, actor, hosts, command, StepKind.CHANGE, "ad-hoc", {}, timeout, 10,
                   None)


def _create(incident, actor, hosts, command, kind, step_name, used, timeout, concurrency,
            runbook) -> Run:
    if not 1 <= concurrency <= 100:
        raise RemoteError("concurrency is 1 to 100")
    now = timezone.now()
    run = Run.objects.create(
        incident=incident, runbook=runbook, runbook_version=runbook.version if runbook else None,
        step=step_name, kind=kind, command=command, params=used, timeout=timeout,
        concurrency=concurrency, requested_by=actor, requested_at=now,
        status=RunStatus.QUEUED if kind == StepKind.DIAGNOSTIC else RunStatus.AWAITING)
    RunHost.objects.bulk_create([RunHost(run=run, host=h, host_name=str(h)) for h in hosts])
    append_entry(incident, EntryKind.ACTION, actor, {
        "text": f"requested {step_name}"
                + (f" ({runbook.slug} v{runbook.version})" if runbook else "")
                + f" on {len(hosts)} host(s): {command}",
        "run": run.pk, "kind": kind, "status": run.status})
    return run


@transaction.atomic
def decide(run: Run, actor: User, approve: bool, two_factor: bool) -> Run:
    """Approve or reject a change. `two_factor`: the actor's session passed TOTP."""
    run = Run.objects.select_for_update(of=("self",)).select_related("incident").get(pk=run.pk)
    if run.status != RunStatus.AWAITING:
        raise RemoteError(f"the run is {run.get_status_display().lower()}, not awaiting approval")
    if run.requested_by_id == actor.pk:
        raise RemoteError("someone else must approve a change you asked for")
    commander = run.incident.roles.filter(role=IncidentRole.COMMANDER, user=actor).exists()
    if not (commander or can(actor, "incident.respond")):
        raise PermissionDenied("only the incident's commander or a responder may decide")
    if not (two_factor and actor.totp_confirmed):
        raise RemoteError("approving a change needs a session signed in with two-factor "
                          "authentication")
    run.status = RunStatus.QUEUED if approve else RunStatus.REJECTED
    run.decided_by, run.decided_at = actor, timezone.now()
    run.save(update_fields=["status", "decided_by", "decided_at"])
    append_entry(run.incident, EntryKind.ACTION, actor, {
        "text": f"{'approved' if approve else 'rejected'} {run.step}: {run.command}",
        "run": run.pk, "approved": approve})
    return run


@transaction.atomic
def mark_fix(run: Run, actor: User) -> None:
    if not can(actor, "incident.command"):
        raise PermissionDenied("only a commander marks the fix")
    Run.objects.filter(pk=run.pk).update(is_fix=True)
    append_entry(run.incident, EntryKind.RESULT, actor, {
        "text": f"the fix: {run.step} ({run.command})", "run": run.pk, "outcome": "success"})


@transaction.atomic
def attach_session(incident: Incident, actor: User, tool: str, url: str, summary: str) -> None:
    """A session of an outside remote-access tool (ISL Online, TeamViewer, RustDesk…)."""
    tool, url, summary = (tool or "").strip(), (url or "").strip(), (summary or "").strip()
    if not tool or not summary:
        raise RemoteError("name the tool and say what was done")
    if url and not url.startswith(("https://", "http://")):
        raise RemoteError("the session link is an http(s) URL")
    append_entry(incident, EntryKind.ACTION, actor, {
        "text": f"remote session ({tool}): {summary}", "link": url[:1000], "tool": tool[:100]})


# -- the worker's side ---------------------------------------------------------------

def interrupted(now=None) -> int:
    """Runs whose worker died mid-way: their outcome is unknown; never retried."""
    now = now or timezone.now()
    count = 0
    for run in Run.objects.filter(status=RunStatus.RUNNING, lease_until__lt=now):
        with transaction.atomic():
            updated = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING,
                                         lease_until__lt=now).update(
                status=RunStatus.UNKNOWN, finished_at=now)
            if updated:
                RunHost.objects.filter(run=run, status__in=["queued", "running"]).update(
                    status="unknown", error="interrupted: the worker stopped mid-run")
                append_entry(run.incident, EntryKind.ATTEMPT, None, {
                    "text": f"{run.step}: outcome unknown (the run was interrupted; a change "
                            "is never run again by itself)", "run": run.pk,
                    "outcome": "unknown"})
                count += 1
    return count


def claim() -> Run | None:
    """Take one queued run (SKIP LOCKED on PostgreSQL): it is running from now on."""
    with transaction.atomic():
        run = (Run.objects.select_for_update(skip_locked=True, of=("self",))
               .filter(status=RunStatus.QUEUED).order_by("requested_at", "pk").first())
        if run is None:
            return None
        now = timezone.now()
        run.status, run.started_at = RunStatus.RUNNING, now
        run.lease_until = now + timedelta(seconds=LEASE_SECONDS)
        run.save(update_fields=["status", "started_at", "lease_until"])
    return run


def execute(run: Run) -> None:
    """Run it on its hosts and record every result (called in a worker thread)."""
    from atalaia.remote import ssh

    rows = {str(r.pk): r for r in RunHost.objects.filter(run=run).select_related(
        "host__credential", "host__jump__credential")}
    targets = [_target(str(key), row.host) for key, row in rows.items() if row.host]
    live = _Live(run)
    results = ssh.run_sync(targets, run.command, run.timeout, run.concurrency,
                           on_output=live.add)
    live.stop()
    for result in results:
        row = rows[result.key]
        row.status, row.exit_status = result.status, result.exit_status
        row.stdout, row.stderr, row.truncated = result.stdout, result.stderr, result.truncated
        row.full_output, row.recording = result.full_output, result.recording
        row.error, row.duration, row.live = result.error, result.duration, ""
        row.save()
    _finish(run, results, {key: row.host_name for key, row in rows.items()})


def _target(key: str, host: Host):
    from atalaia.remote import ssh

    credential = host.credential
    return ssh.Target(
        key=key, address=host.address, port=host.port, username=host.username,
        host_key=host.host_key,
        private_key=decrypt(credential.private_key) if credential and credential.private_key
        else "",
        passphrase=decrypt(credential.passphrase) if credential and credential.passphrase
        else "",
        agent_path=credential.agent_path if credential else "",
        jump=_target(key + "-jump", host.jump) if host.jump else None)


def _finish(run: Run, results, names: dict[str, str]) -> None:
    ok = sum(1 for r in results if r.status == "ok")
    outcome = "success" if ok == len(results) else "failure" if ok == 0 else "partial"
    summary = ", ".join(f"{names[r.key]}: "
                        f"{r.status}{'' if r.exit_status is None else f' ({r.exit_status})'}"
                        for r in results)
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(status=RunStatus.DONE,
                                             finished_at=timezone.now(), lease_until=None)
        append_entry(run.incident, EntryKind.ATTEMPT, None, {
            "text": f"{run.step} on {len(results)} host(s): {ok} ok — {summary}",
            "run": run.pk, "outcome": outcome})


class _Live:
    """Keeps each host's output so far in the database while the run goes on (the
    incident room shows it live) and renews the run's lease."""

    def __init__(self, run: Run):
        self.run = run
        self.pending: dict[str, str] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def add(self, key: str, text: str) -> None:
        with self.lock:
            self.pending[key] = self.pending.get(key, "") + text

    def _loop(self) -> None:
        while not self.stopping.wait(LIVE_FLUSH_SECONDS):
            self._flush()
        self._flush()
        close_old_connections()

    def _flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, {}
        for key, text in pending.items():
            row = RunHost.objects.filter(pk=int(key)).only("live").first()
            if row is not None:
                RunHost.objects.filter(pk=row.pk).update(
                    live=(row.live + text)[-65536:], status="running")
        Run.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING).update(
            lease_until=timezone.now() + timedelta(seconds=LEASE_SECONDS))

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()


MAX_RUNS = 4  # runs at once per worker, each with its own SSH concurrency
_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()


def _busy() -> int:
    with _threads_lock:
        return len(_threads)


def run_due() -> int:
    """Worker step: start queued runs in threads (at most MAX_RUNS at once), and mark
    interrupted ones. Returns the number started or marked."""
    handled = interrupted()
    while _busy() < MAX_RUNS:
        run = claim()
        if run is None:
            break
        thread = threading.Thread(target=_in_thread, args=(run,), daemon=True)
        with _threads_lock:
            _threads.add(thread)
        thread.start()
        handled += 1
    return handled


def _in_thread(run: Run) -> None:
    try:
        execute(run)
    except Exception:  # noqa: BLE001 - a bug must not leave the run running forever
        log.exception("run %s failed", run.pk)
        Run.objects.filter(pk=run.pk).update(status=RunStatus.UNKNOWN,
                                             finished_at=timezone.now())
    finally:
        close_old_connections()
        with _threads_lock:
            _threads.discard(threading.current_thread())


def wait_idle(seconds: float = 30) -> None:
    """For tests and shutdown: wait until the run threads have finished."""
    deadline = time.monotonic() + seconds
    with _threads_lock:
        running = list(_threads)
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))
