"""An admin manages people in the console: roles, passwords, two-factor, deactivation."""

import pyotp
import pytest
from django.test import Client

from atalaia.accounts.actions import AccountError, set_active, set_role
from atalaia.accounts.models import AuditEvent, User
from atalaia.accounts.twofactor import secret_of
from conftest import signed_in


def person_url(user: User, what: str = "") -> str:
    return f"/accounts/users/{user.pk}/{what + '/' if what else ''}"


def test_an_admin_gives_someone_the_admin_role(personas, clients):
    viewer = personas["viewer"]
    assert "viewer" in clients["admin"].get(person_url(viewer)).content.decode()
    response = clients["admin"].post(person_url(viewer, "settings"), {"role": "admin"})
    assert response.status_code == 302 and response["Location"] == person_url(viewer)
    viewer.refresh_from_db()
    assert viewer.role == "admin"
    event = AuditEvent.objects.get(action="user.role", object_repr="viewer")
    assert (event.actor_name, event.changes) == ("admin", {"role": ["viewer", "admin"]})
    # The new admin's next page asks for a second factor: admins always need one.
    fresh = Client()
    fresh.post("/accounts/login/", {"username": "viewer", "password": "correct horse battery"})
    assert fresh.get("/incidents/")["Location"] == "/accounts/2fa/enrol/"


def test_a_bad_role_is_refused_with_a_message(personas, clients):
    response = clients["admin"].post(person_url(personas["viewer"], "settings"),
                                     {"role": "emperor"}, follow=True)
    assert "Choose one of the account roles." in response.content.decode()
    personas["viewer"].refresh_from_db()
    assert personas["viewer"].role == "viewer"


def test_the_last_admin_keeps_the_admin_role(personas, clients):
    admin = personas["admin"]
    response = clients["admin"].post(person_url(admin, "settings"), {"role": "viewer"},
                                     follow=True)
    assert "admin is the last admin" in response.content.decode()
    admin.refresh_from_db()
    assert admin.role == "admin"
    response = clients["admin"].post(person_url(admin, "active"), {"active": "0"},
                                     follow=True)
    assert "admin is the last admin" in response.content.decode()
    admin.refresh_from_db()
    assert admin.is_active
    # With a second admin, the first may step down.
    set_role(personas["commander"], "admin", admin)
    clients["admin"].post(person_url(admin, "settings"), {"role": "viewer"})
    admin.refresh_from_db()
    assert admin.role == "viewer"
    with pytest.raises(AccountError):
        set_active(personas["commander"], False, None)


def test_a_password_reset_shows_a_one_time_password_that_signs_in(personas, clients):
    responder = personas["responder"]
    old_session = signed_in(responder)
    response = clients["admin"].post(person_url(responder, "password"))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    password = response.context["password"]
    assert password in response.content.decode() and len(password) >= 12
    assert password not in clients["admin"].get(person_url(responder)).content.decode()
    # The old password and the open sessions stop working; the new one signs in.
    assert old_session.get("/incidents/").status_code == 302
    fresh = Client()
    assert not fresh.login(username="responder", password="correct horse battery")
    assert fresh.login(username="responder", password=password)
    assert AuditEvent.objects.filter(action="user.password_reset", actor_name="admin").exists()


def test_a_two_factor_reset_makes_the_person_enrol_again(personas, clients):
    admin, commander = personas["admin"], personas["commander"]
    set_role(commander, "admin", admin)
    client = Client()
    client.post("/accounts/login/", {"username": "commander",
                                     "password": "correct horse battery"})
    client.post("/accounts/2fa/enrol/", {"code": pyotp.TOTP(
        secret_of(User.objects.get(username="commander"))).now()})
    commander.refresh_from_db()
    assert commander.totp_confirmed
    clients["admin"].post(person_url(commander, "two-factor"))
    commander.refresh_from_db()
    assert (commander.totp_confirmed, commander.totp_secret) == (False, "")
    again = Client()
    again.post("/accounts/login/", {"username": "commander",
                                    "password": "correct horse battery"})
    assert again.get("/incidents/")["Location"] == "/accounts/2fa/enrol/"
    commander.refresh_from_db()
    assert secret_of(commander) in again.get("/accounts/2fa/enrol/").content.decode()


def test_a_deactivated_person_cannot_sign_in_until_reactivated(personas, clients, tokens):
    viewer = personas["viewer"]
    session = clients["viewer"]
    clients["admin"].post(person_url(viewer, "active"), {"active": "0"})
    viewer.refresh_from_db()
    assert not viewer.is_active
    assert session.get("/incidents/").status_code == 302  # signed out
    assert not Client().login(username="viewer", password="correct horse battery")
    assert Client().get("/api/v1/incidents",
                        HTTP_AUTHORIZATION=f"Bearer {tokens['viewer']}").status_code == 401
    assert "deactivated" in clients["admin"].get("/accounts/users/").content.decode()
    clients["admin"].post(person_url(viewer, "active"), {"active": "1"})
    assert Client().login(username="viewer", password="correct horse battery")
    assert [e.action for e in AuditEvent.objects.filter(object_repr="viewer")][:2] == [
        "user.activate", "user.deactivate"]


@pytest.mark.parametrize("what", ["settings", "password", "two-factor", "active"])
def test_changes_need_the_csrf_token(personas, what):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["admin"])
    session = client.session
    session["atalaia_2fa_ok"] = True
    session.save()
    response = client.post(person_url(personas["viewer"], what),
                           {"role": "admin", "active": "0"})
    assert response.status_code == 403
    personas["viewer"].refresh_from_db()
    assert (personas["viewer"].role, personas["viewer"].is_active) == ("viewer", True)


def test_the_person_page_in_portuguese(personas, clients):
    personas["admin"].language = "pt-br"
    personas["admin"].save(update_fields=["language"])
    listing = clients["admin"].get("/accounts/users/").content.decode()
    assert f'href="{person_url(personas["viewer"])}"' in listing
    page = clients["admin"].get(person_url(personas["viewer"])).content.decode()
    assert "Redefinir senha" in page and "Redefinir dois fatores" in page
