"""Benchmark of alert intake: sustained, durable events per second, against peers.

The issue: sustained durable intake on SQLite and on PostgreSQL, for PagerDuty
single events and Alertmanager batches of 100 alerts, with the p99 response
time; the same load, in the same run, against Prometheus Alertmanager's own
/api/v2/alerts and against alerta-server (PyPI), as ratios. Targets: single
events at 10x alerta-server's rate or more and at least 1,200/s, with a p99
under 100 ms; Alertmanager batches at 25% or more of Alertmanager's own
in-memory alerts per second.

Run it from the project root::

    .venv/bin/python bench/intake.py      # or: make bench-intake

Everything runs on 127.0.0.1 and is stopped at the end, even on an error:

1. For SQLite (a temporary ATALAIA_DATA_DIR) and for PostgreSQL (a throwaway
   database created with createdb and dropped at the end): ``atalaia
   migrate``, ``atalaia demo``, ``atalaia integration create pagerduty`` and
   ``... alertmanager`` (with a rate limit high enough not to answer 429),
   then the real server, ``atalaia web --bind 127.0.0.1:PORT`` (gunicorn
   gthread), and /healthz.
2. The load generator is this file run as a separate process
   (``--generate``): one asyncio loop holding CONCURRENCY keep-alive HTTP/1.1
   connections over raw sockets, each sending its next request as soon as the
   previous one is answered (closed loop). Bodies are made by replacing a
   number in a prepared template, so the generator costs a few percent of a
   core; it reports its own CPU time. After WARMUP seconds it measures for
   DURATION seconds (answers completed in that window: throughput and
   latency), then stops sending and waits for the requests in flight.
3. PagerDuty trigger events with unique dedup_keys to /v2/enqueue, with
   CONCURRENCY and then LOW_CONCURRENCY requests in flight, then Alertmanager
   v4 webhook batches of 100 alerts with unique fingerprints to
   /intake/alertmanager/KEY. Afterwards it counts the Signal rows of each
   integration: they must equal the accepted (202) events, warm-up and drain
   included.
4. Peers: Prometheus Alertmanager (``prometheus-alertmanager``, a null
   receiver, no clustering) gets the same 100-alert batches on /api/v2/alerts;
   its ``alertmanager_alerts_received_total`` must match. alerta-server runs
   from its own virtualenv (ALERTA_VENV, /tmp/alerta-venv by default, created
   with pip when missing and kept for the next run; never the project's venv)
   under gunicorn (--preload) with ALERTA_WORKERS sync workers, on a throwaway
   PostgreSQL database, and gets one alert per request on /alert; its alerts
   table must match.
5. For each load: the CPU time of the server processes (and PostgreSQL's), of
   the generator, and the machine's idle and stolen (hypervisor) shares.

Prints a summary with the ratios and MET / NOT MET for each target, and exits 0
when it ran to the end (whether or not the targets were met), 1 on an error,
2 when a prerequisite is missing. ``--help`` lists the options (durations,
concurrency, gunicorn workers and threads, skipping peers).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchlib import (
    ATALAIA,
    PG,
    BenchError,
    Proc,
    atalaia_database,
    cpu_seconds,
    create_database,
    database_url,
    free_port,
    load_average,
    log,
    machine_ticks,
    percentile,
    postgres_available,
    postgres_pids,
    run,
    shell_json,
    start_web,
    stop_all,
    time_limit,
    verdict,
)

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
ALERTA_VENV = Path(os.environ.get("ALERTA_VENV", "/tmp/alerta-venv"))

WARMUP = 3.0  # seconds of load before measuring
DURATION = 15.0  # seconds measured
CONCURRENCY = 32  # requests in flight, single events
LOW_CONCURRENCY = 4  # and again with this many, for the latency at a lower load
BATCH_CONCURRENCY = 8  # requests in flight, batches of BATCH alerts
BATCH = 100
ALERTA_WORKERS = 4
RATE = 100_000_000  # events per minute for the bench integrations: never 429
TIME_LIMIT_S = 300  # the whole run is aborted (and cleaned up) after this

TARGET_RATE = 1200.0  # single events per second
TARGET_P99_MS = 100.0
TARGET_VS_ALERTA = 10.0
TARGET_VS_ALERTMANAGER = 0.25

EXPECTED_STATUS = {"pagerduty": 202, "am-webhook": 202, "am-api": 200, "alerta": 201}

COUNT_SCRIPT = """
import json
from django.conf import settings
from django.db import connection
from django.db.models import Count
from atalaia.intake.models import Signal
counts = {name: n for name, n in Signal.objects.values_list("integration__name")
          .annotate(n=Count("id")).order_by()}
