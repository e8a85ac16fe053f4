"""Single sign-on with OpenID Connect (docs/sso.md).

The authorization code flow with PKCE (S256), state and nonce, against the provider
named by ATALAIA_OIDC_ISSUER. Its endpoints and keys come from its discovery document;
the ID token's signature, issuer, audience, expiry and nonce are checked before anyone
is signed in. An account is found by (issuer, subject), never by e-mail address.

The provider is configured by an admin and is often inside the company (a Keycloak on
a private address), so the calls go out through a plain httpx client with timeouts,
not the outbound guard that webhooks go through.
"""

import time
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core import checks
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet

from atalaia.accounts.actions import AccountError, audit, set_role
from atalaia.accounts.models import AccountRole, User

CALLBACK_PATH = "/accounts/sso/callback/"
LOGIN_PATH = "/accounts/login/"
PENDING_KEY = "atalaia_sso_pending"  # session: state -> nonce, verifier, next, started
ID_TOKEN_KEY = "atalaia_sso_id_token"  # session: the ID token, a hint for logging out
PENDING_SECONDS = 600  # a sign-in left at the provider's page longer than this starts over
PENDING_MAX = 5  # sign-ins started in other tabs that are kept waiting
LEEWAY_SECONDS = 60  # clock difference tolerated between us and the provider
METADATA_SECONDS = 3600
# Signatures an ID token may carry: public-key ones only (the key set holds public keys).
SIGNING_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                      "ES256", "ES384", "ES512", "EdDSA"]
# Highest first: a person in several mapped groups gets the most capable role.
ROLE_ORDER = [AccountRole.ADMIN, AccountRole.COMMANDER, AccountRole.RESPONDER,
              AccountRole.COMMUNICATOR, AccountRole.VIEWER]


class SSOError(Exception):
    """A sign-in that is refused; the message says why, for the person."""


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def redirect_uri() -> str:
    return settings.SITE_URL.rstrip("/") + CALLBACK_PATH


def _http() -> httpx.Client:
    return httpx.Client(timeout=settings.OIDC_TIMEOUT_SECONDS, follow_redirects=False)


def _get_json(url: str) -> dict:
    try:
        with _http() as client:
            response = client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SSOError(_("The sign-in provider could not be reached (%(error)s).")
                       % {"error": exc}) from exc
    if not isinstance(document, dict):
        raise SSOError(_("The sign-in provider answered something that is not JSON."))
    return document


def metadata() -> dict:
    """The provider's discovery document, checked to be about the configured issuer."""
    issuer = settings.OIDC_ISSUER
    key = "sso:metadata:" + issuer
    document = cache.get(key)
    if document is None:
        document = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if document.get("issuer") != issuer:
            # OpenID Connect Discovery 1.0, section 4.3: a document about another
            # issuer must not be used (a proxy, a typo, or an impostor).
            raise SSOError(_("The provider at %(configured)s says its issuer is %(actual)s: "
                             "ATALAIA_OIDC_ISSUER must be exactly that.")
                           % {"configured": issuer, "actual": document.get("issuer")})
        for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(needed), str):
                raise SSOError(_("The provider's discovery document has no %(name)s.")
                               % {"name": needed})
        cache.set(key, document, METADATA_SECONDS)
    return document


def _keys(meta: dict, refresh: bool = False) -> KeySet:
    key = "sso:jwks:" + meta["jwks_uri"]
    document = None if refresh else cache.get(key)
    if document is None:
        document = _get_json(meta["jwks_uri"])
        cache.set(key, document, METADATA_SECONDS)
    return KeySet.import_key_set(document)  # type: ignore[arg-type]


def _oauth_client() -> OAuth2Client:
    return OAuth2Client(client_id=settings.OIDC_CLIENT_ID,
                        client_secret=settings.OIDC_CLIENT_SECRET,
                        scope=" ".join(settings.OIDC_SCOPES), redirect_uri=redirect_uri(),
                        code_challenge_method="S256", timeout=settings.OIDC_TIMEOUT_SECONDS)


def start(session, next_url: str) -> str:
    """Remember a new sign-in in the session and return the provider's URL for it."""
    meta = metadata()
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(48)
    with _oauth_client() as client:
        url, _state = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce)
    pending = dict(session.get(PENDING_KEY, {}))
    newest = sorted(pending.items(), key=lambda item: item[1]["started"])[-(PENDING_MAX - 1):]
    session[PENDING_KEY] = dict(newest) | {state: {
        "nonce": nonce, "verifier": verifier, "next": next_url, "started": time.time()}}
    return url


def _take_pending(session, state: str) -> dict:
    """The sign-in this answer belongs to, forgotten so that it cannot be used twice."""
    pending = dict(session.get(PENDING_KEY, {}))
    started = pending.pop(state, None) if state else None
    session[PENDING_KEY] = pending
    if started is None:
        raise SSOError(_("This sign-in answer does not belong to a sign-in started in this "
                         "browser (bad or reused state). Start again."))
    if time.time() - started["started"] > PENDING_SECONDS:
        raise SSOError(_("This sign-in took too long. Start again."))
    return started


