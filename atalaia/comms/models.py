"""Communication with users: public updates, component states, scheduled maintenance,
subscribers, company channels, and the broadcasts that fan an update out to them.

Words as in the Atlassian Statuspage API where the public sees them (component and
maintenance statuses), so that tools that read Statuspage pages read ours.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from atalaia.catalog.models import Service
from atalaia.lib.crypto import EncryptedTextField


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", _("Operational")
    DEGRADED = "degraded_performance", _("Degraded performance")
    PARTIAL = "partial_outage", _("Partial outage")
    MAJOR = "major_outage", _("Major outage")
    MAINTENANCE = "under_maintenance", _("Under maintenance")


class ComponentState(models.Model):
    """One period of one component's public state; the current one has no end.
    The history feeds the 90-day bars where no monitor roll-ups exist."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="public_states")
    status = models.CharField(max_length=24, choices=ComponentStatus.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    update = models.ForeignKey("Update", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="component_states")

    class Meta:
        ordering = ["service", "started_at"]
        indexes = [models.Index(fields=["service", "ended_at"])]


class Update(models.Model):
    """A public communication about an incident, written once, rendered for every
    channel and both languages."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE,
                                 related_name="updates")
    status = models.CharField(max_length=16)  # the incident's public status it announces
    body_en = models.TextField()
    body_pt = models.TextField()
    eta = models.DateTimeField(null=True, blank=True)  # none: "unknown"
    # [{"service": slug, "name": ..., "status": ComponentStatus}] as set by this update.
    components = models.JSONField(default=list)
    published_at = models.DateTimeField(db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="+")
    # A correction keeps what was said before: [{"at", "by", "body_en", "body_pt"}].
    corrected_at = models.DateTimeField(null=True, blank=True)
    previous = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-published_at", "-pk"]

    def body(self, language: str) -> str:
        return self.body_pt if language.lower().startswith("pt") else self.body_en


class MaintenanceStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    IN_PROGRESS = "in_progress", _("In progress")
    VERIFYING = "verifying", _("Verifying")
    COMPLETED = "completed", _("Completed")


class Maintenance(models.Model):
    """Scheduled maintenance as the public sees it. Started and completed at its
    times by the worker unless a person has moved it (`automatic` goes False)."""

    title_en = models.CharField(max_length=200)
    title_pt = models.CharField(max_length=200)
    body_en = models.TextField(blank=True)
    body_pt = models.TextField(blank=True)
    components = models.ManyToManyField(Service, related_name="public_maintenances")
    scheduled_for = models.DateTimeField(db_index=True)
    scheduled_until = models.DateTimeField()
    status = models.CharField(max_length=16, choices=MaintenanceStatus.choices,
                              default=MaintenanceStatus.SCHEDULED)
    automatic = models.BooleanField(default=True)
    # iCalendar SEQUENCE: raised on every change a calendar should notice.
    sequence = models.PositiveIntegerField(default=0)
    reminded_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["scheduled_for", "pk"]

    def title(self, language: str) -> str:
        return self.title_pt if language.lower().startswith("pt") else self.title_en

    def body(self, language: str) -> str:
        return self.body_pt if language.lower().startswith("pt") else self.body_en


class SubscriberKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Webhook")


class Subscriber(models.Model):
    """Someone who asked to hear about some components (all when none are chosen),
    or about one incident, on one channel, in one language."""

    kind = models.CharField(max_length=8, choices=SubscriberKind.choices)
    target = EncryptedTextField()  # the address or URL
    hint = models.CharField(max_length=120)
    # sha256 of the normalized address: uniqueness and rate limits without decrypting.
    digest = models.CharField(max_length=64, db_index=True)
    language = models.CharField(max_length=8, default="en")
    components = models.ManyToManyField(Service, blank=True, related_name="subscribers")
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="subscribers")
    secret = EncryptedTextField()  # signs webhook bodies; part of manage links
    confirmed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    imported = models.BooleanField(default=False)

    class Meta:
        ordering = ["pk"]


class ChannelKind(models.TextChoices):
    SOCIAL = "social", _("Social network")
    CHAT = "chat", _("Chat")
    PUSH = "push", _("App push")


class CompanyChannel(models.Model):
    """A company account every update is broadcast to, as an Apprise URL (Mastodon,
    Bluesky, X, Slack, Teams, Telegram, Discord, ntfy, …)."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=ChannelKind.choices)
    target = EncryptedTextField()  # an Apprise URL
    hint = models.CharField(max_length=120)
    # The longest message the network takes (Mastodon 500, Bluesky 300, X 280, SMS 160);
    # 0: no limit.
    max_length = models.PositiveIntegerField(default=0)
    language = models.CharField(max_length=8, default="pt-br")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BroadcastStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    # Expansion kept failing: set aside with its error until someone retries it.
    QUARANTINED = "quarantined", _("Set aside after repeated failures")


class Broadcast(models.Model):
    """One channel of one public message: a constant amount of work when an update
    is published, expanded by the worker into deliveries in batches. `cursor` is
    the last subscriber done, so a worker that dies mid-way is resumed, not redone."""

    update = models.ForeignKey(Update, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="broadcasts")
    maintenance = models.ForeignKey(Maintenance, null=True, blank=True,
                                    on_delete=models.CASCADE, related_name="broadcasts")
    event = models.CharField(max_length=24)  # update, correction, announced, started, completed
    audience = models.CharField(max_length=8)  # email, webhook, channel
    channel = models.ForeignKey(CompanyChannel, null=True, blank=True,
                                on_delete=models.CASCADE, related_name="broadcasts")
    status = models.CharField(max_length=16, choices=BroadcastStatus.choices,
                              default=BroadcastStatus.PENDING)
    cursor = models.BigIntegerField(default=0)
    # Expansion that failed: attempts, when to try again, the last error.
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    queued = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["status", "created_at"])]


class TicketLink(models.Model):
    """A help-desk ticket linked to an incident (its count goes to the review)."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE,
                                 related_name="tickets")
    system = models.CharField(max_length=50, blank=True)
    reference = models.CharField(max_length=200)
    url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["incident", "system", "reference"],
                                               name="one_link_per_ticket")]


class StatusVersion(models.Model):
    """One row whose number goes up with every change the public can see: every web
    process compares it with the version of its cached pages (status/cache.py)."""

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)