with connection.cursor() as cursor:
    if connection.vendor == "sqlite":
        cursor.execute("select sqlite_version()")
        version = cursor.fetchone()[0]
        cursor.execute("PRAGMA journal_mode")
        journal = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous")
        sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[cursor.fetchone()[0]]
        durability = f"SQLite {version}, journal_mode={journal}, synchronous={sync}"
    else:
        shown = []
        for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method"):
            cursor.execute("SHOW " + name)
            shown.append(f"{name}={cursor.fetchone()[0]}")
        durability = "PostgreSQL " + ", ".join(shown)
print("BENCH-COUNTS " + json.dumps({"counts": counts, "durability": durability,
      "workers": settings.WEB_WORKERS, "threads": settings.WEB_THREADS}))
"""


# --- the load generator (this file with --generate, in its own process) ------------


def _templates(spec: dict) -> tuple[bytes, bytes]:
    """(request head with %d for the length, body with @N@ for the request number)."""
    kind, run_id, batch = spec["kind"], spec["run"], spec.get("batch", BATCH)
    now = datetime.now(UTC)
    starts = now.isoformat().replace("+00:00", "Z")
    if kind == "pagerduty":
        body: object = {
            "routing_key": spec["key"], "event_action": "trigger",
            "dedup_key": f"{run_id}-@N@",
            "payload": {"summary": "Bench event @N@: checkout latency above 2 s",
                        "source": "bench-host", "component": "api", "severity": "warning",
                        "custom_details": {"request": "@N@", "p95_ms": 2345}},
            "client": "bench", "client_url": "http://127.0.0.1/bench"}
    elif kind == "alerta":
        body = {"resource": f"{run_id}-@N@", "event": "BenchDown", "environment": "Production",
                "severity": "major", "service": ["api"], "group": "Bench", "value": "@N@",
                "text": "Bench event @N@: checkout latency above 2 s", "origin": "bench",
                "type": "benchAlert", "tags": ["bench"], "attributes": {"request": "@N@"}}
    else:
        alerts = []
        for i in range(batch):
            alert = {"labels": {"alertname": "BenchHighLatency", "job": "bench",
                                "instance": f"{run_id}-@N@-{i}", "service": "api",
                                "severity": "warning"},
                     "annotations": {"summary": f"Bench alert @N@-{i}: latency above 2 s"},
                     "startsAt": starts, "generatorURL": "http://127.0.0.1:9090/graph"}
            if kind == "am-webhook":
                alert.update(status="firing", endsAt="0001-01-01T00:00:00Z",
                             fingerprint=f"{run_id}-@N@-{i}")
            else:
                alert["endsAt"] = (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
            alerts.append(alert)
        if kind == "am-webhook":
            body = {"version": "4", "status": "firing", "receiver": "atalaia",
                    "groupKey": "{}:{}", "truncatedAlerts": 0, "groupLabels": {},
                    "commonLabels": {"alertname": "BenchHighLatency", "job": "bench"},
                    "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
                    "alerts": alerts}
        else:
            body = alerts
    head = (f"POST {spec['path']} HTTP/1.1\r\nHost: 127.0.0.1:{spec['port']}\r\n"
            "User-Agent: atalaia-bench\r\nAccept: application/json\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n").encode()
    return head, json.dumps(body, separators=(",", ":")).encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server closes the connection) of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        await reader.readexactly(int(lower[at + 17:end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif status not in (204, 304) and status >= 200:
        await reader.read()  # body until close
        return status, True
    return status, b"\r\nconnection: close" in lower


async def _generate(spec: dict) -> dict:
    head, template = _templates(spec)
    timeout = spec.get("timeout", 30.0)
    counter = itertools.count(1)
    start = time.perf_counter()
    measure_from = start + spec["warmup"]
    measure_to = measure_from + spec["duration"]
    phases: dict[str, dict[str, int]] = {"warmup": {}, "measured": {}, "drain": {}}
    latencies: list[float] = []

    def count(phase: str, what: str) -> None:
        phases[phase][what] = phases[phase].get(what, 0) + 1

    async def connection() -> None:
        reader = writer = None
        while time.perf_counter() < measure_to:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
                except OSError as exc:
                    count("warmup" if time.perf_counter() < measure_from else "measured",
                          f"connect: {type(exc).__name__}")
                    await asyncio.sleep(0.05)
                    continue
            body = template.replace(b"@N@", str(next(counter)).encode())
            sent = time.perf_counter()
            try:
                writer.write(head % len(body) + body)
                status, close = await asyncio.wait_for(_read_response(reader), timeout)
            except (OSError, ValueError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError, TimeoutError) as exc:
                done = time.perf_counter()
                phase = "warmup" if done < measure_from else \
                    "measured" if done <= measure_to else "drain"
                count(phase, type(exc).__name__)
                writer.close()
                reader = writer = None
                continue
            done = time.perf_counter()
            if done < measure_from:
                count("warmup", str(status))
            elif done <= measure_to:
                count("measured", str(status))
                latencies.append(done - sent)
            else:
                count("drain", str(status))
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(spec["concurrency"])))
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ms = sorted(v * 1000 for v in latencies)
    return {"phases": phases, "measured_s": spec["duration"], "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime, "requests": next(counter) - 1,
            "body_bytes": len(template),
            "latency_ms": {"p50": percentile(ms, 50), "p90": percentile(ms, 90),
                           "p99": percentile(ms, 99),
                           "max": ms[-1] if ms else float("nan"),
                           "mean": sum(ms) / len(ms) if ms else float("nan")}}


def generate_main(spec_json: str) -> int:
    result = asyncio.run(_generate(json.loads(spec_json)))
    print(json.dumps(result), flush=True)
    return 0


# --- processes: servers, CPU accounting -----------------------------------------------


def machine_share(before: list[int], after: list[int]) -> tuple[float, float]:
    """(idle, steal) as shares of the machine's time between two readings."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta) or 1
    return (delta[3] + delta[4]) / total, delta[7] / total


