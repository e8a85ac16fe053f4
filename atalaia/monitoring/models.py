import uuid
from datetime import datetime

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
    # Confirmation across probe locations: down only when this many locations
    # (or every location that reports, if fewer do) see it down.
    locations_required = models.PositiveSmallIntegerField(default=1)
    # Set while the monitor changes state too often; its signals pause meanwhile.
    flapping = models.BooleanField(default=False)
    # Latency (or run time) against its own baseline; see docs/monitoring.md.
    anomaly_detection = models.BooleanField(default=True)
    anomaly_k = models.PositiveSmallIntegerField(default=5)
    anomaly_m = models.PositiveSmallIntegerField(default=6)
    # The baseline last computed, and the deviation it shows now (if any).
    baseline = models.JSONField(default=dict, blank=True)
    anomaly = models.JSONField(default=dict, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["service__slug", "name"]

    def __str__(self) -> str:
        return f"{self.service.slug}: {self.name}"

    @property
    def dedup_key(self) -> str:
        return f"monitor-{self.pk}"


class ProbeState(models.Model):
    """One location's view of one monitor, and the lease of the prober that checks it.

    A prober renews the leases it holds; a lease that is not renewed expires and
    another prober of that location takes the monitor over. The counters carry
    the confirmation (N failures to count as down, M successes to count as up)."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="probes")
    location = models.CharField(max_length=64)
    holder = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=MonitorState.choices,
                             default=MonitorState.UNKNOWN)
    failures = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=1024, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["monitor", "location"],
                                               name="one_probe_per_location")]


class CheckRecord(models.Model):
    """One raw check result, kept for MONITOR_RAW_DAYS days; rolled up before that."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="+")
    location = models.CharField(max_length=64)
    checked_at = models.DateTimeField()
    state = models.CharField(max_length=8)
    latency_ms = models.FloatField(null=True)
    message = models.CharField(max_length=255, blank=True)  # only when not up

    class Meta:
        indexes = [models.Index(fields=["monitor", "checked_at"]),
                   models.Index(fields=["checked_at"])]


class Rollup(models.Model):
    """Results of one monitor over one hour or one day, across its locations."""

    HOUR, DAY = "hour", "day"
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="rollups")
    period = models.CharField(max_length=4, choices=[(HOUR, HOUR), (DAY, DAY)])
    starts_at = models.DateTimeField()
    checks = models.PositiveIntegerField(default=0)
    up = models.PositiveIntegerField(default=0)
    degraded = models.PositiveIntegerField(default=0)
    down = models.PositiveIntegerField(default=0)
    latency_p50 = models.FloatField(null=True)
    latency_p95 = models.FloatField(null=True)
    latency_p99 = models.FloatField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["monitor", "period", "starts_at"],
                                               name="one_rollup_per_period")]
        indexes = [models.Index(fields=["period", "starts_at"])]

    @property
    def availability(self) -> float | None:
        """Share of checks not down (degraded counts as available)."""
        return (self.up + self.degraded) / self.checks if self.checks else None


class StateChange(models.Model):
    """A monitor's state over time: for flapping, the status page and reports."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField()
    previous = models.CharField(max_length=16)
    state = models.CharField(max_length=16)
    message = models.CharField(max_length=1024, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["monitor", "at"])]


class Recurrence(models.TextChoices):
    NONE = "none", _("Once")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class MaintenanceWindow(models.Model):
    """Planned work on services: their signals are recorded but page no one.

    `starts_at` is the first occurrence; recurring windows repeat at the same
    wall-clock time in `time_zone` (so 02:00 stays 02:00 across daylight saving)."""

    title = models.CharField(max_length=200)
    services = models.ManyToManyField(Service, related_name="maintenance_windows")
    starts_at = models.DateTimeField()
    duration_minutes = models.PositiveIntegerField()
    time_zone = models.CharField(max_length=64, default="UTC")
    recurrence = models.CharField(max_length=8, choices=Recurrence.choices,
                                  default=Recurrence.NONE)
    weekdays = models.JSONField(default=list, blank=True)  # weekly: 0 = Monday … 6 = Sunday
    until = models.DateTimeField(null=True, blank=True)  # recurring: no occurrence after this
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return self.title


class ProcessBeat(models.Model):
    """A running worker or prober reports itself here; /healthz reads it.

    In the database, not on disk, so any web process on any machine can tell
    whether the workers and probers elsewhere are alive."""

    kind = models.CharField(max_length=16)
    name = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Made by the web app before the prober's leases needed it; the table kept its name.
        db_table = "web_processbeat"

    @classmethod
    def report(cls, name: str, kind: str, now: datetime, stopped: bool = False) -> None:
        """A worker or prober reports itself alive (or stopped) at `now`."""
        cls.objects.update_or_create(name=name, defaults={
            "kind": kind, "seen_at": now, "stopped_at": now if stopped else None},
            create_defaults={"kind": kind, "started_at": now, "seen_at": now})
