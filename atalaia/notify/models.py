from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from atalaia.lib.crypto import EncryptedTextField


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    APPRISE = "apprise", _("Apprise URL")
    WEBHOOK = "webhook", _("Signed webhook")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Failed for good")
    CANCELLED = "cancelled", _("Cancelled")


class Delivery(models.Model):
    """One message to one recipient on one channel: the outbox.

    Written in the same transaction as the change that causes it, so nothing is
    lost between "committed" and "queued"; the worker sends it (atalaia/notify/outbox.py)."""

    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.CharField(max_length=200)  # who, for people to read: a name or address
    # The e-mail address, or the Apprise URL, encrypted: Apprise URLs carry tokens.
    target = EncryptedTextField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # Extra headers: List-Unsubscribe for e-mail, the signature for a signed webhook.
    headers = models.JSONField(default=dict, blank=True)
    # page, update, verification, …: who queued it hears its results (outbox.on_result)
    purpose = models.CharField(max_length=32, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Lower goes first: a page must not wait behind an update to 10,000 subscribers.
    priority = models.PositiveSmallIntegerField(default=1)
    next_attempt_at = models.DateTimeField(db_index=True)
    sending_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "priority", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient}: {self.subject}"


class ContactMethod(models.Model):
    """One way to reach a person: an e-mail address or an Apprise URL. Usable for
    paging only once verified, by a code sent through it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="contact_methods")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    label = models.CharField(max_length=100)
    target = EncryptedTextField()  # as in Delivery
    hint = models.CharField(max_length=120)  # what the console shows: never the whole target
    verified_at = models.DateTimeField(null=True, blank=True)
    code_digest = models.CharField(max_length=64, blank=True)
    code_sent_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    codes_sent = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.hint})"


class CaughtMail(models.Model):
    """A message the demo's mail catcher received (`atalaia mailcatcher`), kept for the
    console instead of being delivered anywhere."""

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sender = models.CharField(max_length=300)
    recipients = models.TextField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # The idempotency key of the delivery it came from ("" for mail Atalaia did not send).
    delivery_key = models.CharField(max_length=200, blank=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