def _get_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - 127.0.0.1
        return answer.read().decode()


# --- one load against one server ------------------------------------------------------


class Load:
    """The result of one generator run."""

    def __init__(self, label: str, kind: str, batch: int, result: dict,
                 cpu: dict[str, float], wall: float) -> None:
        self.label, self.kind, self.batch = label, kind, batch
        self.result, self.cpu, self.wall = result, cpu, wall
        expected = str(EXPECTED_STATUS[kind])
        phases = result["phases"]
        self.accepted_requests = sum(p.get(expected, 0) for p in phases.values())
        self.measured_ok = phases["measured"].get(expected, 0)
        self.failures = {f"{phase}:{what}": n for phase, counts in phases.items()
                         for what, n in counts.items() if what != expected}
        self.requests_per_s = self.measured_ok / result["measured_s"]
        self.items_per_s = self.requests_per_s * batch
        self.latency = result["latency_ms"]
        self.idle = self.steal = 0.0  # shares of the machine's CPU time during the run
        self.concurrency = 0  # requests in flight
        self.stored = 0  # rows (or alerts received) counted after the run
        self.durable = False  # whether that equals the accepted events

    def line(self) -> str:
        unit = "events/s" if self.batch == 1 else "alerts/s"
        extra = "" if self.batch == 1 else f" ({self.requests_per_s:,.1f} requests/s)"
        lat = self.latency
        return (f"{self.items_per_s:>9,.0f} {unit}{extra}; per request p50 {lat['p50']:.1f} ms, "
                f"p90 {lat['p90']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms")

    def cpu_line(self) -> str:
        parts = [f"{name} {seconds / self.wall:.2f}" for name, seconds in self.cpu.items()]
        return ("CPU cores used (warm-up to drain): " + ", ".join(parts)
                + f"; the machine was {self.idle:.0%} idle, {self.steal:.0%} stolen")


