"""On-call schedules: layers of rotations, their members, and one-off overrides.

What a schedule yields (who is on call when) is computed in `schedules.py`, never stored.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Schedule(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    time_zone = models.CharField(max_length=64, default="UTC")
    # Part of the private feed URL's token: raising it retires the old URL.
    feed_version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TurnUnit(models.TextChoices):
    HOURS = "hours", _("hours")
    DAYS = "days", _("days")
    WEEKS = "weeks", _("weeks")


class Layer(models.Model):
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=200)
    # A higher layer overrides a lower one wherever it has someone on call.
    position = models.IntegerField(default=1)
    rotation_start = models.DateTimeField()
    turn_unit = models.CharField(max_length=8, choices=TurnUnit.choices, default=TurnUnit.WEEKS)
    turn_count = models.PositiveIntegerField(default=1)
    # [{"days": [0..6], "start": "HH:MM", "end": "HH:MM"}] in the schedule's time zone;
    # an end at or before the start runs past midnight. Empty: around the clock.
    restrictions = models.JSONField(default=list, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-position", "pk"]

    def __str__(self) -> str:
        return self.name


class LayerMember(models.Model):
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="oncall_layers")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position", "pk"]


class Override(models.Model):
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="oncall_overrides")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "pk"]


class PersonFeed(models.Model):
    """The version in a person's private shifts-feed URL; a person raises it to reset it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="oncall_feed")
    version = models.PositiveIntegerField(default=1)


class Urgency(models.TextChoices):
    HIGH = "high", _("High urgency")
    LOW = "low", _("Low urgency")


class NotificationRule(models.Model):
    """How one person wants to be told of a page of one urgency: this method, this
    many minutes after the page. A person without rules for an urgency is told on
    every verified method at once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notification_rules")
    urgency = models.CharField(max_length=8, choices=Urgency.choices)
    method = models.ForeignKey("notify.ContactMethod", on_delete=models.CASCADE,
                               related_name="rules")
    delay_minutes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["user", "urgency", "delay_minutes", "pk"]
        constraints = [models.UniqueConstraint(fields=["user", "urgency", "method",
                                                       "delay_minutes"],
                                               name="one_rule_per_method_and_delay")]


class EscalationPolicy(models.Model):
    """Who is paged, in which order. `levels` is a list of
    {"targets": [{"kind": "person"|"schedule"|"team", "id": n}], "delay_minutes": n}:
    each level's targets are paged, and if nobody acknowledges within the delay the
    next level is. After the last level the policy starts over `repeats` times.

    Every change raises `version`; a running escalation keeps the version it
    started with (a copy of the levels), so editing a policy mid-crisis changes
    nothing already under way."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    # The policy the plan uses when it activates this team without naming one.
    team = models.ForeignKey("catalog.Team", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="escalation_policies")
    levels = models.JSONField(default=list)
    repeats = models.PositiveSmallIntegerField(default=0)
    # An acknowledgement lasts this long; then the page triggers again (0: forever).
    ack_timeout_minutes = models.PositiveIntegerField(default=30)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationStatus(models.TextChoices):
    ACTIVE = "active", _("Escalating")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    EXHAUSTED = "exhausted", _("Nobody answered")
    STOPPED = "stopped", _("Stopped")


class Escalation(models.Model):
    """One escalation policy running for one incident: a row with a due time that
    the worker claims (escalations.py). Holds a copy of the policy it runs."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE,
                                 related_name="escalations")
    policy = models.ForeignKey(EscalationPolicy, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="escalations")
    team = models.ForeignKey("catalog.Team", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    # {"name", "version", "levels", "repeats", "ack_timeout_minutes"} as started.
    snapshot = models.JSONField()
    urgency = models.CharField(max_length=8, choices=Urgency.choices)
    reason = models.CharField(max_length=200)
    level_index = models.PositiveSmallIntegerField(default=0)
    cycle = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=EscalationStatus.choices,
                              default=EscalationStatus.ACTIVE)
    next_step_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.snapshot.get('name', '?')} v{self.snapshot.get('version', '?')}"


class PageStatus(models.TextChoices):
    TRIGGERED = "triggered", _("Triggered")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    ESCALATED = "escalated", _("Escalated")
    RESOLVED = "resolved", _("Resolved")


class Page(models.Model):
    """Asks one person for attention and waits for an acknowledgement."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE,
                                 related_name="pages")
    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="pages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="pages")
    urgency = models.CharField(max_length=8, choices=Urgency.choices)
    level_index = models.PositiveSmallIntegerField()
    # What put this person on the level: "person", "schedule: Primary", "team: Support".
    via = models.CharField(max_length=250)
    status = models.CharField(max_length=16, choices=PageStatus.choices,
                              default=PageStatus.TRIGGERED)
    # Raised when an acknowledgement times out and the page triggers again; the
    # acknowledgement link carries it, so an old link cannot acknowledge a new round.
    round = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_via = models.CharField(max_length=16, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The page's notifications: acknowledging the page cancels the ones not yet sent,
    # and each result goes to the incident's timeline. Held here, not on the delivery:
    # the outbox knows nothing of paging.
    deliveries = models.ManyToManyField("notify.Delivery", through="PageDelivery",
                                        related_name="+")

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"page {self.pk} to {self.user}"


class PageDelivery(models.Model):
    """One notification of a page (a delivery belongs to one page at most)."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="+")
    delivery = models.OneToOneField("notify.Delivery", on_delete=models.CASCADE,
                                    related_name="+")
