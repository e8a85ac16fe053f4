"""Single sign-on against a real OpenID provider (oidc-provider on 127.0.0.1)."""

import datetime
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import time_machine
from django.test import Client

from atalaia.accounts import sso
from atalaia.accounts.models import AccountRole, AuditEvent, User
from tests.oidc_provider import OIDCProvider

SITE = "http://testserver"
ROLE_MAP = {"atalaia-commanders": "commander", "atalaia-admins": "admin"}


@pytest.fixture(scope="module")
def provider():
    idp = OIDCProvider(SITE)
    yield idp
    idp.stop()


@pytest.fixture
def configured(provider, settings, db):
    settings.SITE_URL = SITE
    provider.settings_for(settings, OIDC_ROLE_MAP=ROLE_MAP, OIDC_DEFAULT_ROLE="viewer")
    return provider


def start(client: Client) -> str:
    response = client.get("/accounts/sso/login/")
    assert response.status_code == 302, response.content
    return response["Location"]


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + "?" + parts.query


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def with_params(url: str, **params) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode(query(url) | params)))


def sign_in(client: Client, idp: OIDCProvider, login: str):
    return client.get(local(idp.sign_in(start(client), login)))


def refusal(response) -> str:
    assert response.status_code == 403, response.content
    return response.content.decode()


def test_sign_in_creates_the_account_with_the_mapped_role(configured):
    client = Client()
    url = start(client)
    sent = query(url)
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
    assert sent["state"] and sent["nonce"] and sent["redirect_uri"] == SITE + sso.CALLBACK_PATH

    response = client.get(local(configured.sign_in(url, "alice")))

    assert response.status_code == 302 and response["Location"] == "/incidents/"
    alice = User.objects.get(username="alice")
    assert (alice.role, alice.sso_issuer, alice.sso_subject) == (
        AccountRole.COMMANDER, configured.url, "alice")
    assert not alice.has_usable_password()
    assert alice.email == "alice@example.com"
    # The provider's sign-in counts as the strong one: no TOTP step after it.
    assert client.get("/incidents/").status_code == 200
    assert AuditEvent.objects.filter(action="user.sso_sign_in", object_repr="alice").exists()


def test_the_highest_mapped_role_wins_and_others_get_the_default(configured):
    assert sign_in(Client(), configured, "carol").status_code == 302  # staff + admins
    assert sign_in(Client(), configured, "dave").status_code == 302  # staff only
    assert User.objects.get(username="carol").role == AccountRole.ADMIN
    assert User.objects.get(username="dave").role == AccountRole.VIEWER


def test_the_role_follows_the_provider_at_each_sign_in(configured, settings):
    sign_in(Client(), configured, "dave")
    settings.OIDC_ROLE_MAP = {"staff": "responder"}
    sign_in(Client(), configured, "dave")
    assert User.objects.get(username="dave").role == AccountRole.RESPONDER


def test_accounts_are_found_by_subject_never_by_email(configured):
    local_alice = User.objects.create_user("alice.local", email="alice@example.com",
                                           password="correct horse battery")
    sign_in(Client(), configured, "alice")
    local_alice.refresh_from_db()
    assert local_alice.sso_subject == ""
    # A later provider-side rename keeps the same account: the subject is what counts.
    User.objects.filter(username="alice").update(username="alice-renamed")
    sign_in(Client(), configured, "alice")
    assert User.objects.filter(sso_subject="alice").count() == 1


def test_nobody_mapped_is_refused_when_there_is_no_default_role(configured, settings):
    settings.OIDC_DEFAULT_ROLE = "none"
    assert "in no group that may use Atalaia" in refusal(sign_in(Client(), configured, "dave"))
    assert not User.objects.filter(username="dave").exists()


def test_pre_created_only_refuses_an_unknown_subject(configured, settings, personas):
    settings.OIDC_CREATE_ACCOUNTS = False
    text = refusal(sign_in(Client(), configured, "erin"))
    assert "There is no Atalaia account for you yet" in text and "erin" in text
    assert not User.objects.filter(username="erin").exists()

    # An admin makes the account under the provider's username: it is linked once.
    erin = User.objects.create_user("erin", password="correct horse battery",
                                    role=AccountRole.RESPONDER)
    assert sign_in(Client(), configured, "erin").status_code == 302
    erin.refresh_from_db()
    assert (erin.sso_issuer, erin.sso_subject, erin.role) == (
        configured.url, "erin", AccountRole.VIEWER)


def test_a_configured_issuer_that_the_provider_does_not_claim_is_refused(settings, db):
    # A provider whose discovery says another issuer (a proxy in front, a typo).
    other = OIDCProvider(SITE, issuer="http://idp.example.test")
    try:
        settings.SITE_URL = SITE
        other.settings_for(settings)
        text = refusal(Client().get("/accounts/sso/login/"))
        assert "says its issuer is http://idp.example.test" in text
    finally:
        other.stop()


