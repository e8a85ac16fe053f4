from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


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
    totp_secret = models.TextField(blank=True, default="")
    totp_confirmed = models.BooleanField(default=False)
    totp_required = models.BooleanField(default=False)

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
