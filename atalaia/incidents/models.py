from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from atalaia.catalog.models import Service
from atalaia.plans.models import PlanVersion


class Level(models.TextChoices):
    LOCALIZED = "localized", _("Localized failure")
    LARGE_SCALE = "large_scale", _("Large-scale failure")
    CRITICAL = "critical", _("Critical incident")


class Stage(models.TextChoices):
    ASSESSMENT = "assessment", _("Assessment")
    RESPONSE = "response", _("Response")
    RESOLUTION = "resolution", _("Resolution")
    REVIEW = "review", _("Review")
    CLOSED = "closed", _("Closed")


class PublicStatus(models.TextChoices):
    INVESTIGATING = "investigating", _("Investigating")
    IDENTIFIED = "identified", _("Identified")
    MONITORING = "monitoring", _("Monitoring")
    RESOLVED = "resolved", _("Resolved")


class Phase(models.TextChoices):
    """The five phases of the method; each has its own start and end time."""

    ASSESSMENT = "assessment", _("Detection and assessment")
    RESPONSE = "response", _("Immediate response")
    COMMUNICATION = "communication", _("Communication with users")
    RESOLUTION = "resolution", _("Resolution and restoration")
    REVIEW = "review", _("Post-crisis review")


class IncidentRole(models.TextChoices):
    """Who holds which duty in one crisis (not an account role)."""

    COMMANDER = "commander", _("Incident commander")
    TECHNICAL_LEAD = "technical_lead", _("Technical lead")
    COMMUNICATIONS_LEAD = "communications_lead", _("Communications lead")


class Incident(models.Model):
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    # The level in force, and the one the plan gave with its reason: both are
    # kept when a commander overrides.
    level = models.CharField(max_length=16, choices=Level.choices)
    plan_level = models.CharField(max_length=16, choices=Level.choices)
    plan_level_reason = models.TextField()
    # The rule and figures behind plan_level, to explain it in the reader's language.
    plan_level_details = models.JSONField(default=dict)
    level_override_reason = models.TextField(blank=True)
    plan_version = models.ForeignKey(PlanVersion, null=True, on_delete=models.PROTECT,
                                     related_name="incidents")
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.ASSESSMENT)
    public_status = models.CharField(max_length=16, choices=PublicStatus.choices,
                                     default=PublicStatus.INVESTIGATING)
    communication_open = models.BooleanField(default=True)
    confidential = models.BooleanField(default=False)
    security_risk = models.BooleanField(default=False)
    security_reason = models.TextField(blank=True)
    # Declared by the worker from a signal: clears to resolution when its signals do.
    auto_declared = models.BooleanField(default=False)
    # When every live signal of the incident was acknowledged at its source
    # (PagerDuty semantics): escalation stops from then on.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    services = models.ManyToManyField(Service, related_name="incidents", blank=True)
    impact = models.JSONField(default=dict)
    eta = models.DateTimeField(null=True, blank=True)
    root_cause = models.TextField(blank=True)
    permanent_fix = models.TextField(blank=True)
    # The fix in place is temporary: an action item tracks the permanent one.
    fix_is_temporary = models.BooleanField(default=False)
    # The verification gate (gate.py): the commander's sign-off, and a forced pass.
    signed_off_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    signed_off_at = models.DateTimeField(null=True, blank=True)
    gate_forced_reason = models.TextField(blank=True)
    gate_forced_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="+")
    declared_at = models.DateTimeField(db_index=True)
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                    on_delete=models.SET_NULL, related_name="+")
    participants = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True,
                                          related_name="incidents")
    # Head of the timeline's MAC chain; verify compares it with the last entry.
    head_mac = models.CharField(max_length=64, blank=True)
    entry_count = models.PositiveIntegerField(default=0)
    last_entry_at = models.DateTimeField(null=True, db_index=True)

    class Meta:
        ordering = ["-declared_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class PhaseWindow(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="phases")
    phase = models.CharField(max_length=16, choices=Phase.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "phase"],
                                               name="one_window_per_phase")]


class RoleAssignment(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=24, choices=IncidentRole.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    assigned_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "role"],
                                               name="one_holder_per_role")]


class ChecklistItem(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="checklist")
    phase = models.CharField(max_length=16, choices=Phase.choices)
    position = models.PositiveIntegerField()
    text_en = models.TextField()
    text_pt = models.TextField()
    owner_role = models.CharField(max_length=24, choices=IncidentRole.choices)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["phase", "position"]


class VerificationCheck(models.Model):
    """A manual check of the verification gate, from the plan: ticked by a member of a
    named team or by the holder of an incident role."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE,
                                 related_name="verification_checks")
    position = models.PositiveIntegerField()
    text_en = models.TextField()
    text_pt = models.TextField()
    team = models.CharField(max_length=63, blank=True)  # a team's slug
    role = models.CharField(max_length=24, blank=True, choices=IncidentRole.choices)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "position"]


class EntryKind(models.TextChoices):
    DECLARED = "declared", _("Declared")
    NOTE = "note", _("Note")
    ACTION = "action", _("Action")
    ATTEMPT = "attempt", _("Attempt")
    RESULT = "result", _("Result")
    LEVEL = "level", _("Level")
    IMPACT = "impact", _("Impact")
    STAGE = "stage", _("Stage")
    STATUS = "status", _("Public status")
    ROLE = "role", _("Incident role")
    ETA = "eta", _("ETA")
    CHECKLIST = "checklist", _("Checklist")
    VISIBILITY = "visibility", _("Visibility")
    SECURITY = "security", _("Security risk")
    RESOLUTION = "resolution", _("Root cause and fix")
    SIGNAL = "signal", _("Signal")
    PAGING = "paging", _("Paging")
    UPDATE = "update", _("Public update")
    COMPONENT = "component", _("Component state")
    TICKET = "ticket", _("Help-desk ticket")
    GATE = "gate", _("Verification gate")
    REVIEW = "review", _("Review")


class TimelineEntry(models.Model):
    """Append-only. Each entry's MAC covers its content and the previous MAC."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="entries")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    body = models.JSONField(default=dict)
    prev_mac = models.CharField(max_length=64)
    mac = models.CharField(max_length=64)
    # The id of the key that made the MAC (atalaia/lib/crypto.py); empty before key ids.
    mac_key_id = models.CharField(max_length=8, blank=True, default="")

    class Meta:
        ordering = ["incident", "seq"]
        constraints = [models.UniqueConstraint(fields=["incident", "seq"],
                                               name="one_entry_per_seq")]