def test_an_answer_from_another_provider_is_refused(configured, settings):
    """Mix-up: the person is sent to another provider that knows the same client; its
    answer names its own issuer (RFC 9207) and is refused before its code is used."""
    other = OIDCProvider(SITE)
    try:
        client = Client()
        url = start(client)
        elsewhere = url.replace(configured.url, other.url)
        text = refusal(client.get(local(other.sign_in(elsewhere, "alice"))))
        assert f"comes from {other.url}, not from the configured provider" in text
        assert not User.objects.filter(username="alice").exists()
    finally:
        other.stop()


def test_an_id_token_from_another_issuer_is_refused(configured):
    """A real ID token, validly signed by another provider, is checked against what
    this one's discovery says: its issuer does not match."""
    other = OIDCProvider(SITE)
    try:
        client = Client()
        elsewhere = start(client).replace(configured.url, other.url)
        code = query(other.sign_in(elsewhere, "alice"))["code"]
        verifier = next(iter(client.session[sso.PENDING_KEY].values()))["verifier"]
        token = httpx.post(other.url + "/token", auth=("atalaia", "test-client-secret-0123456789"),
                           data={"grant_type": "authorization_code", "code": code,
                                 "code_verifier": verifier,
                                 "redirect_uri": SITE + sso.CALLBACK_PATH}).json()
        nonce = query(elsewhere)["nonce"]
        theirs = httpx.get(other.url + "/.well-known/openid-configuration").json()
        expected = theirs | {"issuer": configured.url}  # their keys, our issuer
        with pytest.raises(sso.SSOError, match=f"issued by {other.url}, not by"):
            sso.validate_id_token(expected, token["id_token"], nonce, token["access_token"])
        # The same token passes where the issuer is the one that made it.
        assert sso.validate_id_token(theirs, token["id_token"], nonce,
                                     token["access_token"])["sub"] == "alice"
    finally:
        other.stop()


def test_an_expired_id_token_is_refused(configured):
    client = Client()
    back = configured.sign_in(start(client), "alice")
    # The provider's ID tokens live 300 s; our clock is 400 s on when the answer arrives.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=400)
    with time_machine.travel(later, tick=False):
        text = refusal(client.get(local(back)))
    assert "The ID token has expired" in text
    assert not User.objects.filter(username="alice").exists()


def test_a_replayed_code_is_refused(configured):
    first = Client()
    back = configured.sign_in(start(first), "alice")
    assert first.get(local(back)).status_code == 302

    # The same answer again: its state was used up.
    assert "bad or reused state" in refusal(first.get(local(back)))
    # The code with a fresh sign-in's state: the provider refuses the used code.
    second = Client()
    fresh_state = query(start(second))["state"]
    text = refusal(second.get(local(with_params(back, state=fresh_state))))
    assert "refused the sign-in code (invalid_grant" in text
    assert "_auth_user_id" not in second.session


def test_a_bad_state_is_refused(configured):
    client = Client()
    back = configured.sign_in(start(client), "alice")
    text = refusal(client.get(local(with_params(back, state="forged"))))
    assert "bad or reused state" in text
    # An answer brought to another browser, which started no sign-in, neither.
    assert "bad or reused state" in refusal(Client().get(local(back)))


def test_a_bad_nonce_is_refused(configured):
    client = Client()
    # The request at the provider carries another nonce than the one this browser keeps.
    url = with_params(start(client), nonce="not-the-one-we-sent")
    text = refusal(client.get(local(configured.sign_in(url, "alice"))))
    assert "bad nonce" in text
    assert not User.objects.filter(username="alice").exists()


def test_an_error_from_the_provider_is_shown(configured):
    client = Client()
    state = query(start(client))["state"]
    text = refusal(client.get("/accounts/sso/callback/?" + urlencode(
        {"error": "access_denied", "error_description": "End-User aborted", "state": state})))
    assert "access_denied" in text and "End-User aborted" in text


def test_sso_only_refuses_passwords_but_for_the_break_glass_admin(configured, settings,
                                                                  personas):
    settings.SSO_ONLY = True
    settings.BREAK_GLASS_ADMIN = "admin"
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Test IdP" in page and 'name="password"' not in page
    assert 'name="password"' in Client().get("/accounts/login/?local=1").content.decode()

    client = Client()
    response = client.post("/accounts/login/", {"username": "commander",
                                                "password": "correct horse battery"})
    assert response.status_code == 200
    assert "Password sign-in is turned off" in response.content.decode()
    assert "_auth_user_id" not in client.session

    admin = Client()
    response = admin.post("/accounts/login/", {"username": "admin",
                                               "password": "correct horse battery"})
    assert response.status_code == 302
    assert admin.session["_auth_user_id"] == str(personas["admin"].pk)
    assert AuditEvent.objects.filter(action="user.break_glass_sign_in").count() == 1


