"""The worker's job ledger, in the database (JobState), and the web app's own job."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F

from atalaia.lib import jobs
from atalaia.web.health import watchdog_step
from atalaia.web.models import JobState


class DatabaseLedger:
    def record(self, job: jobs.Job, at: datetime, error: str) -> None:
        fields: dict[str, object]
        if error:
            fields = {"last_failed_at": at, "last_error": error, "failures": F("failures") + 1,
                      "failing": F("failing") + 1}
        else:
            fields = {"last_ok_at": at, "failing": 0}
        if not JobState.objects.filter(name=job.name).update(lane=job.lane, last_run_at=at,
                                                             **fields):
            self._create(job)
            JobState.objects.filter(name=job.name).update(lane=job.lane, last_run_at=at,
                                                          **fields)

    def _create(self, job: jobs.Job) -> None:
        try:
            with transaction.atomic():
                JobState.objects.create(name=job.name, lane=job.lane)
        except IntegrityError:
            pass  # another worker made it first

    def states(self) -> list[jobs.JobStatus]:
        return [jobs.JobStatus(s.name, s.lane, s.failures, s.failing, s.last_ok_at,
                               s.last_failed_at, s.last_error)
                for s in JobState.objects.order_by("name")]


def ping_watchdog() -> int:
    """Ping the watchdog URL while every part is alive (atalaia/web/health.py); a
    ping is no work handled, so that it does not keep the worker from pausing."""
    watchdog_step()
    return 0


def register() -> None:
    jobs.set_ledger(DatabaseLedger())
    jobs.register("web.watchdog", ping_watchdog)
