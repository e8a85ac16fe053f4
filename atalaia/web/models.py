from django.db import models


class JobState(models.Model):
    """How each of the worker's jobs (atalaia/lib/jobs.py) fares: written by the
    workers, read by /healthz, /metrics and the console of any process."""

    name = models.CharField(max_length=100, unique=True)
    lane = models.CharField(max_length=16)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)  # since the database was made
    failing = models.PositiveIntegerField(default=0)  # in a row, until the next success
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
