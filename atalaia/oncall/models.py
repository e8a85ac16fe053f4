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
