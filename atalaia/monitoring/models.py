import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from atalaia.catalog.models import Service


class MonitorKind(models.TextChoices):
    HTTP = "http", "HTTP(S)"
    TCP = "tcp", "TCP"
    PING = "ping", "ICMP ping"
    SMTP = "smtp", "SMTP"
    POSTGRESQL = "postgresql", "PostgreSQL"
    MYSQL = "mysql", "MySQL"
    DNS = "dns", "DNS"
    TLS = "tls", _("TLS certificate expiry")
    HEARTBEAT = "heartbeat", _("Heartbeat")


class MonitorState(models.TextChoices):
    UP = "up", _("Up")
    DEGRADED = "degraded", _("Degraded")
    DOWN = "down", _("Down")
    PAUSED = "paused", _("Paused")
    UNKNOWN = "unknown", _("Unknown")


class Monitor(models.Model):
    """A check of a service. Heartbeat monitors are checked by their pings: a cron
    job or batch run calls /ping/<key> and is late after interval + grace."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="monitors")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=MonitorKind.choices)
    config = models.JSONField(default=dict, blank=True)
    interval_seconds = models.PositiveIntegerField(default=60)
    retry_interval_seconds = models.PositiveIntegerField(default=20)
    timeout_seconds = models.FloatField(default=10.0)
    failures_to_down = models.PositiveSmallIntegerField(default=3)
    successes_to_up = models.PositiveSmallIntegerField(default=2)
    severity = models.CharField(max_length=16, default="critical")
    paused = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=MonitorState.choices,
                             default=MonitorState.UNKNOWN)
    state_since = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=1024, blank=True)
    # Heartbeats
    ping_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    grace_seconds = models.PositiveIntegerField(default=300)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    run_started_at = models.DateTimeField(null=True, blank=True)
    last_run_seconds = models.FloatField(null=True, blank=True)
    # When a silent heartbeat becomes late; the worker looks for these.
    deadline_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["service__slug", "name"]

    def __str__(self) -> str:
        return f"{self.service.slug}: {self.name}"

    @property
    def dedup_key(self) -> str:
        return f"monitor-{self.pk}"