def finish(session, params: dict) -> tuple[dict, str, str]:
    """Check the provider's answer, exchange its code and check the ID token.

    Returns the ID token's claims, the raw ID token and where the person was going."""
    if params.get("error"):
        raise SSOError(_("The sign-in provider refused: %(error)s %(description)s")
                       % {"error": params["error"],
                          "description": params.get("error_description", "")})
    started = _take_pending(session, params.get("state", ""))
    meta = metadata()
    # RFC 9207: an answer naming another issuer, or none from a provider that names
    # itself, comes from another provider (a mix-up).
    named = params.get("iss")
    if (named or meta.get("authorization_response_iss_parameter_supported")) \
            and named != settings.OIDC_ISSUER:
        raise SSOError(_("The sign-in answer comes from %(actual)s, not from the configured "
                         "provider %(issuer)s.")
                       % {"actual": named or "?", "issuer": settings.OIDC_ISSUER})
    token = _exchange(meta, params.get("code", ""), started["verifier"])
    claims = validate_id_token(meta, token["id_token"], started["nonce"],
                               token.get("access_token"))
    return claims, token["id_token"], started["next"]


def _exchange(meta: dict, code: str, verifier: str) -> dict:
    try:
        with _oauth_client() as client:
            token = client.fetch_token(meta["token_endpoint"], code=code,
                                       code_verifier=verifier)
    except OAuthError as exc:
        raise SSOError(_("The sign-in provider refused the sign-in code (%(error)s: "
                         "%(description)s); a code works once and for a short time. "
                         "Start again.")
                       % {"error": exc.error, "description": exc.description or ""}) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise SSOError(_("The sign-in provider could not be reached (%(error)s).")
                       % {"error": exc}) from exc
    if not token.get("id_token"):
        raise SSOError(_("The sign-in provider sent no ID token: is the openid scope "
                         "in ATALAIA_OIDC_SCOPES?"))
    return dict(token)


def validate_id_token(meta: dict, raw: str, nonce: str, access_token: str | None) -> dict:
    """The claims of an ID token whose signature, issuer, audience, time and nonce hold."""
    allowed = [alg for alg in meta.get("id_token_signing_alg_values_supported", ["RS256"])
               if alg in SIGNING_ALGORITHMS]
    if not allowed:
        # An empty list would let the JOSE library pick its own defaults.
        raise SSOError(_("The sign-in provider signs ID tokens with none of the algorithms "
                         "Atalaia accepts (%(accepted)s).")
                       % {"accepted": ", ".join(SIGNING_ALGORITHMS)})
    try:
        try:
            decoded = jwt.decode(raw, _keys(meta), algorithms=allowed)
        except InvalidKeyIdError:
            # The provider rotated its keys since we fetched them.
            decoded = jwt.decode(raw, _keys(meta, refresh=True), algorithms=allowed)
        claims = CodeIDToken(
            decoded.claims, decoded.header,
            {"iss": {"essential": True, "value": meta["issuer"]},
             "aud": {"essential": True, "value": settings.OIDC_CLIENT_ID}},
            {"nonce": nonce, "client_id": settings.OIDC_CLIENT_ID,
             "access_token": access_token})
        claims.validate(leeway=LEEWAY_SECONDS)
    except ExpiredTokenError as exc:
        raise SSOError(_("The ID token has expired. Start again; if this keeps happening, "
                         "check this server's clock.")) from exc
    except ClaimError as exc:
        raise SSOError(_claim_message(exc.claim, decoded.claims, meta)) from exc
    except BadSignatureError as exc:
        raise SSOError(_("The ID token's signature does not match the provider's keys."))\
            from exc
    except (JoseError, ValueError) as exc:
        raise SSOError(_("The ID token could not be read (%(error)s).")
                       % {"error": exc}) from exc
    return dict(claims)


def _claim_message(claim: str, claims: dict, meta: dict) -> str:
    if claim == "iss":
        return (_("The ID token was issued by %(actual)s, not by the configured provider "
                  "%(issuer)s.") % {"actual": claims.get("iss"), "issuer": meta["issuer"]})
    if claim in ("aud", "azp"):
        return _("The ID token was issued for another application, not for this one.")
    if claim == "nonce":
        return _("The ID token does not belong to this sign-in (bad nonce). Start again.")
    return _("The ID token's %(claim)s claim is missing or wrong.") % {"claim": claim}


def _claim(claims: dict, path: str) -> Any:
    """A claim by its name, or by a dotted path into objects (Keycloak's
    realm_access.roles). The whole name comes first: namespaced claims such as
    Auth0's https://example.com/roles have dots of their own."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def mapped_role(claims: dict) -> str | None:
    """The role the provider's groups or roles give; None when nobody may sign in."""
    found = _claim(claims, settings.OIDC_ROLE_CLAIM)
    values = {found} if isinstance(found, str) else set(found or [])
    roles = {settings.OIDC_ROLE_MAP[value] for value in values
             if isinstance(value, str) and value in settings.OIDC_ROLE_MAP}
    for role in ROLE_ORDER:
        if role in roles:
            return role
    default = settings.OIDC_DEFAULT_ROLE
    return None if default == "none" else default


