from django.db import models


class ProcessBeat(models.Model):
    """A running worker or prober reports itself here; /healthz reads it.

    In the database, not on disk, so any web process on any machine can tell
    whether the workers and probers elsewhere are alive."""

    kind = models.CharField(max_length=16)
    name = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
