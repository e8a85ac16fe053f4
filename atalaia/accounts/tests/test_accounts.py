import time

import pyotp
import time_machine
from django.test import Client

from atalaia.accounts.actions import set_role
from atalaia.accounts.models import AuditEvent
from atalaia.accounts.twofactor import secret_of


def login(client, username):
    return client.post("/accounts/login/", {"username": username,
                                            "password": "correct horse battery"})


def test_passwords_are_hashed_with_argon2_by_default(settings, db):
    from django.contrib.auth.hashers import make_password

    from atalaia import settings as product_settings

    # Tests swap in a fast hasher; the product's own setting puts argon2 first.
    settings.PASSWORD_HASHERS = product_settings.PASSWORD_HASHERS
    assert make_password("x").startswith("argon2$")


def test_admin_must_enrol_totp_before_anything_else(personas):
    client = Client()
    login(client, "admin")
    response = client.get("/incidents/")
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/enrol/"
    page = client.get("/accounts/2fa/enrol/")
    assert b"<svg" in page.content
    personas["admin"].refresh_from_db()
    code = pyotp.TOTP(secret_of(personas["admin"])).now()
    assert client.post("/accounts/2fa/enrol/", {"code": "000000" if code != "000000"
                                                else "111111"}).status_code == 200
    enrolled = client.post("/accounts/2fa/enrol/", {"code": code})
    assert enrolled.status_code == 200 and 'id="recovery-codes"' in enrolled.content.decode()
    assert client.get("/incidents/").status_code == 200
    # The next sign-in asks for a code, and the secret is stored encrypted.
    personas["admin"].refresh_from_db()
    assert secret_of(personas["admin"]) not in personas["admin"].totp_secret
    fresh = Client()
    login(fresh, "admin")
    assert fresh.get("/incidents/")["Location"].startswith("/accounts/2fa/verify/")
    assert fresh.get("/api/v1/incidents").status_code == 401  # session API needs 2FA too
    # A code signs in once: the next sign-in takes the next code.
    with time_machine.travel(time.time() + 30):
        fresh.post("/accounts/2fa/verify/",
                   {"code": pyotp.TOTP(secret_of(personas["admin"])).now()})
    assert fresh.get("/incidents/").status_code == 200


def test_a_viewer_without_totp_signs_in_with_a_password(personas):
    client = Client()
    login(client, "viewer")
    assert client.get("/incidents/").status_code == 200


def test_language_choice_is_remembered_for_the_user(personas, clients):
    client = clients["viewer"]
    client.post("/accounts/language/", {"language": "pt-br", "next": "/incidents/"})
    personas["viewer"].refresh_from_db()
    assert personas["viewer"].language == "pt-br"
    page = Client()
    page.force_login(personas["viewer"])
    assert "Incidentes" in page.get("/incidents/").content.decode()


def test_configuration_changes_are_audited(demo, personas):
    set_role(personas["viewer"], "responder", personas["admin"])
    actions = list(AuditEvent.objects.values_list("action", "actor_name"))
    assert ("user.role", "admin") in actions
    assert ("catalog.import", "system") in actions
    assert ("plan.import", "system") in actions
    event = AuditEvent.objects.get(action="user.role")
    assert event.changes == {"role": ["viewer", "responder"]}


def test_admin_creates_a_user_who_can_then_sign_in(personas, clients):
    response = clients["admin"].post("/accounts/users/", {
        "create": "1", "username": "maria", "email": "maria@example.com",
        "role": "communicator", "password": "uma senha bem longa"})
    assert response.status_code == 302
    taken = clients["admin"].post("/accounts/users/", {
        "create": "1", "username": "maria", "role": "viewer", "password": "x" * 12})
    assert "That username is taken." in taken.content.decode()
    client = Client()
    client.post("/accounts/login/", {"username": "maria", "password": "uma senha bem longa"})
    assert client.get("/incidents/").status_code == 200
    assert AuditEvent.objects.filter(action="user.create", object_repr="maria",
                                     actor_name="admin").exists()
