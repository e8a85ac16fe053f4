import secrets

from django.db import transaction
from django.utils import timezone

from atalaia.accounts.models import ApiToken, AuditEvent, User
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


@transaction.atomic
def set_role(user: User, role: str, actor: User) -> None:
    old = user.role
    user.role = role
    user.save(update_fields=["role"])
    audit(actor, "user.role", "user", user.username, {"role": [old, role]})


@transaction.atomic
def create_user(username: str, password: str, role: str, actor: User | None = None,
                email: str = "") -> User:
    user = User.objects.create_user(username=username, password=password, role=role,
                                    email=email)
    audit(actor, "user.create", "user", username, {"role": role})
    return user
