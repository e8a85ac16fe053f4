"""Periodic jobs: each app registers its own; the worker runs them, each on its own.

A job is a function that does one turn of some work and returns how much it
handled (0: nothing to do). Each job belongs to a *lane*; the worker runs every
lane in a thread of its own with its own database connection, so a slow job in one
lane (a webhook that trickles, a large export) cannot hold up another. Paging
(escalation steps and page deliveries) has a lane of its own.

A job that raises is logged, its failure is written to the ledger (the web app
keeps it in the database, so /healthz, /metrics and the console of any process
show it), and the next job runs: one broken job never stops the others.

A row that a job keeps failing on (a signal to group, a broadcast to expand) must
not be taken again on every turn: `failed_attempt` gives it attempts, a backoff
and, after ROW_MAX_ATTEMPTS, quarantine with its error kept for people to see.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.utils import timezone

log = logging.getLogger("atalaia.jobs")

PAGING = "paging"
GENERAL = "general"
LANES = (PAGING, GENERAL)
# Roll-ups, pruning, the end of flapping, handoff notices, reminders: a matter of
# minutes, so a look every 15 seconds is enough.
HOUSEKEEPING_SECONDS = 15.0


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], int]
    lane: str = GENERAL
    every: float = 0.0  # seconds between two runs; 0: every turn of its lane


_jobs: dict[str, Job] = {}


def register(name: str, run: Callable[[], int], lane: str = GENERAL,
             every: float = 0.0) -> Job:
    """Add a job (from an app's AppConfig.ready()); a name registered again is replaced."""
    if lane not in LANES:
        raise ValueError(f"job {name}: unknown lane {lane!r}; expected one of {LANES}")
    job = Job(name, run, lane, every)
    _jobs[name] = job
    return job


def registered(lane: str | None = None) -> list[Job]:
    """The jobs of a lane (or all), in the order they were registered."""
    return [job for job in _jobs.values() if lane is None or job.lane == lane]


@dataclass(frozen=True)
class JobStatus:
    name: str
    lane: str
    failures: int  # ever
    failing: int  # in a row, until the next success
    last_ok_at: datetime | None
    last_failed_at: datetime | None
    last_error: str


class Ledger(Protocol):
    """Where results go (`error` is "" for a run that succeeded) and are read back."""

    def record(self, job: Job, at: datetime, error: str) -> None: ...

    def states(self) -> list[JobStatus]: ...


_ledger: list[Ledger] = []


def set_ledger(ledger: Ledger) -> None:
    _ledger[:] = [ledger]


def states() -> list[JobStatus]:
    """How every job that ever ran fares, by name (empty without a ledger)."""
    return _ledger[0].states() if _ledger else []


def describe(exc: BaseException) -> str:
    """An error as people read it: its type and first line."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line}"[:500] if line else type(exc).__name__


class Runner:
    """Runs one lane's jobs, each when it is due, one turn at a time."""

    def __init__(self, lane: str | None, clock: Callable[[], float] = time.monotonic):
        self.lane = lane
        self.clock = clock
        self._next: dict[str, float] = {}
        # When each job's success was last written: failures are written every
        # time, successes only after a failure or now and then (last_ok_at), so
        # that a busy worker does not write a row per job per turn.
        self._ok_written: dict[str, float] = {}

    def turn(self) -> int:
        """Run every job of the lane that is due; the work handled by all of them."""
        handled = 0
        for job in registered(self.lane):
            now = self.clock()
            if now < self._next.get(job.name, 0.0):
                continue
            self._next[job.name] = now + job.every
            handled += self.run(job)
        return handled

    def run(self, job: Job) -> int:
        """Run one job, whatever it raises; the work it handled (0 when it failed)."""
        try:
            handled = int(job.run() or 0)
        except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others
            log.exception("job %s failed", job.name)
            self._ok_written.pop(job.name, None)
            self._write(job, describe(exc))
            return 0
        if self.clock() >= self._ok_written.get(job.name, 0.0):
            self._ok_written[job.name] = self.clock() + settings.HEARTBEAT_SECONDS
            self._write(job, "")
        return handled

    def _write(self, job: Job, error: str) -> None:
        if not _ledger:
            return
        try:
            _ledger[0].record(job, timezone.now(), error)
        except Exception:  # noqa: BLE001 - the ledger is not worth stopping the work for
            log.exception("job %s: its result could not be recorded", job.name)


# -- rows that keep failing -------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    """What to write on a row after a failed attempt."""

    attempts: int
    error: str
    retry_at: datetime | None  # None: quarantined, no more automatic attempts

    @property
    def quarantined(self) -> bool:
        return self.retry_at is None


def failed_attempt(previous_attempts: int, exc: BaseException,
                   now: datetime | None = None) -> Attempt:
    attempts = previous_attempts + 1
    if attempts >= settings.ROW_MAX_ATTEMPTS:
        return Attempt(attempts, describe(exc), None)
    now = now or timezone.now()
    return Attempt(attempts, describe(exc), now + timedelta(seconds=row_backoff(attempts)))


def row_backoff(attempts: int) -> float:
    """Seconds before a failing row is taken again: see backoff()."""
    return backoff(attempts, settings.ROW_RETRY_SECONDS, settings.ROW_RETRY_MAX_SECONDS)


def backoff(attempts: int, first: float, most: float) -> float:
    """Seconds before attempt `attempts` + 1: doubling from `first` up to `most`, with
    up to 10% jitter so that retries do not bunch up (rows here, deliveries in the
    outbox)."""
    delay = min(first * 2 ** (attempts - 1), most)
    return delay * (1 + random.uniform(0, 0.1))
