"""Paging latency: from a critical declaration to each activated team's first e-mail.

The requirement: declare a critical incident whose plan activates three teams;
measure the time from the declaration request to each team's first e-mail
arriving at a local SMTP server, over 50 runs; print the p50 and the p95.
Target: p95 under 1 s with the worker as it runs in ``atalaia run`` (the
default ATALAIA_WORKER_POLL_SECONDS, 0.25 s: it polls when it found nothing to
do; nothing wakes it).

Run it from the project root (about a minute)::

    .venv/bin/python bench/paging.py
    .venv/bin/python bench/paging.py --runs 10 --db postgresql

What it does, on 127.0.0.1, in a temporary directory removed at the end:

1. The database: SQLite in a temporary ATALAIA_DATA_DIR (default), or with
   ``--db postgresql`` a throwaway database ``atalaia_bench_paging_<pid>``
   (createdb, ``dropdb --force`` at the end; ATALAIA_SECRET_KEY set as
   PostgreSQL requires). Every other ATALAIA_* variable of the environment is
   left out, so the processes run with the defaults; only the data directory,
   the database, ATALAIA_SMTP_HOST / ATALAIA_SMTP_PORT (the sink) and PORT (the
   console's port, which the demo's monitors name) are set.
2. ``atalaia migrate``, ``atalaia demo`` (teams technical, support and
   communications; personas commander, responder and communicator with verified
   e-mail addresses; the "Technical" escalation policy, whose first level pages
   whoever is on call in "Technical primary"; support and communications have
   no policy, so their whole team is paged; the demo plan activates the three
   teams at the critical level) and ``atalaia token_create commander``.
3. The SMTP sink: aiosmtpd in its own process. For each message it writes one
   line to a file at once: the arrival time (``time.monotonic()``, a clock the
   whole machine shares, read when the DATA command has received the whole
   message), when its SMTP connection was opened, the recipients, the Subject
   ("[Atalaia] <level> #<id>: <title>", which names the incident) and the
   Message-ID (``<page-<page id>-r<round>-<n>@...>``, which names the page).
4. ``atalaia web --bind 127.0.0.1:<free port>`` (gunicorn, the default workers
   and threads) and ``atalaia worker``, the two processes ``atalaia run`` starts
   for the console and the worker. The prober (the third) is not started: the
   demo's monitors only watch the console itself.
5. WARMUP untimed runs (first requests of each web worker, the worker's first
   SMTP connection), then RUNS timed runs. Each run:
   a. POSTs ``/api/v1/incidents`` with httpx (one client, keep-alive, the
      commander's bearer token) for services payments and checkout, two
      critical services, which the demo plan classifies as critical (checked
      in the answer); t0 is read just before the request, and the answer's
      arrival gives the declaration request's own latency;
   b. reads the sink's file every 10 ms. Once it holds as many e-mails for the
      incident as there are teams (or after 2 s), it asks the API for the
      incident's escalations (team and policy) and pages (policy), which maps
      every Message-ID to its team; no request is made while the e-mails are
      still expected. It waits until each of the three teams has an e-mail (at
      most TIMEOUT_S; a team without one counts as missed, an infinite latency);
   c. each team's latency is the arrival of its first e-mail minus t0;
   d. resolves the incident through the API (stage resolution, then public
      status resolved), which stops its escalations: nothing more is sent for
      it, and incidents do not pile up open (their rows do: each run adds an
      incident, three pages and their timelines to the database);
   e. waits a random 0.1 to 0.6 s, so that the next declaration falls at any
      point of the worker's poll.
6. Prints, over the timed runs, p50, p95 and max in ms of the declaration
   request, of each team's first e-mail, of every first e-mail (3 per run, the
   target), of the last team's first e-mail in each run, and of the time from
   the declaration's answer to each first e-mail (the worker's share), split for
   the run's earliest e-mail into the answer to the worker's SMTP connection
   (its poll and claim; negative when the worker connected before the answer
   reached the client) and that connection to the e-mail (SMTP greeting, EHLO,
   building and sending the message); the CPU used meanwhile by the web
   server, the worker, the sink (and PostgreSQL), how busy the machine was and
   the rest of that (anything else running here skews the figures); then
   MET / NOT MET for p95 < 1 s, per team and for every first e-mail.

Exits 0 when it ran to the end, whether or not the target was met; 1 on an
error (PostgreSQL not reachable on 127.0.0.1:5432 as user postgres is an error
when it was asked for).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import ROOT, BenchError, Proc, free_port, log, percentile, proc_stat, run

BIN = ROOT / ".venv" / "bin"
ATALAIA = str(BIN / "atalaia")
PYTHON = str(BIN / "python")
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
SECRET = "bench-paging-secret-key-that-is-long-enough-0123456789"
RUNS = 50
WARMUP = 3
TEAMS = ("technical", "support", "communications")  # the demo plan's critical level
SERVICES = ["payments", "checkout"]  # two critical services: critical in the demo plan
TARGET_S = 1.0
TIMEOUT_S = 10.0  # per run: a team with no e-mail by then is missed
WARMUP_TIMEOUT_S = 60.0  # the first run also waits for the worker to start
MAPPING_AFTER_S = 2.0  # ask the API for the pages then even if e-mails are missing
READ_EVERY_S = 0.01
TIME_LIMIT_S = 600  # the whole run is aborted (and cleaned up) after this
WEB_WORKERS = 2  # the default ATALAIA_WEB_WORKERS

SINK = r"""
import asyncio, json, signal, sys, time
from email import message_from_bytes, policy
from aiosmtpd.smtp import SMTP
out = open(sys.argv[2], "a", buffering=1)
class Timed(SMTP):
    def connection_made(self, transport):
        self.connected_at = time.monotonic()
        super().connection_made(transport)
