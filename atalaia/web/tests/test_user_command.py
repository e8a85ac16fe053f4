"""`atalaia user …` and `atalaia createsuperuser`: the command line makes admins."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from atalaia.accounts.actions import create_user, set_role
from atalaia.accounts.models import AuditEvent, User
from atalaia.catalog.models import Team
from tests.servers import database_url


def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("user", *args, stdout=out, **extra)
    return out.getvalue()


def one_time_password(output: str) -> str:
    return output.strip().rsplit(": ", 1)[1]


def test_createsuperuser_makes_an_admin(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long admin password")
    call_command("createsuperuser", "--noinput", "--username", "chefe",
                 "--email", "chefe@example.test", stdout=io.StringIO())
    chefe = User.objects.get(username="chefe")
    assert chefe.role == "admin" and chefe.needs_totp
    assert AuditEvent.objects.filter(action="user.role", object_repr="chefe").exists()


def test_the_atalaia_command_runs_our_createsuperuser(transactional_db):
    env = {**os.environ, "ATALAIA_DATABASE_URL": database_url(),
           "DJANGO_SUPERUSER_PASSWORD": "a long admin password"}
    subprocess.run([sys.executable, "-m", "atalaia", "createsuperuser", "--noinput",
                    "--username", "chefe", "--email", "chefe@example.test"],
                   env=env, check=True, capture_output=True, timeout=60)
    assert User.objects.get(username="chefe").role == "admin"


def test_create_prints_a_one_time_password_that_signs_in(db, client):
    output = run("create", "maria", "--email", "maria@example.test", "--role", "admin")
    assert "created maria (admin)" in output
    maria = User.objects.get(username="maria")
    assert (maria.role, maria.email) == ("admin", "maria@example.test")
    assert client.login(username="maria", password=one_time_password(output))


def test_create_reads_the_password_from_stdin_and_checks_it(db, client):
    assert "one-time" not in run("create", "rui", "--password-stdin",
                                 stdin="a long chosen password\n")
    assert User.objects.get(username="rui").role == "viewer"
    assert client.login(username="rui", password="a long chosen password")
    with pytest.raises(CommandError, match="too short"):
        run("create", "ana", "--password-stdin", stdin="short\n")
    with pytest.raises(CommandError, match="taken"):
        run("create", "rui")
    with pytest.raises(CommandError, match="letters, numbers"):
        run("create", "no spaces")
    assert not User.objects.filter(username="ana").exists()


def test_set_role_and_the_last_admin(db):
    create_user("chefe", "a long admin password", "admin")
    create_user("rui", "a long chosen password", "viewer")
    assert "rui is now admin" in run("set-role", "rui", "admin")
    run("set-role", "chefe", "responder")
    with pytest.raises(CommandError, match="rui is the last admin"):
        run("set-role", "rui", "viewer")
    with pytest.raises(CommandError, match="rui is the last admin"):
        run("deactivate", "rui")
    with pytest.raises(CommandError, match="no user 'nobody'"):
        run("set-role", "nobody", "admin")
    assert User.objects.get(username="rui").role == "admin"


def test_reset_password_prints_one_or_reads_it(db, client):
    create_user("rui", "a long chosen password", "viewer")
    password = one_time_password(run("reset-password", "rui"))
    assert client.login(username="rui", password=password)
    assert "changed" in run("reset-password", "rui", "--stdin", stdin="another long one\n")
    assert client.login(username="rui", password="another long one")
    with pytest.raises(CommandError, match="no password on standard input"):
        run("reset-password", "rui", "--stdin", stdin="")


def test_reset_2fa_deactivate_activate_and_list(db):
    rui = create_user("rui", "a long chosen password", "responder")
    rui.totp_secret, rui.totp_confirmed = "x", True
    rui.save()
    run("reset-2fa", "rui")
    rui.refresh_from_db()
    assert (rui.totp_secret, rui.totp_confirmed) == ("", False)
    create_user("chefe", "a long admin password", "admin")
    run("deactivate", "rui")
    listing = run("list").splitlines()
    assert listing[0].split() == ["username", "role", "active", "2fa", "teams"]
    assert listing[1].split() == ["chefe", "admin", "yes", "required", "-"]
    assert listing[2].split() == ["rui", "responder", "no", "off", "-"]
    run("activate", "rui")
    assert User.objects.get(username="rui").is_active
    assert list(AuditEvent.objects.filter(object_repr="rui").values_list(
        "action", "actor_name"))[:3] == [("user.activate", "system"),
                                         ("user.deactivate", "system"),
                                         ("user.2fa_reset", "system")]


def test_team_members_from_the_command_line(db):
    rui = create_user("rui", "a long chosen password", "responder")
    team = Team.objects.create(slug="support", name="Support")
    assert "rui added to support" in run("add-to-team", "rui", "support")
    assert "rui was in support" in run("add-to-team", "rui", "support")
    assert list(team.members.all()) == [rui]
    assert run("list").splitlines()[1].split()[-1] == "support"
    assert "rui removed from support" in run("remove-from-team", "rui", "support")
    assert not team.members.exists()
    with pytest.raises(CommandError, match="no team 'nope'"):
        run("add-to-team", "rui", "nope")


def test_an_admin_made_on_the_command_line_can_be_demoted_by_another(db):
    chefe = create_user("chefe", "a long admin password", "admin")
    run("create", "maria", "--role", "admin")
    set_role(chefe, "viewer", User.objects.get(username="maria"))
    assert User.objects.get(username="chefe").role == "viewer"
