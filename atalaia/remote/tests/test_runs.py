"""Runbooks, run requests and the approval of changes, for each role; a run that a
crash interrupted is marked outcome unknown and never retried."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from atalaia.catalog.models import Service
from atalaia.incidents.actions import assign_role, declare_incident
from atalaia.lib.crypto import encrypt
from atalaia.remote import actions, runbooks
from atalaia.remote.models import Credential, Host, Run, RunStatus
from conftest import DEMO, signed_in

BOOK = (DEMO / "runbooks.yaml").read_text()


@pytest.fixture
def room(demo, personas):
    runbooks.import_runbooks(BOOK)
    credential = Credential.objects.create(
        name="ops", private_key=encrypt("not used here"),
        allowed_roles=["admin", "commander", "responder"])
    for n in (1, 2):
        Host.objects.create(service=Service.objects.get(slug="payments"), name=f"pay-{n}",
                            address="127.0.0.1", port=2200 + n, username="ops",
                            credential=credential, host_key="ssh-ed25519 AAAA")
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    for person in personas.values():
        person.totp_confirmed = True
        person.save(update_fields=["totp_confirmed"])
    return incident


def step(name):
    from atalaia.remote.models import Runbook

    return Runbook.objects.get(slug="linux-basics"), name


def test_a_diagnostic_is_queued_at_once_with_its_parameters_quoted(room, personas):
    book, name = step("Disk space")
    run = actions.request_run(room, personas["responder"], book, name,
                              {"path": "/var/lib/$(reboot)"})
    assert run.status == RunStatus.QUEUED
    assert run.command == "df -h '/var/lib/$(reboot)'"
    assert run.hosts.count() == 2  # every host of the affected services
    assert room.entries.filter(kind="action", body__run=run.pk).exists()


@pytest.mark.parametrize(("value", "problem"), [
    ({"path": "relative"}, "path: an absolute path"),
    ({"path": "/x\n/y"}, "path: one line of text"),
    ({"nope": "1"}, "unknown parameter(s): nope"),
])
def test_bad_parameters_are_refused_by_name(room, personas, value, problem):
    book, name = step("Disk space")
    with pytest.raises(actions.RemoteError, match=problem.replace("(", r"\(").replace(")",
                                                                                     r"\)")):
        actions.request_run(room, personas["responder"], book, name, value)


def test_a_change_waits_and_is_approved_by_someone_else_with_two_factor(room, personas):
    book, name = step("Restart a service")
    run = actions.request_run(room, personas["responder"], book, name, {"unit": "nginx"})
    assert run.status == RunStatus.AWAITING and run.command == "systemctl restart nginx"
    with pytest.raises(actions.RemoteError, match="someone else must approve"):
        actions.decide(run, personas["responder"], True, two_factor=True)
    with pytest.raises(actions.RemoteError, match="two-factor"):
        actions.decide(run, personas["commander"], True, two_factor=False)
    with pytest.raises(PermissionDenied, match="commander or a responder"):
        actions.decide(run, personas["viewer"], True, two_factor=True)
    with pytest.raises(PermissionDenied, match="commander or a responder"):
        actions.decide(run, personas["communicator"], True, two_factor=True)
    actions.decide(run, personas["commander"], True, two_factor=True)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.decided_by == personas["commander"]
    with pytest.raises(actions.RemoteError, match="not awaiting approval"):
        actions.decide(run, personas["admin"], False, two_factor=True)


def test_the_incidents_commander_may_approve_even_with_a_viewer_account(room, personas):
    book, name = step("Restart a service")
    assign_role(room, personas["admin"], "commander", personas["viewer"])
    run = actions.request_run(room, personas["responder"], book, name, {"unit": "nginx"})
    actions.decide(run, personas["viewer"], False, two_factor=True)
    run.refresh_from_db()
    assert run.status == RunStatus.REJECTED


def test_approval_in_the_console_needs_the_two_factor_session(room, personas):
    book, name = step("Restart a service")
    run = actions.request_run(room, personas["responder"], book, name, {"unit": "nginx"})
    console = signed_in(personas["commander"])  # a session that passed TOTP
    response = console.post(f"/remote/runs/{run.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_ad_hoc_commands_only_for_allowed_roles_and_always_as_changes(room, personas):
    with pytest.raises(PermissionDenied, match="may not run ad-hoc"):
        actions.request_adhoc(room, personas["responder"], "uptime")
    run = actions.request_adhoc(room, personas["commander"], "uptime")
    assert run.status == RunStatus.AWAITING and run.kind == "change"


def test_a_role_without_the_credential_cannot_run(room, personas):
    Credential.objects.update(allowed_roles=["admin"])
    book, name = step("Disk space")
    with pytest.raises(PermissionDenied, match="may not use the credential"):
        actions.request_run(room, personas["responder"], book, name, {})


def test_an_interrupted_run_is_outcome_unknown_and_never_retried(room, personas):
    book, name = step("Restart a service")
    run = actions.request_run(room, personas["responder"], book, name, {"unit": "nginx"})
    actions.decide(run, personas["commander"], True, two_factor=True)
    claimed = actions.claim()
    assert claimed.pk == run.pk
    later = timezone.now() + datetime.timedelta(seconds=actions.LEASE_SECONDS + 1)
    assert actions.interrupted(later) == 1
    run.refresh_from_db()
    assert run.status == RunStatus.UNKNOWN
    assert actions.claim() is None  # never queued again
    entry = room.entries.filter(kind="attempt").last()
    assert entry.body["outcome"] == "unknown"


@pytest.mark.parametrize(("text", "problem"), [
    ("slug: x\nname: X\nsteps: []\n", "line 3: steps: needs at least 1 item"),
    ("slug: x\nname: X\nsteps:\n  - {name: a, kind: change, command: 'rm {path}'}\n",
     "{path} is not a declared parameter"),
    ("slug: x\nname: X\nsteps:\n  - {name: a, kind: sudo, command: ls}\n",
     "'sudo' is not one of diagnostic, change"),
    ("slug: x\nname: X\nsteps:\n  - {name: a, kind: diagnostic, command: 'ls {0}'}\n",
     "placeholders only"),
])
def test_malformed_runbooks_are_refused_with_their_line(demo, text, problem):
    with pytest.raises(runbooks.DocumentError) as caught:
        runbooks.import_runbooks(text)
    assert problem in "; ".join(caught.value.problems)


def test_importing_a_changed_runbook_makes_a_new_version(demo):
    (first,) = runbooks.import_runbooks(BOOK)
    (same,) = runbooks.import_runbooks(BOOK)
    assert first.version == same.version == 1
    (changed,) = runbooks.import_runbooks(BOOK.replace("timeout: 60", "timeout: 90"))
    assert changed.version == 2 and changed.versions.count() == 2


def test_runs_through_the_api(room, personas, tokens, client):
    from conftest import api

    made = api(client, "POST", f"/incidents/{room.pk}/runs", tokens["responder"],
               {"runbook": "linux-basics", "step": "Service status",
                "params": {"unit": "nginx", "lines": 5}})
    assert made.status_code == 201, made.content
    assert made.json()["command"] == "systemctl status --no-pager --lines 5 nginx"
    bad = api(client, "POST", f"/incidents/{room.pk}/runs", tokens["responder"],
              {"runbook": "linux-basics", "step": "Service status",
               "params": {"unit": "nginx; reboot"}})
    assert bad.status_code == 400 and "unit: does not match" in bad.json()["detail"]
    assert api(client, "GET", f"/runs/{made.json()['id']}", tokens["viewer"]).status_code == 200
    assert Run.objects.count() == 1
