from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

SLUG_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"


class Criticality(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class Segment(models.Model):
    """A group of users with a size; segments are disjoint, so their sizes add up."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    users = models.PositiveBigIntegerField()
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Service(models.Model):
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    criticality = models.CharField(max_length=10, choices=Criticality.choices,
                                   default=Criticality.MEDIUM)
    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="services")
    hosts = models.JSONField(default=list, blank=True)
    # Shown as a component of the public status page, under this group.
    is_component = models.BooleanField(default=False)
    component_group = models.CharField(max_length=100, blank=True)
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True,
                                        through="Dependency", related_name="dependents")
    segments = models.ManyToManyField(Segment, through="ServiceSegment", blank=True,
                                      related_name="services")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Dependency(models.Model):
    """`service` needs `target`: when target fails, service is compromised."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="dependency_rows")
    target = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="dependent_rows")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "target"],
                                               name="unique_dependency")]


class ServiceSegment(models.Model):
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="segment_rows")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="service_rows")
    # The share of the segment that uses the service (1 = everyone in it).
    share = models.FloatField(default=1.0,
                              validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "segment"],
                                               name="unique_service_segment")]


class CatalogVersion(models.Model):
    """One row whose counter moves on every catalog change, so every process
    knows when its in-memory service graph is stale."""

    number = models.PositiveBigIntegerField(default=0)

    @classmethod
    def bump(cls) -> None:
        obj, _ = cls.objects.get_or_create(pk=1)
        cls.objects.filter(pk=1).update(number=models.F("number") + 1)

    @classmethod
    def current(cls) -> int:
        return cls.objects.filter(pk=1).values_list("number", flat=True).first() or 0