class Sink:
    async def handle_DATA(self, server, session, envelope):
        arrived = time.monotonic()
        message = message_from_bytes(envelope.content, policy=policy.default)
        out.write(json.dumps({"t": arrived, "c": server.connected_at, "to": envelope.rcpt_tos,
                              "subject": str(message.get("Subject", "")),
                              "message_id": str(message.get("Message-ID", ""))}) + "\n")
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    handler = Sink()
    # A fixed hostname: without one every connection looks up the machine's FQDN.
    server = await loop.create_server(lambda: Timed(handler, hostname="sink.invalid"),
                                      "127.0.0.1", int(sys.argv[1]))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    out.close()
asyncio.run(main())
"""

INCIDENT_IN_SUBJECT = re.compile(r"#(\d+):")
PAGE_IN_MESSAGE_ID = re.compile(r"<page-(\d+)-r\d+-\d+@")


# --- the sink ------------------------------------------------------------------------


class Mailbox:
    """The sink's file, read as it grows: arrivals by incident."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.by_incident: dict[int, list[dict]] = {}
        self.others = 0  # messages that name no incident

    def read(self) -> None:
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
            end = data.rfind(b"\n") + 1  # only whole lines; the rest on the next read
            self.offset += end
            for line in data[:end].splitlines():
                record = json.loads(line)
                found = INCIDENT_IN_SUBJECT.search(record["subject"])
                page = PAGE_IN_MESSAGE_ID.search(record["message_id"])
                if found is None:
                    self.others += 1
                    continue
                record["page"] = int(page.group(1)) if page else None
                self.by_incident.setdefault(int(found.group(1)), []).append(record)

    def mails(self, incident: int) -> list[dict]:
        return self.by_incident.get(incident, [])


def wait_for_line(proc: Proc, prefix: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line.startswith(prefix) for line in proc.log_path.read_text().splitlines()):
            return
        if proc.proc.poll() is not None:
            raise BenchError(f"{proc.name} exited ({proc.proc.returncode}):\n"
                             + proc.log_tail())
        time.sleep(0.05)
    raise BenchError(f"{proc.name}: no '{prefix}' within {timeout:.0f} s:\n" + proc.log_tail())


