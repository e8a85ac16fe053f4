"""Fixtures shared by every test: the personas, their clients and the demo catalog."""

from pathlib import Path

import pytest
from django.test import Client

from atalaia.accounts.actions import create_token
from atalaia.accounts.models import AccountRole, User
from atalaia.accounts.twofactor import SESSION_KEY
from tests.servers import WebServer, database_url, self_signed

DEMO = Path(__file__).parent / "atalaia" / "demo"
ROLES = ["admin", "commander", "responder", "communicator", "viewer"]


@pytest.fixture(scope="session", autouse=True)
def _committer_lets_go_of_the_test_database(django_db_setup, django_db_blocker):
    """The intake committer thread keeps a connection to the test database; it must
    be closed before the database is dropped at the end of the session."""
    yield
    from atalaia.intake.groupcommit import committer

    with django_db_blocker.unblock():
        committer.close_connection()


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    # argon2 is what users get; tests only need passwords that work, quickly.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def local_receivers(settings):
    # Every test server listens on 127.0.0.1; atalaia/lib/tests checks the guard itself.
    settings.OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def personas(db) -> dict[str, User]:
    """One user per account role, named after it."""
    users = {role: User.objects.create_user(role, password="correct horse battery",
                                            role=AccountRole(role)) for role in ROLES}
    return users


def signed_in(user: User) -> Client:
    """A console client whose session has passed two-factor (as after a real login)."""
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = True
    session.save()
    return client


@pytest.fixture
def clients(personas) -> dict[str, Client]:
    return {role: signed_in(user) for role, user in personas.items()}


@pytest.fixture
def tokens(personas) -> dict[str, str]:
    return {role: create_token(user, "test")[1] for role, user in personas.items()}


@pytest.fixture
def demo(personas):
    """The demo catalog and plan, loaded through the same actions as the CLI."""
    from atalaia.catalog.actions import import_catalog
    from atalaia.plans.actions import import_plan

    import_catalog((DEMO / "catalog.yaml").read_text())
    return import_plan((DEMO / "plan.yaml").read_text())


def api(client: Client, method: str, path: str, token: str | None = None, body=None,
        raw: str | None = None):
    kwargs = {}
    if token:
        kwargs["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if raw is not None or body is not None:
        import json

        kwargs["data"] = raw if raw is not None else json.dumps(body)
        kwargs["content_type"] = "application/json"
    return getattr(client, method.lower())("/api/v1" + path, **kwargs)


def pass_gate(incident, personas) -> None:
    """Satisfy the demo plan's verification gate: the support team's check and the
    commander's sign-off (the demo catalog's services have no monitors: the demo plan's
    `unmonitored: sign_off` lets the sign-off vouch for them)."""
    from atalaia.incidents import gate

    for check in gate.ensure_checks(incident):
        gate.tick(check, personas["responder"])
    gate.sign_off(incident, personas["commander"])


@pytest.fixture
def https_server(transactional_db, tmp_path):
    """`atalaia web` behind TLS with a test certificate: PagerDuty's own client library
    speaks nothing else."""
    cert, private_key = self_signed(tmp_path)
    server = WebServer(database_url(), cert, private_key)
    yield server
    server.stop()