def load(label: str, kind: str, port: int, path: str, key: str, concurrency: int,
         batch: int, opts, cpu_groups: dict) -> Load:
    spec = {"host": "127.0.0.1", "port": port, "path": path, "kind": kind, "key": key,
            "run": f"b{os.getpid()}{kind[:2]}{int(time.time()) % 100000}", "batch": batch,
            "concurrency": concurrency, "warmup": opts.warmup, "duration": opts.duration}
    flight = "" if "in flight" in label else f"{concurrency} in flight, "
    log(f"  {label}: {flight}{opts.warmup:.0f} s warm-up + {opts.duration:.0f} s ...")
    before = {name: cpu_seconds(pids()) for name, pids in cpu_groups.items()}
    ticks = machine_ticks()
    started = time.monotonic()
    done = subprocess.run([sys.executable, __file__, "--generate", json.dumps(spec)],
                          capture_output=True, text=True,
                          timeout=opts.warmup + opts.duration + 90)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"the load generator failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = {name: cpu_seconds(pids()) - before[name] for name, pids in cpu_groups.items()}
    cpu["generator"] = result["cpu_s"]
    outcome = Load(label, kind, batch, result, cpu, wall)
    outcome.idle, outcome.steal = machine_share(ticks, machine_ticks())
    outcome.concurrency = concurrency
    log(f"    {outcome.line()}")
    log(f"    {outcome.cpu_line()}")
    if outcome.failures:
        log(f"    other answers: {outcome.failures}")
    return outcome


# --- Atalaia on one database --------------------------------------------------------


def atalaia(db: str, env: dict, work: str, opts, running: dict, results: dict) -> None:
    started = time.monotonic()
    run(env, ATALAIA, "migrate", "-v0", timeout=180)
    run(env, ATALAIA, "demo", "--if-empty")
    pd_key = run(env, ATALAIA, "integration", "create", "pagerduty", "bench-pagerduty",
                 "--rate", str(RATE)).split()[-1]
    am_key = run(env, ATALAIA, "integration", "create", "alertmanager", "bench-alertmanager",
                 "--rate", str(RATE)).split()[-1]
    port = free_port()
    options = []
    if opts.workers:
        options += ["--workers", str(opts.workers)]
    if opts.threads:
        options += ["--threads", str(opts.threads)]
    workers = opts.workers or int(env.get("ATALAIA_WEB_WORKERS", 2))
    server, base = start_web(f"atalaia-{db}", env, work, running, *options, port=port,
                             key=f"atalaia-{db}")
    server.wait_ready(base + "/healthz", processes=workers + 1)
    log(f"  setup: migrate, demo, 2 integrations, `{' '.join(server.proc.args[1:])}` with "
        f"{len(server.pids()) - 1} workers ({time.monotonic() - started:.1f} s)")
    groups = {"web": server.pids}
    if db == "postgresql":
        groups["postgres"] = postgres_pids
    singles = [load(f"Atalaia {db}, PagerDuty events, {n} in flight", "pagerduty", port,
                    "/v2/enqueue", pd_key, n, 1, opts, groups)
               for n in dict.fromkeys([opts.concurrency, opts.low_concurrency]) if n]
    batches = load(f"Atalaia {db}, Alertmanager batches of {BATCH}", "am-webhook", port,
                   f"/intake/alertmanager/{am_key}", am_key, opts.batch_concurrency, BATCH,
                   opts, groups)
    server.stop()
    del running[server.name]
    info = shell_json(env, COUNT_SCRIPT, "BENCH-COUNTS")
    for group, name in ((singles, "bench-pagerduty"), ([batches], "bench-alertmanager")):
        stored = info["counts"].get(name, 0)
        accepted = sum(o.accepted_requests * o.batch for o in group)
        for outcome in group:
            outcome.stored, outcome.durable = stored, stored == accepted
        log(f"  durability: {stored:,} signal rows for {accepted:,} accepted "
            f"{'events' if group is singles else 'alerts'} "
            f"({'equal' if stored == accepted else 'MISMATCH'}; warm-up and drain included)")
    results[db] = {"singles": singles, "batches": batches, "durability": info["durability"],
                   "server": f"gunicorn gthread, {opts.workers or info['workers']} workers x "
                             f"{opts.threads or info['threads']} threads"}


# --- peers ----------------------------------------------------------------------------