def test_a_local_account_is_never_handed_over_by_its_name(configured, personas):
    # Accounts made freely: an "admin" at the provider does not get the local admin.
    assert sign_in(Client(), configured, "admin").status_code == 302
    assert User.objects.get(username="admin").sso_subject == ""
    newcomer = User.objects.get(sso_subject="admin")
    assert (newcomer.username, newcomer.role) == ("admin-2", AccountRole.VIEWER)


def test_the_break_glass_admin_is_never_linked_to_the_provider(configured, settings):
    settings.OIDC_CREATE_ACCOUNTS = False
    settings.BREAK_GLASS_ADMIN = "alice"
    User.objects.create_user("alice", password="correct horse battery",
                             role=AccountRole.ADMIN)
    assert "no Atalaia account for you" in refusal(sign_in(Client(), configured, "alice"))
    assert User.objects.get(username="alice").sso_subject == ""


def test_logging_out_ends_the_session_at_the_provider_too(configured):
    client = Client()
    sign_in(client, configured, "alice")
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    end = response["Location"]
    assert end.startswith(configured.url + "/session/end")
    assert query(end)["post_logout_redirect_uri"] == SITE + "/accounts/login/"
    assert "_auth_user_id" not in client.session
    # The provider accepts the hint (a bad one is a 400) and sends the browser back.
    assert httpx.get(end).status_code == 200


def test_password_sessions_log_out_locally_only(configured, personas):
    # Logging out used to fail: Django's default logged-out template does not exist here.
    client = Client()
    client.post("/accounts/login/", {"username": "viewer",
                                     "password": "correct horse battery"})
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"


def test_misconfigured_roles_are_reported_at_start(settings):
    settings.OIDC_ROLE_MAP = {"ops": "superuser"}
    settings.OIDC_DEFAULT_ROLE = "guest"
    settings.SSO_ONLY = True
    settings.BREAK_GLASS_ADMIN = ""
    assert [m.id for m in sso.check_settings()] == ["accounts.E001", "accounts.E002",
                                                    "accounts.W001"]


def test_without_a_provider_there_is_no_single_sign_on(client, db):
    assert client.get("/accounts/sso/login/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404
    assert "sso-login" not in client.get("/accounts/login/").content.decode()


def test_sign_ins_through_the_provider_are_rate_limited_per_client_address(configured):
    from atalaia.accounts.sso_views import PER_CLIENT

    client = Client()
    forged = "/accounts/sso/callback/?code=x&state=forged"
    with time_machine.travel(datetime.datetime(2026, 3, 2, 9, tzinfo=datetime.UTC),
                             tick=False) as clock:
        for _ in range(int(PER_CLIENT.capacity)):
            assert client.get(forged).status_code == 403
        refused = client.get(forged)
        assert refused.status_code == 429
        assert refused["Retry-After"] == "10"
        assert "Too many requests" in refused.content.decode()
        assert client.get("/accounts/sso/login/").status_code == 429  # the start counts too
        clock.shift(10)
        assert client.get(forged).status_code == 403  # one try is back
        # Another address is not held back by this one.
        assert Client(REMOTE_ADDR="203.0.113.7").get("/accounts/sso/login/").status_code == 302


@pytest.mark.parametrize(("claim", "claims"), [
    ("https://atalaia.example/roles", {"https://atalaia.example/roles": ["atalaia-admins"]}),
    ("realm_access.roles", {"realm_access": {"roles": ["atalaia-admins"]}}),
    ("groups", {"groups": "atalaia-admins"}),
])
def test_the_role_claim_is_found_by_its_whole_name_or_a_dotted_path(settings, claim, claims):
    settings.OIDC_ROLE_CLAIM = claim
    settings.OIDC_ROLE_MAP = ROLE_MAP
    settings.OIDC_DEFAULT_ROLE = "viewer"
    assert sso.mapped_role(claims) == AccountRole.ADMIN
    assert sso.mapped_role({}) == AccountRole.VIEWER


def test_a_provider_with_no_accepted_signing_algorithm_is_refused():
    meta = {"issuer": "https://idp.example", "jwks_uri": "https://idp.example/keys",
            "id_token_signing_alg_values_supported": ["HS256", "none"]}
    with pytest.raises(sso.SSOError, match="none of the algorithms"):
        sso.validate_id_token(meta, "a.b.c", "nonce", None)
