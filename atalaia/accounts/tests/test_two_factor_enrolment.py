"""Enrolling TOTP: the pending secret is made by a POST and shown, unchanged, by every GET;
what browsers fetch on their own never reaches the two-factor pages."""

import pyotp
from django.test import Client

from atalaia.accounts.actions import create_user, reset_two_factor
from atalaia.accounts.models import AuditEvent, User
from atalaia.accounts.twofactor import secret_of


def signed_in_half(username="ines", role="admin") -> tuple[Client, User]:
    user = create_user(username, "a long first password", role)
    client = Client()
    response = client.post("/accounts/login/", {"username": username,
                                                "password": "a long first password"})
    assert response.status_code == 302
    user.refresh_from_db()
    return client, user


def test_signing_in_starts_the_enrolment_and_pages_show_the_same_secret(db):
    client, user = signed_in_half()
    secret = secret_of(user)
    assert secret and not user.totp_confirmed
    for _ in range(3):
        page = client.get("/accounts/2fa/enrol/")
        assert page.status_code == 200 and page["Cache-Control"] == "no-store"
        assert secret in page.content.decode()
    user.refresh_from_db()
    assert secret_of(user) == secret


def test_the_browsers_own_requests_never_reach_the_enrolment(db):
    client, user = signed_in_half()
    secret = secret_of(user)
    icon = client.get("/favicon.ico", HTTP_SEC_FETCH_MODE="no-cors")
    assert icon.status_code == 301 and icon["Location"].endswith("/favicon.ico")
    assert client.get(icon["Location"]).status_code == 200  # the file itself
    assert client.get("/static/atalaia/favicon.svg").status_code == 200
    assert client.get("/robots.txt").status_code == 404  # passed through, not redirected
    # An image or a script asked for by a page: refused, not sent to the 2FA pages.
    refused = client.get("/incidents/", HTTP_SEC_FETCH_MODE="no-cors")
    assert refused.status_code == 403 and b"two-factor" in refused.content
    # A person opening a page is sent to finish the enrolment.
    opened = client.get("/incidents/", HTTP_SEC_FETCH_MODE="navigate")
    assert opened.status_code == 302 and opened["Location"] == "/accounts/2fa/enrol/"
    user.refresh_from_db()
    assert secret_of(user) == secret


def test_the_base_template_links_the_icon(personas, clients):
    page = clients["viewer"].get("/incidents/").content.decode()
    assert 'rel="icon" href="/static/atalaia/favicon.svg"' in page


def test_only_a_post_starts_again_with_a_new_secret(db):
    client, user = signed_in_half()
    first = secret_of(user)
    assert client.post("/accounts/2fa/enrol/", {"restart": "1"}).status_code == 302
    user.refresh_from_db()
    second = secret_of(user)
    assert second != first
    wrong = client.post("/accounts/2fa/enrol/", {"code": pyotp.TOTP(first).now()})
    assert "That code is not valid" in wrong.content.decode()
    done = client.post("/accounts/2fa/enrol/", {"code": pyotp.TOTP(second).now()})
    assert done.status_code == 200 and 'id="recovery-codes"' in done.content.decode()
    assert client.get("/incidents/").status_code == 200
    assert AuditEvent.objects.filter(action="user.2fa_enrol", object_repr="ines").exists()


def test_after_a_reset_the_enrolment_page_offers_to_begin_and_a_post_begins(db):
    client, user = signed_in_half()
    reset_two_factor(user, None)
    page = client.get("/accounts/2fa/enrol/")
    assert 'id="totp-begin"' in page.content.decode()
    user.refresh_from_db()
    assert user.totp_secret == ""  # the GET made nothing
    client.post("/accounts/2fa/enrol/", {"restart": "1"})
    user.refresh_from_db()
    assert secret_of(user) in client.get("/accounts/2fa/enrol/").content.decode()


def test_someone_without_a_required_second_factor_is_not_enrolled_at_sign_in(db):
    _client, user = signed_in_half("rui", "viewer")
    assert user.totp_secret == ""
