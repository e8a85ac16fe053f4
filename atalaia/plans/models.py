from django.conf import settings
from django.db import models


class PlanVersion(models.Model):
    """One version of the crisis plan. Importing makes a new one; one is active."""

    number = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=200)
    source = models.TextField()
    document = models.JSONField()
    schema_version = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["is_active"],
                                               condition=models.Q(is_active=True),
                                               name="one_active_plan")]

    def __str__(self) -> str:
        return f"v{self.number} {self.name}"

    @property
    def plan(self) -> dict:
        """The document in the current schema, whatever schema it was stored with."""
        from atalaia.plans.schema import migrate

        return migrate(self.document, self.schema_version)
