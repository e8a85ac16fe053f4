from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from atalaia.lib.crypto import EncryptedTextField


class AccountRole(models.TextChoices):
    """What a user may do in Atalaia (not to be confused with incident roles)."""

    ADMIN = "admin", _("Admin")
    COMMANDER = "commander", _("Commander")
    RESPONDER = "responder", _("Responder")
    COMMUNICATOR = "communicator", _("Communicator")
    VIEWER = "viewer", _("Viewer")


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=AccountRole.choices,
                            default=AccountRole.VIEWER)
    language = models.CharField(max_length=8, blank=True, default="")
    # The TOTP secret, encrypted with the instance key (atalaia.lib.crypto).
    totp_secret = EncryptedTextField(blank=True, default="")
    totp_confirmed = models.BooleanField(default=False)
    totp_required = models.BooleanField(default=False)
    # The time step of the last TOTP code accepted: a code is good once, so one seen
    # over a shoulder or in a proxy log cannot sign in again (accounts/twofactor.py).
    totp_last_step = models.BigIntegerField(default=0)
    # The OpenID Connect identity this account signs in with (accounts/sso.py): the
    # provider's issuer and its stable subject; empty for password accounts.
    sso_issuer = models.CharField(max_length=255, blank=True, default="")
    sso_subject = models.CharField(max_length=255, blank=True, default="")

    class Meta(AbstractUser.Meta):
        constraints = [models.UniqueConstraint(
            fields=["sso_issuer", "sso_subject"], condition=~models.Q(sso_subject=""),
            name="one_account_per_sso_identity")]

    @property
    def needs_totp(self) -> bool:
        from django.conf import settings

        return (self.role == AccountRole.ADMIN or self.totp_required
                or settings.REQUIRE_2FA_FOR_ALL)


class ApiToken(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The first characters, shown in lists so a token can be recognised.
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditEvent(models.Model):
    """A configuration change: catalog, plan, users, roles, tokens."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]


class TokenBucket(models.Model):
    """The state of one rate-limit bucket (accounts/limits.py), written by raw upserts."""

    key = models.CharField(max_length=64, primary_key=True)  # sha256 of rule and key
    tokens = models.FloatField()
    stamp = models.FloatField()  # time.time() of the last take
    full_at = models.FloatField(db_index=True)  # when the bucket is full again: prunable
    allowed = models.BooleanField(default=True)  # whether the last take was allowed


class Lockout(models.Model):
    """Failed sign-ins under one normalised username (accounts/signin.py): the count
    that locks, and the lock. Kept for names with no account too, so that a locked
    name answers the same whether or not it exists; keyed by a hash of the name, so
    the table does not keep what people typed."""

    key = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    failures = models.PositiveIntegerField(default=0)  # since the last success or lock
    last_failure_at = models.DateTimeField(null=True, blank=True)
    lockouts = models.PositiveIntegerField(default=0)  # recent locks: each one is longer
    locked_until = models.DateTimeField(null=True, blank=True, db_index=True)
    reason = models.CharField(max_length=16, blank=True, default="")  # password, two-factor


class RecoveryCode(models.Model):
    """A one-time code that stands in for the authenticator app (a lost phone). Only
    its SHA-256 is kept: the code is 80 random bits, too many to try offline, so a
    slow hash would add nothing but a slower sign-in."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