@transaction.atomic
def account_for(claims: dict) -> User:
    """The account of this (issuer, subject): linked before, or made beforehand by an
    admin (linked now, once), or made now when allowed."""
    issuer, subject = claims["iss"], claims["sub"]
    role = mapped_role(claims)
    if role is None:
        raise SSOError(_("Your account at the sign-in provider is in no group that may use "
                         "Atalaia. Ask an admin."))
    user = User.objects.select_for_update().filter(sso_issuer=issuer,
                                                   sso_subject=subject).first()
    if user is None:
        user = _create(claims, role) if settings.OIDC_CREATE_ACCOUNTS \
            else _link_precreated(claims)
    if not user.is_active:
        raise SSOError(_("This account is deactivated. Ask an admin."))
    if settings.OIDC_ROLE_MAP and user.role != role:
        _follow_role(user, role)
    return user


def _username_of(claims: dict) -> str:
    name = _claim(claims, settings.OIDC_USERNAME_CLAIM)
    return (name if isinstance(name, str) and name else claims["sub"])[:150]


def _link_precreated(claims: dict) -> User:
    """The account an admin made for this person under their username at the provider,
    not yet linked to any identity. Only in pre-created mode: when accounts are made
    freely, a name alone must never hand over an existing account. The break-glass admin
    is never linked: it must keep working without the provider."""
    user = (User.objects.select_for_update()
            .filter(username=_username_of(claims), sso_subject="")
            .exclude(username=settings.BREAK_GLASS_ADMIN or None).first())
    if user is None:
        raise SSOError(_("There is no Atalaia account for you yet. Ask an admin to "
                         "create one with the username %(name)s.")
                       % {"name": _username_of(claims)})
    user.sso_issuer, user.sso_subject = claims["iss"], claims["sub"]
    user.save(update_fields=["sso_issuer", "sso_subject"])
    audit(user, "user.sso_link", "user", user.username, {"issuer": claims["iss"]})
    return user


def _create(claims: dict, role: str) -> User:
    base = _username_of(claims)
    username, n = base, 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"{base[:140]}-{n}"
    email = claims.get("email", "") if claims.get("email_verified") else ""
    user = User(username=username, email=email, role=role, sso_issuer=claims["iss"],
                sso_subject=claims["sub"], first_name=str(claims.get("given_name", ""))[:150],
                last_name=str(claims.get("family_name", ""))[:150])
    user.set_unusable_password()
    user.save()
    audit(user, "user.create", "user", username, {"role": role, "via": "sso"})
    return user


def _follow_role(user: User, role: str) -> None:
    """The provider's groups decide the role at each sign-in, as they do for other
    tools; the last admin is never demoted this way (nobody could undo it)."""
    try:
        set_role(user, role, None)
    except AccountError:
        return


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    roles = set(AccountRole.values)
    found: list[checks.CheckMessage] = []
    unknown = sorted(set(settings.OIDC_ROLE_MAP.values()) - roles)
    if unknown:
        found.append(checks.Error(
            f"ATALAIA_OIDC_ROLE_MAP names roles that do not exist: {', '.join(unknown)}",
            hint="Roles: " + ", ".join(sorted(roles)), id="accounts.E001"))
    if settings.OIDC_DEFAULT_ROLE not in roles | {"none"}:
        found.append(checks.Error(
            f"ATALAIA_OIDC_DEFAULT_ROLE: {settings.OIDC_DEFAULT_ROLE!r} is no role",
            hint="One of " + ", ".join(sorted(roles)) + ", or none", id="accounts.E002"))
    if settings.SSO_ONLY and not settings.BREAK_GLASS_ADMIN:
        found.append(checks.Warning(
            "ATALAIA_SSO_ONLY without ATALAIA_BREAK_GLASS_ADMIN: nobody can sign in while "
            "the provider is down", id="accounts.W001"))
    return found


def may_use_password(username: str) -> bool:
    return not settings.SSO_ONLY or (bool(settings.BREAK_GLASS_ADMIN)
                                     and username == settings.BREAK_GLASS_ADMIN)


class PasswordBackend(ModelBackend):
    """Passwords as usual, except in SSO-only mode, where only the break-glass admin
    still signs in with one."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is not None and not may_use_password(username):
            # PermissionDenied stops authenticate() at once, no other backend tried.
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and settings.SSO_ONLY:
            # Every use of the break-glass account is worth a look afterwards.
            audit(user, "user.break_glass_sign_in", "user", user.username)
        return user


def logout_url(end_session_endpoint: str, id_token: str) -> str:
    """The provider's end-session URL, which sends the person back to our login page."""
    params = {"id_token_hint": id_token, "client_id": settings.OIDC_CLIENT_ID,
              "post_logout_redirect_uri": settings.SITE_URL.rstrip("/") + LOGIN_PATH}
    return str(httpx.URL(end_session_endpoint).copy_merge_params(params))
