"""Remote diagnostics and fixes: SSH hosts with pinned host keys, credentials kept
encrypted, versioned runbooks, and runs whose every output is kept with the incident."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from atalaia.catalog.models import Service
from atalaia.lib.crypto import EncryptedTextField


class Credential(models.Model):
    """A private key (ed25519 or RSA, maybe with a passphrase) or an SSH agent socket.
    The key and passphrase are stored encrypted and never shown back."""

    name = models.CharField(max_length=100, unique=True)
    private_key = EncryptedTextField(blank=True)
    passphrase = EncryptedTextField(blank=True)
    agent_path = models.CharField(max_length=500, blank=True)
    public_fingerprint = models.CharField(max_length=100, blank=True)
    # Account roles that may run steps with it.
    allowed_roles = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Host(models.Model):
    """A host of a service. Connections require the pinned host key: an admin trusts
    it once (*trust this host*), and a changed key is refused."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="ssh_hosts")
    name = models.CharField(max_length=200)  # as in the catalog's hosts list
    address = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=22)
    username = models.CharField(max_length=100)
    credential = models.ForeignKey(Credential, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="hosts")
    jump = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    host_key = models.TextField(blank=True)  # the pinned key, one OpenSSH line
    host_key_fingerprint = models.CharField(max_length=100, blank=True)
    trusted_at = models.DateTimeField(null=True, blank=True)
    trusted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["service", "name"]
        constraints = [models.UniqueConstraint(fields=["service", "name"],
                                               name="one_host_name_per_service")]

    def __str__(self) -> str:
        return f"{self.name} ({self.address}:{self.port})"


class Runbook(models.Model):
    """Steps to diagnose or fix a service over SSH; each import is a new version."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="runbooks")
    version = models.PositiveIntegerField(default=1)
    source = models.TextField()  # the YAML as imported
    steps = models.JSONField(default=list)  # checked, see runbooks.py
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class RunbookVersion(models.Model):
    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.TextField()
    steps = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["runbook", "-number"]
        constraints = [models.UniqueConstraint(fields=["runbook", "number"],
                                               name="one_runbook_version_number")]


class StepKind(models.TextChoices):
    DIAGNOSTIC = "diagnostic", _("Diagnostic (read-only)")
    CHANGE = "change", _("Change (needs approval)")


class RunStatus(models.TextChoices):
    AWAITING = "awaiting_approval", _("Awaiting approval")
    REJECTED = "rejected", _("Rejected")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    UNKNOWN = "outcome_unknown", _("Outcome unknown")


class Run(models.Model):
    """One step (or an ad-hoc command) on one host or on every host of the affected
    services. A change runs at most once: a run interrupted by a crash is marked
    *outcome unknown* and never retried."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE,
                                 related_name="runs")
    runbook = models.ForeignKey(Runbook, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="runs")
    runbook_version = models.PositiveIntegerField(null=True, blank=True)
    step = models.CharField(max_length=200)  # the step's name, or "ad-hoc"
    kind = models.CharField(max_length=12, choices=StepKind.choices)
    command = models.TextField()  # as run: the template filled with quoted parameters
    params = models.JSONField(default=dict)
    timeout = models.PositiveIntegerField(default=30)
    concurrency = models.PositiveIntegerField(default=10)
    status = models.CharField(max_length=20, choices=RunStatus.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                     on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker that runs it renews this; a running run whose lease ran out was
    # interrupted (its outcome is unknown).
    lease_until = models.DateTimeField(null=True, blank=True)
    is_fix = models.BooleanField(default=False)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["status", "requested_at"])]


class HostResult(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    OK = "ok", _("Succeeded")
    FAILED = "failed", _("Failed")
    TIMEOUT = "timeout", _("Timed out")
    ERROR = "error", _("Could not run")
    UNKNOWN = "unknown", _("Outcome unknown")


class RunHost(models.Model):
    """What one host said during a run."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="hosts")
    host = models.ForeignKey(Host, null=True, on_delete=models.SET_NULL, related_name="+")
    host_name = models.CharField(max_length=300)
    status = models.CharField(max_length=12, choices=HostResult.choices,
                              default=HostResult.QUEUED)
    exit_status = models.IntegerField(null=True, blank=True)
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    truncated = models.BooleanField(default=False)
    full_output = models.BinaryField(blank=True, default=b"")
    recording = models.TextField(blank=True)  # asciicast v2
    live = models.TextField(blank=True)  # output so far, while it runs
    error = models.TextField(blank=True)
    duration = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "host_name"]
