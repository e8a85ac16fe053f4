from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from atalaia.catalog.models import Service


class IntegrationKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    PAGERDUTY = "pagerduty", _("PagerDuty Events API v2")
    GENERIC = "generic", _("Generic JSON webhook")


class Integration(models.Model):
    """A source of external events, with its own secret key (stored hashed)."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=IntegrationKind.choices)
    key_digest = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=12)
    # Signals that name no known service are attached to this one.
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="integrations")
    rate_per_minute = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Severity(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    ERROR = "error", _("Error")
    WARNING = "warning", _("Warning")
    INFO = "info", _("Info")


class SignalStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


class Signal(models.Model):
    """One problem reported from outside (or by a monitor), identified by its dedup key.

    Repeats bump `count` and `last_seen_at`; a trigger after a resolve opens a new row."""

    integration = models.ForeignKey(Integration, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="signals")
    source = models.CharField(max_length=32)
    dedup_key = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=SignalStatus.choices,
                              default=SignalStatus.OPEN)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="signals")
    summary = models.CharField(max_length=1024)
    details = models.JSONField(default=dict)
    links = models.JSONField(default=list)
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="signals")
    # A person decided this signal needs no incident.
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    # Raised while a maintenance window covered its service: recorded, pages no one.
    in_maintenance = models.BooleanField(default=False)
    # Set when the worker has grouped the latest change into an incident (or the inbox).
    needs_grouping = models.BooleanField(default=True, db_index=True)
    # Grouping that keeps failing on this signal: attempts, when to try again, and,
    # after ROW_MAX_ATTEMPTS, quarantine: no more automatic attempts, the error shown
    # in the inbox, so that one bad signal never stops the others.
    grouping_attempts = models.PositiveSmallIntegerField(default=0)
    grouping_retry_at = models.DateTimeField(null=True, blank=True)
    grouping_error = models.TextField(blank=True)
    quarantined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [models.UniqueConstraint(
            fields=["source", "integration", "dedup_key"],
            condition=~Q(status="resolved"), name="one_live_signal_per_key")]


class ChangeEvent(models.Model):
    """Something that changed (a deploy, a configuration push): shown in the incident
    room as what changed before the trouble started."""

    integration = models.ForeignKey(Integration, null=True, on_delete=models.SET_NULL)
    summary = models.CharField(max_length=1024)
    source = models.CharField(max_length=255, blank=True)
    happened_at = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)
    details = models.JSONField(default=dict)
    links = models.JSONField(default=list)

    class Meta:
        ordering = ["-happened_at"]
