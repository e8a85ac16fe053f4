"""The prober: one asyncio event loop running many checks at once.

Each monitor it holds (see leases.py) is checked at its interval, at a random
phase so that checks spread evenly over the interval, or at its retry interval
while a change is unconfirmed. At most PROBER_CONCURRENCY checks are in flight.
Results go to a buffer that is written every PROBER_FLUSH_SECONDS in one
transaction (raw results, the location's votes); only a vote that changed
recomputes the monitor's state, and only a state change raises a signal.

The database is used from one thread beside the event loop, so a slow write
never delays the checks.

Latency anomalies are screened against a baseline of the monitor's last results
kept in memory; a suspected deviation is confirmed against the baseline from the
stored history (by hour of week once three weeks exist), so the database is
read only when something looks wrong.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction

from atalaia.monitoring import baselines, checks, config, confirm, leases
from atalaia.monitoring.models import CheckRecord, Monitor
from atalaia.monitoring.transitions import resolve_votes

log = logging.getLogger("atalaia.prober")
# Latencies kept per monitor for the in-memory baseline.
RING = 240
# How often the in-memory baseline is computed again.
SCREEN_SECONDS = 600.0
# Checks in flight at once to one origin (scheme, host and port), like a
# browser's connection limit; also the connections kept alive to it.
PER_ORIGIN = 16


class Origin:
    """The HTTP client for one origin, and the bound on checks in flight to it.

    One pool per origin, not one for all: httpcore walks every connection of a
    pool for each request, so one pool of thousands of connections (a prober
    that fell behind, or an outage where every check waits for its timeout)
    spends its CPU there instead of on checks."""

    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(PER_ORIGIN)
        self.client = checks.new_http_client(limits=httpx.Limits(
            max_connections=PER_ORIGIN, max_keepalive_connections=PER_ORIGIN))


@dataclass
class Watch:
    """One monitor this prober holds."""

    row: dict[str, Any]  # as leases.renew returns it
    check: checks.Check
    tally: confirm.Tally  # the confirmation of the raw results
    vote: str = confirm.UNKNOWN  # what this location says: the tally, or degraded by anomaly
    due: float = 0.0
    generation: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=RING))
    anomaly: baselines.Deviation | None = None
    stored: baselines.Baseline | None = None  # from the history, for this hour
    stored_hour: int = -1
    screen: baselines.Baseline | None = None  # from `recent`, renewed every SCREEN_SECONDS
    screen_at: float = float("-inf")
    params: baselines.Params = baselines.DEFAULTS

    @property
    def pk(self) -> int:
        return self.row["monitor_id"]


@dataclass
class Stats:
    """Since the last report: checks done, and how late each started (seconds)."""

    checks: int = 0
    lags: list[float] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)


class Prober:
    def __init__(self, location: str = "default", holder: str | None = None,
                 clock: Callable[[], float] = time.time):
        self.location = location
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.clock = clock
        self.watches: dict[int, Watch] = {}
        self.queue: list[tuple[float, int, int, int]] = []  # (due, seq, pk, generation)
        self.seq = itertools.count()
        self.results: list[CheckRecord] = []
        self.changed: set[int] = set()
        self.wanted: set[int] = set()  # monitors whose stored baseline is due for reading
        self.stats = Stats()
        self.database = ThreadPoolExecutor(1, thread_name_prefix="prober-db")
        self.slots = asyncio.Semaphore(settings.PROBER_CONCURRENCY)
        self.in_flight: set[asyncio.Task] = set()
        self.origins: dict[str, Origin] = {}

    # --- the loop -----------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            await self._run(stopping)
        finally:
            for origin in self.origins.values():
                await origin.client.aclose()
        await self._db(leases.release, self.location, self.holder, self._now())
        self.close()

    async def _run(self, stopping: asyncio.Event) -> None:
        await self.renew()
        parts = [asyncio.create_task(self._every(settings.PROBER_LEASE_SECONDS / 4,
                                                 self.renew, stopping)),
                 asyncio.create_task(self._every(settings.PROBER_FLUSH_SECONDS,
                                                 self.flush, stopping)),
                 asyncio.create_task(self._every(settings.PROBER_STATS_SECONDS,
                                                 self.report, stopping)),
                 asyncio.create_task(self._schedule(stopping))]
        await stopping.wait()
        for part in parts:
            part.cancel()
        await asyncio.gather(*parts, return_exceptions=True)
        if self.in_flight:  # let checks under way finish, within their timeouts
            await asyncio.wait(self.in_flight, timeout=settings.PROBER_LEASE_SECONDS)
        await self.flush()

    def close(self) -> None:
        """Close the database thread's connection and stop the thread."""
        self.database.submit(connections.close_all).result()
        self.database.shutdown()

    async def _every(self, seconds: float, step, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), seconds)
            except TimeoutError:
                pass
            try:
                await step()
            except Exception:  # logged and tried again next round; never kills the loop
                log.exception("prober %s: %s failed", self.holder, step.__name__)

    async def _schedule(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.start_due()
            wait = self.queue[0][0] - self.clock() if self.queue else 0.05
            await asyncio.sleep(min(max(wait, 0.0), 0.05))

    async def start_due(self) -> int:
        """Start every check that is due (waiting for a free slot when all are busy);
        the number started."""
        started = 0
        while self.queue and self.queue[0][0] <= self.clock():
            due, _, pk, generation = heapq.heappop(self.queue)
            watch = self.watches.get(pk)
            if watch is None or watch.generation != generation:
                continue  # no longer ours, or rescheduled
            await self.slots.acquire()
            self.stats.lags.append(max(0.0, self.clock() - due))
            task = asyncio.create_task(self._check(watch, due))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
            started += 1
        return started

    async def report(self) -> None:
        """Log the checks per second and the scheduling lag since the last report."""
        stats, self.stats = self.stats, Stats()
        elapsed = max(time.monotonic() - stats.since, 1e-9)
        lags = sorted(stats.lags)
        p50, p99 = (lags[int(q * (len(lags) - 1))] for q in (0.5, 0.99)) if lags else (0, 0)
        log.info("prober %s [%s]: %d monitors, %.1f checks/s, scheduling lag p50 %.3f s "
                 "p99 %.3f s, %d in flight", self.holder, self.location, len(self.watches),
                 stats.checks / elapsed, p50, p99, len(self.in_flight))

    async def turn(self) -> None:
        """Run the due checks to the end and write their results: what one pass of the
        loop does, for tests that move a controlled clock."""
        await self.start_due()
        if self.in_flight:
            await asyncio.wait(set(self.in_flight))
        await self.flush()

    async def _check(self, watch: Watch, due: float) -> None:
        try:
            result = await self._run_check(watch.check)
        except Exception as exc:  # a bug in a check must not stop the others
            log.exception("check of monitor %s failed", watch.pk)
            result = checks.CheckResult(checks.DOWN, None, f"the check failed: {exc}")
        finally:
            self.slots.release()
        self.stats.checks += 1
        now = self.clock()
        try:
            self._record(watch, result, now)
        except Exception:  # logged; the monitor keeps its schedule all the same
            log.exception("recording the result of monitor %s failed", watch.pk)
        if self.watches.get(watch.pk) is watch:
            self._plan(watch, due, now)

    async def _run_check(self, check: checks.Check) -> checks.CheckResult:
        if not isinstance(check, checks.HttpCheck) or not check.verify_tls:
            return await checks.run_check(check)
        parts = urlsplit(check.url)
        key = f"{parts.scheme}://{parts.netloc}".lower()
        origin = self.origins.get(key) or self.origins.setdefault(key, Origin())
        async with origin.slots:
            return await checks.run_check(check, origin.client)

    def _plan(self, watch: Watch, due: float, now: float) -> None:
        if confirm.confirmed(watch.tally):
            interval = watch.row["interval_seconds"]
            following = due + interval
            if following <= now:  # fell behind: keep the phase, skip the missed turns
                following += interval * ((now - following) // interval + 1)
        else:
            following = now + watch.row["retry_interval_seconds"]
        self._enqueue(watch, following)

    def _enqueue(self, watch: Watch, due: float) -> None:
        watch.due = due
        heapq.heappush(self.queue, (due, next(self.seq), watch.pk, watch.generation))

    # --- results ------------------------------------------------------------------

    def _record(self, watch: Watch, result: checks.CheckResult, now: float) -> None:
        row = watch.row
        before = watch.vote
        watch.tally = confirm.tally(watch.tally, result.state, row["failures_to_down"],
                                    row["successes_to_up"])
        message = result.message
        if result.latency_ms is not None and result.state != checks.DOWN:
            watch.recent.append((now, result.latency_ms))
        watch.anomaly = self._deviation(watch, now) \
            if row["anomaly_detection"] and watch.tally.vote == confirm.UP else None
        watch.vote = watch.tally.vote
        if watch.anomaly is not None:
            watch.vote, message = confirm.DEGRADED, watch.anomaly.message
        if watch.vote != before:
            self.changed.add(watch.pk)
        row["state"], row["message"] = watch.vote, message
        self.results.append(CheckRecord(
            monitor_id=watch.pk, location=self.location, checked_at=_datetime(now),
            state=result.state, latency_ms=result.latency_ms,
            message="" if result.state == checks.UP else result.message[:255]))

    def _deviation(self, watch: Watch, now: float) -> baselines.Deviation | None:
        """A deviation from the in-memory baseline, confirmed against the stored one."""
        params = watch.params
        interval = watch.row["interval_seconds"]
        span = max(params.min_window_seconds, params.m * interval) + interval
        if watch.screen_at < now - SCREEN_SECONDS:
            earlier = [(t, v) for t, v in watch.recent if t < now - span]
            watch.screen_at = now
            watch.screen = baselines.compute_baseline(
                [t for t, _ in earlier], [v for _, v in earlier], now, params) \
                if len(earlier) >= params.min_samples else None
        if watch.screen is None:
            return None
        # Nothing new above the limit and no deviation under way: nothing to decide
        # (a window that met the rule with this check below the limit met it before).
        latest = watch.recent[-1] if watch.recent else (0.0, 0.0)
        if watch.anomaly is None and (latest[0] != now or latest[1] <= watch.screen.limit):
            return None
        window = [(t, v) for t, v in watch.recent if t >= now - span]
        times, values = [t for t, _ in window], [v for _, v in window]
        if baselines.deviation(times, values, watch.screen, interval, params) is None:
            return None
        hour = int(now // 3600)
        if watch.stored_hour != hour:
            watch.stored_hour = hour
            self.wanted.add(watch.pk)
            return watch.anomaly  # keep the current answer until the stored baseline is in
        return baselines.deviation(times, values, watch.stored or watch.screen, interval, params)

    # --- the database ---------------------------------------------------------------

    async def _db(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(
            self.database, _in_thread, function, *args)

    def _now(self) -> datetime:
        return _datetime(self.clock())

    async def renew(self) -> None:
        rows = await self._db(leases.renew, self.location, self.holder, self._now(),
                              settings.PROBER_LEASE_SECONDS)
        held = {row["monitor_id"]: row for row in rows}
        for pk in set(self.watches) - set(held):
            del self.watches[pk]
        for pk, row in held.items():
            self._hold(pk, row)

    def _hold(self, pk: int, row: dict) -> None:
        watch = self.watches.get(pk)
        if watch is not None and _same_monitor(watch.row, row):
            return
        try:
            check = config.build(row["kind"], row["config"], row["timeout_seconds"])
        except (TypeError, ValueError, KeyError) as exc:
            log.error("monitor %s has a configuration that cannot run: %r", pk, exc)
            self.watches.pop(pk, None)
            return
        try:
            params = baselines.Params(k=row["anomaly_k"], m=row["anomaly_m"])
        except ValueError as exc:
            log.error("monitor %s: anomaly settings %s; using the defaults", pk, exc)
            params = baselines.DEFAULTS
        if watch is None:
            tally = confirm.Tally(vote=row["state"], failures=row["failures"],
                                  successes=row["successes"])
            watch = self.watches[pk] = Watch(row, check, tally, vote=row["state"],
                                             params=params)
            # A random phase spreads the checks of many monitors over the interval.
            self._enqueue(watch, self.clock() + random.uniform(0, row["interval_seconds"]))
        else:
            watch.row, watch.check, watch.params = {**row, "state": watch.vote}, check, params
            watch.generation += 1
            self._enqueue(watch, min(watch.due, self.clock() + row["interval_seconds"]))

    async def flush(self) -> None:
        results, self.results = self.results, []
        changed, self.changed = self.changed, set()
        wanted, self.wanted = self.wanted, set()
        votes = {pk: self._vote(self.watches[pk]) for pk in {r.monitor_id for r in results}
                 if pk in self.watches}
        if results:
            await self._db(_write, self.location, results, votes)
        if changed:
            anomalies = {pk: self.watches[pk].anomaly for pk in changed if pk in self.watches}
            await self._db(_settle, anomalies, self._now())
        for pk in wanted:
            watch = self.watches.get(pk)
            if watch is not None:
                watch.stored = await self._db(_stored_baseline, pk, self.location,
                                              self.clock(), watch.row, watch.params)

    def _vote(self, watch: Watch) -> dict:
        latest = watch.recent[-1][1] if watch.recent else None
        return {"state": watch.vote, "failures": watch.tally.failures,
                "successes": watch.tally.successes, "message": watch.row["message"][:1024],
                "latency_ms": latest}


def _in_thread(function, *args):
    close_old_connections()
    return function(*args)


def _datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _same_monitor(held: dict, row: dict) -> bool:
    ignore = {"state", "failures", "successes", "message"}
    return all(held.get(key) == value for key, value in row.items() if key not in ignore)


# One flush in three statements, each run for many rows (executemany), in the
# same form on SQLite and PostgreSQL: Django's bulk_update builds a CASE
# expression per row and field, which cost more than the checks themselves.
INSERT_RESULTS = (
    "INSERT INTO monitoring_checkrecord (monitor_id, location, checked_at, state, latency_ms, "
    "message) VALUES (%s, %s, %s, %s, %s, %s)")
UPDATE_VOTES = (
    "UPDATE monitoring_probestate SET state = %s, failures = %s, successes = %s, "
    "message = %s, latency_ms = %s, checked_at = %s WHERE monitor_id = %s AND location = %s")
UPDATE_MONITORS = (
    "UPDATE monitoring_monitor SET last_checked_at = %s, last_latency_ms = %s WHERE id = %s")


def _write(location: str, results: list[CheckRecord], votes: dict[int, dict]) -> None:
    """Write one flush: raw results, this location's votes and the monitors' last check."""
    adapt = connection.ops.adapt_datetimefield_value
    last = {r.monitor_id: r for r in results}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(INSERT_RESULTS, [
            (r.monitor_id, location, adapt(r.checked_at), r.state, r.latency_ms, r.message)
            for r in results])
        cursor.executemany(UPDATE_VOTES, [
            (v["state"], v["failures"], v["successes"], v["message"], v["latency_ms"],
             adapt(last[pk].checked_at), pk, location) for pk, v in votes.items()])
        cursor.executemany(UPDATE_MONITORS, [
            (adapt(r.checked_at), r.latency_ms, pk) for pk, r in last.items()])


def _stored_baseline(pk: int, location: str, now: float, row: dict,
                     params: baselines.Params) -> baselines.Baseline | None:
    """The baseline from the stored results: the last day, and the same hour of
    the week in the weeks before (the only history the method reads)."""
    at = _datetime(now)
    since = at - timedelta(seconds=max(params.min_window_seconds, params.m
                                       * row["interval_seconds"]) + row["interval_seconds"])
    results = CheckRecord.objects.filter(monitor_id=pk, location=location,
                                         latency_ms__isnull=False).exclude(state="down")
    spans = [(at - timedelta(hours=params.recent_hours), since)]
    spans += [(at - timedelta(weeks=w, minutes=30), at - timedelta(weeks=w) + timedelta(
        minutes=90)) for w in range(1, params.history_days // 7 + 3)]
    times: list[float] = []
    values: list[float] = []
    for start, end in spans:
        rows = results.filter(checked_at__gte=start, checked_at__lt=end)
        for checked_at, latency in rows.values_list("checked_at", "latency_ms"):
            if latency is not None:
                times.append(checked_at.timestamp())
                values.append(latency)
    return baselines.compute_baseline(times, values, now, params)


def _settle(anomalies: dict[int, baselines.Deviation | None], now: datetime) -> None:
    """Locations' votes changed: keep each deviation (or its end) on its monitor, for
    the console and the signal, then recompute the monitors' states."""
    for pk, anomaly in anomalies.items():
        if anomaly is None:
            Monitor.objects.filter(pk=pk).exclude(anomaly={}).update(anomaly={})
        else:
            Monitor.objects.filter(pk=pk).update(anomaly={
                "message": anomaly.message, "factor": anomaly.factor,
                "observed_ms": anomaly.observed, "baseline": anomaly.baseline.as_dict()},
                baseline=anomaly.baseline.as_dict())
    ids = list(anomalies)
    for start in range(0, len(ids), 500):
        resolve_votes(ids[start:start + 500], now)


def run_forever(location: str) -> None:
    """`atalaia prober`: run until SIGTERM or SIGINT, then stop cleanly."""
    import signal

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stopping.set)
        await Prober(location).run(stopping)

    asyncio.run(main())
