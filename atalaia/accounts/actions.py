import secrets

from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from atalaia.accounts import twofactor
from atalaia.accounts.models import AccountRole, ApiToken, AuditEvent, RecoveryCode, User
from atalaia.lib.crypto import sha256_hex

TOKEN_PREFIX = "atl_"


def audit(actor: User | None, action: str, obj_type: str, obj_repr: str,
          changes: dict | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor and actor.pk else None,
        actor_name=actor.username if actor else "system",
        action=action, object_type=obj_type, object_repr=str(obj_repr)[:200],
        changes=changes or {},
    )


@transaction.atomic
def create_token(user: User, name: str, actor: User | None = None) -> tuple[ApiToken, str]:
    """Make a token; the plain value is returned once and only its digest is kept."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:100] or "token",
                                    prefix=plain[:12], digest=sha256_hex(plain))
    audit(actor or user, "token.create", "api_token", f"{user.username}: {token}")
    return token, plain


@transaction.atomic
def revoke_token(token: ApiToken, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit(actor, "token.revoke", "api_token", f"{token.user.username}: {token}")


def user_for_token(plain: str) -> User | None:
    if not plain.startswith(TOKEN_PREFIX):
        return None
    token = (ApiToken.objects.select_related("user")
             .filter(digest=sha256_hex(plain), revoked_at__isnull=True).first())
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Write last use at most once a minute: a busy integration should not
    # turn every API call into a write.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


class AccountError(Exception):
    """A change to an account that is refused; the message says why, for the person."""


def _keep_an_admin(user: User) -> None:
    """Refuse to leave the instance without an active admin: nobody could undo that.

    Every admin row is locked, so two admins demoting each other at once cannot both
    succeed (the second waits, then sees the first one's change)."""
    admins = set(User.objects.select_for_update().filter(
        role=AccountRole.ADMIN, is_active=True).values_list("pk", flat=True))
    if admins == {user.pk}:
        raise AccountError(_("%(name)s is the last admin: make someone else admin first.")
                           % {"name": user.username})


@transaction.atomic
def set_role(user: User, role: str, actor: User | None) -> None:
    old = user.role
    if role != AccountRole.ADMIN:
        _keep_an_admin(user)
    user.role = role
    user.save(update_fields=["role"])
    audit(actor, "user.role", "user", user.username, {"role": [old, role]})


@transaction.atomic
def set_active(user: User, active: bool, actor: User | None) -> None:
    """Deactivate or reactivate an account. An inactive account cannot sign in, its
    sessions end at their next request and its API tokens stop working."""
    if user.is_active == active:
        return
    if not active:
        _keep_an_admin(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit(actor, "user.activate" if active else "user.deactivate", "user", user.username)


def make_password() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def reset_password(user: User, actor: User | None, password: str | None = None) -> str:
    """Give the account a new password and return it, to be shown once. Without one,
    a random one is made. The person's open sessions end: Django ties a session to
    the password it was opened with."""
    plain = password or make_password()
    validate_password(plain, user)
    user.set_password(plain)
    user.save(update_fields=["password"])
    audit(actor, "user.password_reset", "user", user.username)
    return plain


@transaction.atomic
def reset_two_factor(user: User, actor: User | None) -> None:
    """Forget the person's TOTP secret (a lost phone): at their next sign-in they
    enrol again if their account needs it, or sign in with the password alone."""
    user.totp_secret = ""
    user.totp_confirmed = False
    user.save(update_fields=["totp_secret", "totp_confirmed"])
    user.recovery_codes.all().delete()
    audit(actor, "user.2fa_reset", "user", user.username)


@transaction.atomic
def set_totp_required(user: User, required: bool, actor: User | None) -> None:
    user.totp_required = required
    user.save(update_fields=["totp_required"])
    audit(actor, "user.2fa_required", "user", user.username, {"totp_required": required})


def begin_totp_enrolment(user: User) -> None:
    """Make the pending secret of an enrolment, once: it is kept until the person
    confirms it or starts again, so every page that shows it shows the same one."""
    if not user.totp_confirmed and not user.totp_secret:
        restart_totp_enrolment(user)


@transaction.atomic
def restart_totp_enrolment(user: User) -> None:
    if user.totp_confirmed:
        raise AccountError(_("Two-factor authentication is already on; an admin can "
                             "reset it."))
    twofactor.start_enrolment(user)


@transaction.atomic
def confirm_totp(user: User) -> list[str]:
    """Two-factor is on; the recovery codes made with it are returned, to be shown once."""
    user.totp_confirmed = True
    user.save(update_fields=["totp_confirmed"])
    audit(user, "user.2fa_enrol", "user", user.username)
    return _new_recovery_codes(user)


@transaction.atomic
def regenerate_recovery_codes(user: User, actor: User) -> list[str]:
    """A new set of recovery codes; the old set stops working."""
    if not user.totp_confirmed:
        raise AccountError(_("Turn on two-factor authentication first."))
    codes = _new_recovery_codes(user)
    audit(actor, "user.recovery_codes", "user", user.username)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    user.recovery_codes.all().delete()
    codes = twofactor.new_recovery_codes()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, digest=twofactor.recovery_digest(code)) for code in codes)
    return codes


@transaction.atomic
def use_recovery_code(user: User, code: str) -> bool:
    """Spend one recovery code in place of an authenticator code: good once."""
    used = RecoveryCode.objects.filter(user=user, digest=twofactor.recovery_digest(code),
                                       used_at__isnull=True).update(used_at=timezone.now())
    if used:
        audit(user, "user.recovery_code_used", "user", user.username,
              {"left": recovery_codes_left(user)})
    return bool(used)


def recovery_codes_left(user: User) -> int:
    return user.recovery_codes.filter(used_at__isnull=True).count()


@transaction.atomic
def create_user(username: str, password: str, role: str, actor: User | None = None,
                email: str = "") -> User:
    user = User.objects.create_user(username=username, password=password, role=role,
                                    email=email)
    audit(actor, "user.create", "user", username, {"role": role})
    return user
