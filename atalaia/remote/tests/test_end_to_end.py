"""A runbook step from the incident room to a real sshd and back: the worker runs it
beside its loop, every result is kept with the incident, and the credential appears
nowhere (logs, pages, API, timeline)."""

import json
import logging
from pathlib import Path

import pytest

from atalaia.incidents.actions import declare_incident
from atalaia.lib.crypto import encrypt
from atalaia.remote import actions, runbooks
from atalaia.remote.models import Credential, Host, Run, Runbook, RunStatus
from atalaia.remote.tests.test_ssh import keys, sshd  # noqa: F401 - the real sshd fixtures
from conftest import DEMO, api, signed_in

pytestmark = pytest.mark.slow


@pytest.fixture
def wired(transactional_db, demo, personas, sshd, keys):  # noqa: F811
    runbooks.import_runbooks((DEMO / "runbooks.yaml").read_text())
    credential = Credential.objects.create(
        name="ops", private_key=encrypt(keys.client_text),
        allowed_roles=["admin", "commander", "responder"])
    Host.objects.create(service_id=_payments(), name="pay-1", address="127.0.0.1", port=sshd.port,
                        username=sshd.user, credential=credential, host_key=keys.host_line)
    return declare_incident(personas["commander"], "Payments failing", ["payments"])


def _payments() -> int:
    from atalaia.catalog.models import Service

    return Service.objects.get(slug="payments").pk


def run_now(run: Run) -> Run:
    assert actions.run_due() >= 1
    actions.wait_idle(60)
    run.refresh_from_db()
    return run


def test_a_step_runs_over_ssh_and_everything_is_recorded(wired, personas, keys, tokens,  # noqa: F811
                                                         caplog):
    caplog.set_level(logging.DEBUG)
    book = Runbook.objects.get(slug="linux-basics")
    run = run_now(actions.request_run(wired, personas["responder"], book, "Disk space",
                                      {"path": "/"}))
    assert run.status == RunStatus.DONE
    (row,) = run.hosts.all()
    assert (row.status, row.exit_status) == ("ok", 0) and "Filesystem" in row.stdout
    header, *events = row.recording.splitlines()
    assert json.loads(header)["version"] == 2
    assert "Filesystem" in "".join(json.loads(e)[2] for e in events)
    attempt = wired.entries.filter(kind="attempt").last()
    assert attempt.body["outcome"] == "success" and attempt.body["run"] == run.pk

    secret = keys.client_text.splitlines()[1]  # a line of the private key itself
    seen = [json.dumps(list(wired.entries.values_list("body", flat=True))),
            row.stdout + row.stderr + row.error + row.recording,
            api(signed_in(personas["viewer"]), "GET", f"/runs/{run.pk}",
                tokens["viewer"]).content.decode(),
            signed_in(personas["admin"]).get("/remote/hosts/").content.decode(),
            signed_in(personas["viewer"]).get(f"/incidents/{wired.pk}/").content.decode(),
            signed_in(personas["viewer"]).get(f"/remote/runs/{run.pk}/").content.decode(),
            caplog.text]
    assert not [text for text in seen if secret in text]


def test_parameters_with_shell_metacharacters_arrive_literally(wired, personas, tmp_path):
    marker = tmp_path / "pwned"
    book = Runbook.objects.get(slug="linux-basics")
    run = run_now(actions.request_run(wired, personas["responder"], book, "Disk space",
                                      {"path": f"/nonexistent/$(touch {marker})"}))
    (row,) = run.hosts.all()
    assert row.status == "failed" and "$(touch" in row.stderr
    assert not Path(marker).exists()


def test_a_changed_host_key_is_refused_and_said_so(wired, personas):
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    Host.objects.update(host_key=other)
    book = Runbook.objects.get(slug="linux-basics")
    run = run_now(actions.request_run(wired, personas["responder"], book, "Disk space", {}))
    (row,) = run.hosts.all()
    assert row.status == "error" and "host key mismatch" in row.error
    assert wired.entries.filter(kind="attempt").last().body["outcome"] == "failure"