# --- /proc ---------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of these processes (and of their children that have exited)."""
    total = 0
    for pid in pids:
        stat = proc_stat(pid)
        if stat:  # utime + stime + cutime + cstime
            total += sum(int(v) for v in stat[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip() == "postgres":
                    found.append(int(entry))
    return found


def busy_ticks() -> tuple[int, int]:
    """(busy, total) ticks of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


# --- one run -------------------------------------------------------------------------


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=base + "/api/v1", timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, expected: int, **kwargs) -> dict | list:
        answer = self.client.request(method, path, **kwargs)
        if answer.status_code != expected:
            raise BenchError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json()


def team_of_pages(api: Api, incident: int) -> dict[int, str]:
    """Page id -> the slug of the team whose escalation paged it."""
    escalations = api.call("GET", f"/incidents/{incident}/escalations", 200)
    teams = {e["policy"]: e["team"] for e in escalations}
    missing = set(TEAMS) - set(teams.values())
    if missing:
        raise BenchError(f"incident {incident}: no escalation for {', '.join(sorted(missing))} "
                         f"(escalations: {escalations})")
    pages = api.call("GET", f"/incidents/{incident}/pages", 200)
    return {p["id"]: teams.get(p["policy"], "?") for p in pages}


def one_run(api: Api, mailbox: Mailbox, title: str, timeout: float) -> dict:
    t0 = time.monotonic()
    answer = api.client.post("/incidents", json={
        "title": title, "services": SERVICES,
        "summary": "bench/paging.py: a declaration that pages three teams"})
    answered = time.monotonic()
    if answer.status_code != 201:
        raise BenchError(f"declaration: {answer.status_code} {answer.text[:500]}")
    incident = answer.json()
    if incident["level"] != "critical":
        raise BenchError(f"incident {incident['id']} is {incident['level']}, not critical: "
                         f"{incident['level_reason']}")
    pk = incident["id"]
    team_of: dict[int, str] = {}
    first: dict[str, float] = {}
    asked = -math.inf  # when the API was last asked for the pages
    while True:
        mailbox.read()
        mails = mailbox.mails(pk)
        now = time.monotonic()
        unknown = any(m["page"] is not None and m["page"] not in team_of for m in mails)
        if now - asked > 0.5 and ((unknown and len(mails) >= len(TEAMS))
                                  or (asked < 0 and now - t0 > MAPPING_AFTER_S)):
            team_of, asked = team_of_pages(api, pk), now
        for mail in mails:
            team = team_of.get(mail["page"])
            if team is not None and (team not in first or mail["t"] < first[team]):
                first[team] = mail["t"]
        if all(team in first for team in TEAMS) or now - t0 > timeout:
            break
        time.sleep(READ_EVERY_S)
    api.call("POST", f"/incidents/{pk}/stage", 200, json={"stage": "resolution"})
    api.call("POST", f"/incidents/{pk}/status", 200,
             json={"status": "resolved", "message": "bench run over"})
    latency = {team: first[team] - t0 if team in first else math.inf for team in TEAMS}
    earliest = min(mailbox.mails(pk), key=lambda m: m["t"], default=None)
    return {"incident": pk, "request": answered - t0, "teams": latency,
            "after_answer": {team: v - (answered - t0) for team, v in latency.items()},
            "connected": earliest["c"] - answered if earliest else math.inf,
            "handshake": earliest["t"] - earliest["c"] if earliest else math.inf,
            "mails": len(mailbox.mails(pk)),
            "to": sorted({to for m in mailbox.mails(pk) for to in m["to"]})}


def ms(value: float) -> str:
    return f"{value * 1000:.0f}" if math.isfinite(value) else "missed"


def show_run(label: str, result: dict) -> None:
    teams = ", ".join(f"{team} {ms(v)}" for team, v in result["teams"].items())
    log(f"  {label}: #{result['incident']} declared in {ms(result['request'])} ms; first "
        f"e-mail (ms) {teams}; {result['mails']} e-mail(s) to {', '.join(result['to'])}")


# --- the summary ---------------------------------------------------------------------


def verdict(values: list[float]) -> str:
    p95 = percentile(values, 95)
    return f"{'MET' if p95 < TARGET_S else 'NOT MET'} (p95 {ms(p95)} ms)"


def summarize(results: list[dict]) -> None:
    rows: list[tuple[str, list[float]]] = [
        ("declaration request (POST, 201)", [r["request"] for r in results])]
    rows += [(f"first e-mail, {team}", [r["teams"][team] for r in results]) for team in TEAMS]
    every = [v for r in results for v in r["teams"].values()]
    rows.append((f"every first e-mail ({len(every)})", every))
    rows.append(("last team's first e-mail, per run", [max(r["teams"].values())
                                                        for r in results]))
    rows.append(("after the answer, every first e-mail",
                 [v for r in results for v in r["after_answer"].values()]))
    rows.append(("  answer -> worker connects to SMTP", [r["connected"] for r in results]))
    rows.append(("  connection -> its first e-mail", [r["handshake"] for r in results]))
    log(f"\n{'over ' + str(len(results)) + ' runs, in ms':40} {'p50':>7} {'p95':>7} "
        f"{'max':>7} {'missed':>7}")
    for name, values in rows:
        missed = sum(1 for v in values if not math.isfinite(v))
        log(f"{name:40} {ms(percentile(values, 50)):>7} {ms(percentile(values, 95)):>7} "
            f"{ms(max(values)):>7} {missed:>7}")


# --- the run -------------------------------------------------------------------------


def postgres_available() -> bool:
    if not shutil.which("createdb") or not shutil.which("pg_isready"):
        return False
    done = subprocess.run(["pg_isready", "-h", PG["host"], "-p", PG["port"]],
                          capture_output=True)
    return done.returncode == 0


def drop_database(name: str) -> None:
    with contextlib.suppress(Exception):
        subprocess.run(["dropdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"],
                        "--if-exists", "--force", name], capture_output=True, timeout=60)


def bench(opts, work: str, running: dict) -> int:
    started = time.monotonic()
    log(f"Atalaia paging benchmark: {opts.runs} critical declarations on {opts.db}, "
        f"{os.cpu_count()} CPU(s), load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATALAIA_")}
    env["ATALAIA_DATA_DIR"] = str(Path(work) / "data")
    if opts.db == "postgresql":
        if not postgres_available():
            raise BenchError(f"PostgreSQL is not reachable on {PG['host']}:{PG['port']}")
        database = f"atalaia_bench_paging_{os.getpid()}"
        run(None, "createdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], database)
        running["database"] = database
        env.update(ATALAIA_SECRET_KEY=SECRET, ATALAIA_DATABASE_URL=(
            f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{database}"))

    web_port = free_port()
    env["PORT"] = str(web_port)  # the demo's monitors name the console's port
    run(env, ATALAIA, "migrate", "-v0", timeout=300)
    run(env, ATALAIA, "demo")
    token = run(env, ATALAIA, "token_create", "commander", "--name", "bench-paging").strip()
    log(f"setup: migrate, demo, a token for commander ({time.monotonic() - started:.1f} s)")

    sink_port = free_port()
    mailbox = Mailbox(Path(work) / "sink.jsonl")
    sink = running["sink"] = Proc("sink", [PYTHON, "-c", SINK, str(sink_port),
                                           str(mailbox.path)], dict(os.environ), work)
    wait_for_line(sink, "ready", 20)
    env.update(ATALAIA_SMTP_HOST="127.0.0.1", ATALAIA_SMTP_PORT=str(sink_port))
    web = running["web"] = Proc("web", [ATALAIA, "web", "--bind", f"127.0.0.1:{web_port}"],
                                env, work)
    worker = running["worker"] = Proc("worker", [ATALAIA, "worker"], env, work)
    base = f"http://127.0.0.1:{web_port}"
    web.wait_ready(base + "/healthz", processes=WEB_WORKERS + 1)
    log(f"web: atalaia web --bind 127.0.0.1:{web_port} (gunicorn, default workers and "
        f"threads); worker: atalaia worker (default poll); SMTP sink on 127.0.0.1:{sink_port}")

    api = Api(base, token)
    log(f"\n--- warm-up ({WARMUP} runs, not counted)")
    for n in range(WARMUP):
        show_run(f"warm-up {n + 1}", one_run(api, mailbox, f"Bench paging, warm-up {n + 1}",
                                                    WARMUP_TIMEOUT_S))
        time.sleep(random.uniform(0.1, 0.6))

    log(f"\n--- {opts.runs} runs")
    pids = {"web": web.pids(), "worker": worker.pids(), "sink": sink.pids()}
    if opts.db == "postgresql":  # the postmaster counts the backends that have exited
        pids["postgres"] = postgres_pids()
    cpu_before = {name: cpu_seconds(p) for name, p in pids.items()}
    machine_before, runs_started = busy_ticks(), time.monotonic()
    results = []
    for n in range(opts.runs):
        result = one_run(api, mailbox, f"Bench paging {n + 1}", TIMEOUT_S)
        show_run(f"run {n + 1:>2}", result)
        results.append(result)
        time.sleep(random.uniform(0.1, 0.6))
    elapsed = time.monotonic() - runs_started
    machine_after = busy_ticks()
    cpu = {name: (cpu_seconds(p) - cpu_before[name]) / elapsed for name, p in pids.items()}
    cpu["machine"] = ((machine_after[0] - machine_before[0])
                      / max(1, machine_after[1] - machine_before[1]) * (os.cpu_count() or 1))
    cpu["others"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))

    summarize(results)
    log(f"\nCPU during the runs ({elapsed:.0f} s), % of one core: "
        + ", ".join(f"{name} {100 * share:.0f}" for name, share in cpu.items())
        + f" (machine: all of its {os.cpu_count()} cores)")
    if mailbox.others:
        log(f"e-mails naming no incident: {mailbox.others}")
    log("")
    for team in TEAMS:
        log(f"target: {team}'s first e-mail, p95 < {TARGET_S * 1000:.0f} ms: "
            + verdict([r["teams"][team] for r in results]))
    log(f"target: every first e-mail, p95 < {TARGET_S * 1000:.0f} ms: "
        + verdict([v for r in results for v in r["teams"].values()]))
    log(f"\ntotal time {time.monotonic() - started:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="timed declarations")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql", "postgres"],
                        help="the database (default sqlite)")
    opts = parser.parse_args()
    opts.db = "postgresql" if opts.db == "postgres" else opts.db
    if opts.runs < 1:
        parser.error("--runs must be 1 or more")

    def on_alarm(signum, frame):
        raise TimeoutError("the benchmark took longer than its time limit")

    def on_term(signum, frame):
        raise KeyboardInterrupt  # stop, and clean up in the finally below

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(max(TIME_LIMIT_S, opts.runs * 12))
    work = tempfile.mkdtemp(prefix="atalaia-bench-paging-")
    running: dict = {}  # processes (Proc) and the throwaway database (str)
    try:
        return bench(opts, work, running)
    except (BenchError, TimeoutError, subprocess.TimeoutExpired, OSError,
            httpx.HTTPError) as exc:
        log(f"\nbench/paging.py failed: {exc}")
        for name in ("web", "worker"):
            if isinstance(running.get(name), Proc) and running[name].log_tail():
                log(f"\n--- the end of {name}'s log\n{running[name].log_tail()}")
        return 1
    except KeyboardInterrupt:
        log("\nbench/paging.py interrupted; stopping everything")
        return 130
    finally:
        signal.alarm(0)
        for thing in list(running.values()):
            if isinstance(thing, Proc):
                with contextlib.suppress(Exception):
                    thing.stop()
        if isinstance(running.get("database"), str):
            drop_database(running["database"])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