def alertmanager_peer(work: str, opts, running: dict, results: dict) -> None:
    version = run(None, ALERTMANAGER, "--version").splitlines()
    if not version:
        version = ["prometheus-alertmanager"]
    directory = Path(work) / "alertmanager"
    directory.mkdir()
    config = directory / "alertmanager.yml"
    config.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = free_port()
    server = Proc("alertmanager", [
        ALERTMANAGER, f"--config.file={config}", f"--storage.path={directory}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        "--log.level=warn"], dict(os.environ), work)
    running[server.name] = server
    server.wait_ready(f"http://127.0.0.1:{port}/-/ready")
    log(f"  {version[0].strip()}, null receiver, no clustering, port {port}")
    outcome = load(f"Alertmanager /api/v2/alerts, batches of {BATCH}", "am-api", port,
                   "/api/v2/alerts", "", opts.batch_concurrency, BATCH, opts,
                   {"alertmanager": server.pids})
    received = 0
    for line in _get_text(f"http://127.0.0.1:{port}/metrics").splitlines():
        if line.startswith("alertmanager_alerts_received_total") and 'status="firing"' in line:
            received += int(float(line.split()[-1]))
    outcome.stored = received
    accepted = outcome.accepted_requests * BATCH
    outcome.durable = received == accepted
    log(f"  received: alertmanager_alerts_received_total {received:,} for {accepted:,} "
        f"accepted alerts ({'equal' if outcome.durable else 'MISMATCH'}; kept in memory)")
    server.stop()
    del running[server.name]
    results["alertmanager"] = outcome


def ensure_alerta_venv() -> str:
    python = ALERTA_VENV / "bin" / "python"
    probe = "import alerta.version, gunicorn, psycopg2; print(alerta.version.__version__)"
    if python.exists():
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.strip()
    log(f"  installing alerta-server, gunicorn and psycopg2-binary into {ALERTA_VENV} "
        "(a separate virtualenv, kept for the next run) ...")
    base = shutil.which("python3") or sys.executable
    run(None, base, "-m", "venv", "--clear", str(ALERTA_VENV), timeout=120)
    run(None, str(ALERTA_VENV / "bin" / "pip"), "install", "--quiet", "alerta-server",
        "gunicorn", "psycopg2-binary", timeout=240)
    return run(None, str(python), "-c", probe).strip()


def alerta_peer(work: str, opts, running: dict, results: dict) -> None:
    try:
        version = ensure_alerta_venv()
    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
        results["alerta_error"] = f"alerta-server could not be installed: {exc}"
        log(f"  SKIPPED: {results['alerta_error']}")
        return
    database = f"alerta_bench_{os.getpid()}"
    create_database(database, running, "alerta-db")
    env = dict(os.environ, DATABASE_URL=database_url(database, "postgres"),
               AUTH_REQUIRED="False", LOG_LEVEL="WARNING")
    env.pop("PYTHONPATH", None)
    python = str(ALERTA_VENV / "bin" / "python")
    run(env, python, "-c", "from alerta.app import create_app; create_app()")  # the schema
    port = free_port()
    # --preload: the app (and its schema script) starts once, in the master; without it
    # every worker runs the schema script at once at boot, which sometimes fails on
    # PostgreSQL ("tuple concurrently updated"), and gunicorn then stops altogether.
    args = [str(ALERTA_VENV / "bin" / "gunicorn"), "--workers", str(opts.alerta_workers),
            "--preload", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            "alerta.app:create_app()"]
    server = Proc("alerta", args, env, work)
    running[server.name] = server
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/management/healthcheck",
                          processes=opts.alerta_workers + 1)
    except BenchError as exc:
        results["alerta_error"] = f"alerta-server did not start: {exc}"
        log(f"  SKIPPED: {results['alerta_error']}")
        return
    log(f"  alerta-server {version}, gunicorn sync, {opts.alerta_workers} workers (--preload), "
        f"PostgreSQL database {database}, port {port}")
    outcome = load("alerta-server /alert, one alert per request", "alerta", port, "/alert", "",
                   opts.concurrency, 1, opts, {"alerta": server.pids, "postgres": postgres_pids})
    if server.proc.poll() is not None or outcome.measured_ok == 0:
        results["alerta_error"] = (f"alerta-server failed during the run (exit status "
                                   f"{server.proc.poll()}, {outcome.failures}); its log:\n"
                                   + server.log_tail())
        log(f"  FAILED: {results['alerta_error']}")
        return
    server.stop()
    del running[server.name]
    stored = int(run(None, "psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-Atc",
                     "select count(*) from alerts", database).strip())
    outcome.stored = stored
    outcome.durable = stored == outcome.accepted_requests
    log(f"  stored: {stored:,} alerts for {outcome.accepted_requests:,} accepted "
        f"({'equal' if outcome.durable else 'MISMATCH'})")
    results["alerta"] = outcome
    results["alerta_config"] = (f"alerta-server {version}, gunicorn sync x {opts.alerta_workers}"
                                " (--preload), AUTH_REQUIRED=False, default plugins")


# --- the run --------------------------------------------------------------------------


def summary(results: dict, opts, total: float) -> None:
    log("\n=== Intake: summary " + "=" * 60)
    log(f"machine: {os.cpu_count()} CPUs, load average at start {results['load_at_start']}; "
        f"the generator runs on the same cores")
    for db in ("sqlite", "postgresql"):
        if db in results:
            log(f"Atalaia {db}: {results[db]['server']}; {results[db]['durability']}")
    if "alerta_config" in results:
        log(f"alerta: {results['alerta_config']}")
    rows = []
    for db in ("sqlite", "postgresql"):
        if db in results:
            rows += results[db]["singles"]
    if "alerta" in results:
        rows.append(results["alerta"])
    for db in ("sqlite", "postgresql"):
        if db in results:
            rows.append(results[db]["batches"])
    if "alertmanager" in results:
        rows.append(results["alertmanager"])
    log(f"\n{'load':48} {'per second':>15} {'p50 ms':>7} {'p99 ms':>7} {'stored':>10} "
        f"{'server':>6} {'gen.':>5} {'idle':>5} {'steal':>5}")
    for row in rows:
        unit = "events" if row.batch == 1 else "alerts"
        stored = f"{row.stored:,}" + ("" if row.durable else " !")
        server = sum(v for k, v in row.cpu.items() if k != "generator") / row.wall
        log(f"{row.label:48} {row.items_per_s:>8,.0f} {unit:>6} {row.latency['p50']:>7.1f} "
            f"{row.latency['p99']:>7.1f} {stored:>10} {server:>6.2f} "
            f"{row.cpu['generator'] / row.wall:>5.2f} {row.idle:>5.0%} {row.steal:>5.0%}")
    log("p50/p99: per request. stored: rows (Atalaia, alerta) or alerts received (Alertmanager)"
        " after the run,\nequal to the accepted ones unless marked '!'. server, gen.: CPU cores "
        "used by the server\n(with PostgreSQL when it has one) and by the load generator; idle, "
        "steal: shares of the\nmachine's CPU time that were idle and taken by the hypervisor "
        "(a shared host).")

    log("\ntargets:")
    alerta = results.get("alerta")
    if alerta is None:
        log(f"  alerta-server: {results.get('alerta_error', 'not run')}")
    am = results.get("alertmanager")
    for db in ("sqlite", "postgresql"):
        if db not in results:
            continue
        singles, batches = results[db]["singles"], results[db]["batches"]
        single = max(singles, key=lambda o: o.items_per_s)  # the best rate, for the ratio
        for run_ in singles:
            ok = run_.items_per_s >= TARGET_RATE and run_.latency["p99"] < TARGET_P99_MS \
                and run_.durable
            log(f"  {db}: single events >= {TARGET_RATE:,.0f}/s with p99 < {TARGET_P99_MS:.0f} "
                f"ms, durable, at {run_.concurrency} in flight: {verdict(ok)} "
                f"({run_.items_per_s:,.0f}/s = {run_.items_per_s / TARGET_RATE:.2f}x the rate, "
                f"p99 {run_.latency['p99']:.1f} ms, "
                f"{'all stored' if run_.durable else 'stored != accepted'})")
        if alerta is not None and alerta.items_per_s > 0:
            ratio = single.items_per_s / alerta.items_per_s
            log(f"  {db}: single events >= {TARGET_VS_ALERTA:.0f}x alerta-server: "
                f"{verdict(ratio >= TARGET_VS_ALERTA)} ({ratio:.1f}x: "
                f"{single.items_per_s:,.0f} vs {alerta.items_per_s:,.0f} events/s)")
        else:
            log(f"  {db}: single events >= {TARGET_VS_ALERTA:.0f}x alerta-server: not checked")
        if am is not None and am.items_per_s > 0:
            ratio = batches.items_per_s / am.items_per_s
            log(f"  {db}: batches >= {TARGET_VS_ALERTMANAGER:.0%} of Alertmanager's alerts/s: "
                f"{verdict(ratio >= TARGET_VS_ALERTMANAGER and batches.durable)} "
                f"({ratio:.1%}: {batches.items_per_s:,.0f} vs {am.items_per_s:,.0f} alerts/s)")
        else:
            log(f"  {db}: batches >= {TARGET_VS_ALERTMANAGER:.0%} of Alertmanager: not checked")
    for name in ("postgres_error",):
        if name in results:
            log(f"  {results[name]}")
    log(f"\ntotal time {total:.0f} s")


def bench(opts, work: str, running: dict) -> int:
    started = time.monotonic()
    results: dict = {"load_at_start": load_average()}
    log(f"Atalaia intake benchmark: {os.cpu_count()} CPU(s), Python "
        f"{platform.python_version()}, load average {results['load_at_start']}, work dir {work}")
    log(f"load: {opts.warmup:.0f} s warm-up + {opts.duration:.0f} s measured per run; "
        f"{opts.concurrency} (then {opts.low_concurrency}) requests in flight for single events, "
        f"{opts.batch_concurrency} "
        f"for batches of {BATCH}; generator: this file (--generate), asyncio, raw HTTP/1.1 "
        "keep-alive connections, in its own process")
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("ATALAIA_DATABASE_URL", "ATALAIA_DATA_DIR")}
    base_env.setdefault("ATALAIA_LOG_LEVEL", "WARNING")
    pg = postgres_available(("createdb", "psql"))
    if not pg:
        results["postgres_error"] = (f"PostgreSQL is not reachable on {PG['host']}:{PG['port']}:"
                                     " the PostgreSQL runs and alerta-server were skipped")
        log(results["postgres_error"])

    if "sqlite" in opts.dbs:
        log("\n--- Atalaia on SQLite")
        data = Path(work) / "sqlite"
        atalaia("sqlite", dict(base_env, ATALAIA_DATA_DIR=str(data)), work, opts, running,
                results)
    if "postgresql" in opts.dbs and pg:
        log("\n--- Atalaia on PostgreSQL")
        env = dict(base_env, ATALAIA_DATA_DIR=str(Path(work) / "pg"),
                   **atalaia_database("intake", running, "atalaia-db"))
        atalaia("postgresql", env, work, opts, running, results)
    if not opts.skip_alertmanager:
        log("\n--- Prometheus Alertmanager")
        if Path(ALERTMANAGER).exists():
            alertmanager_peer(work, opts, running, results)
        else:
            log(f"  SKIPPED: {ALERTMANAGER} is missing (apt-get install prometheus-alertmanager)")
    if not opts.skip_alerta:
        log("\n--- alerta-server")
        if pg:
            alerta_peer(work, opts, running, results)
        else:
            results["alerta_error"] = "alerta-server needs PostgreSQL, which is not reachable"
            log(f"  SKIPPED: {results['alerta_error']}")
    summary(results, opts, time.monotonic() - started)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=WARMUP, help="seconds before that")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help="requests in flight for single events")
    parser.add_argument("--low-concurrency", type=int, default=LOW_CONCURRENCY,
                        help="single events again at this many in flight (0: not)")
    parser.add_argument("--batch-concurrency", type=int, default=BATCH_CONCURRENCY,
                        help=f"requests in flight for batches of {BATCH} alerts")
    parser.add_argument("--workers", type=int, help="atalaia web --workers (default: settings)")
    parser.add_argument("--threads", type=int, help="atalaia web --threads (default: settings)")
    parser.add_argument("--alerta-workers", type=int, default=ALERTA_WORKERS)
    parser.add_argument("--dbs", default="sqlite,postgresql",
                        help="Atalaia databases to measure (sqlite,postgresql)")
    parser.add_argument("--skip-alertmanager", action="store_true")
    parser.add_argument("--skip-alerta", action="store_true")
    opts = parser.parse_args()
    if opts.generate:
        return generate_main(opts.generate)
    opts.dbs = [d.strip() for d in opts.dbs.split(",") if d.strip()]
    if not Path(ATALAIA).exists():
        print(f"{ATALAIA} is missing: run `make install` first", file=sys.stderr)
        return 2

    # 8 loads at most; longer durations than the defaults get more time
    time_limit(max(TIME_LIMIT_S, int(8 * (opts.warmup + opts.duration + 6) + 120)))
    work = tempfile.mkdtemp(prefix="atalaia-bench-intake-")
    running: dict = {}  # servers (Proc) and throwaway databases (str) to remove at the end
    try:
        return bench(opts, work, running)
    except (BenchError, TimeoutError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"\nbench/intake.py failed: {exc}", file=sys.stderr)
        for thing in running.values():
            if isinstance(thing, Proc):
                print(f"--- {thing.name} log (tail) ---\n{thing.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench/intake.py interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        stop_all(running)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
