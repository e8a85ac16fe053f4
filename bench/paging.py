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
   d. resolves the incident through the API (stage resolution, the verification
      gate passed: the Support check ticked with a responder's token and the
      commander's sign-off, then public status resolved), which stops its
      escalations: nothing more is sent for
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

With ``--slow-subscriber`` (20 timed runs unless ``--runs`` says otherwise): a
webhook subscriber that holds every request open is on the public status page
while each incident is declared. Web and worker run with
ATALAIA_OUTBOUND_ALLOW_PRIVATE=true (the receiver is on 127.0.0.1), otherwise
the defaults (ATALAIA_OUTBOUND_DEADLINE_SECONDS 10 s). After the warm-up:

- the receiver, a thread of this script, accepts every connection, reads the
  request and answers one byte every SLOW_BYTE_EVERY_S (5 s), never finishing
  (an endless header line), until the sender hangs up;
- it is subscribed as the public would: GET and POST ``/status/subscribe/``
  (kind webhook, its URL), with the form's CSRF token;
- a background incident on ``email`` is declared (its e-mails name another
  incident: they are not counted);
- each run first publishes an update on the background incident
  (``POST /api/v1/incidents/<id>/updates``), which the worker sends to the
  subscriber, and waits (at most SLOW_WAIT_S) until the receiver holds a
  connection from the worker open; only then the critical incident is declared
  and timed as above, with SLOW_TIMEOUT_S instead of TIMEOUT_S so a late e-mail
  is measured rather than missed. The run's line says how many of the
  receiver's connections were open at the declaration. The resolution's
  closing update goes to the subscriber too, and failed webhook attempts are
  retried with the outbox's backoff: the receiver is busy most of the time.

The target is the same: every first e-mail, p95 under 1 s.

Exits 0 when it ran to the end, whether or not the target was met; 1 on an
error (PostgreSQL not reachable on 127.0.0.1:5432 as user postgres is an error
when it was asked for).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from benchlib import (
    ATALAIA,
    BenchError,
    CpuMeter,
    Proc,
    SmtpSink,
    Tail,
    add_db_option,
    atalaia_env,
    free_port,
    guarded,
    load_average,
    log,
    migrate_and_demo,
    percentile,
    postgres_pids,
    run,
    smtp_sink,
    start_web,
    time_limit,
)

RUNS = 50
WARMUP = 3
TEAMS = ("technical", "support", "communications")  # the demo plan's critical level
SERVICES = ["payments", "checkout"]  # two critical services: critical in the demo plan
TARGET_S = 1.0
TIMEOUT_S = 10.0  # per run: a team with no e-mail by then is missed
WARMUP_TIMEOUT_S = 60.0  # the first run also waits for the worker to start
MAPPING_AFTER_S = 2.0  # ask the API for the pages then even if e-mails are missing
READ_EVERY_S = 0.01
SLOW_RUNS = 20  # --slow-subscriber's default
SLOW_BYTE_EVERY_S = 5.0  # the slow subscriber's pace
SLOW_WAIT_S = 30.0  # for the worker to reach the slow subscriber before a declaration
SLOW_TIMEOUT_S = 60.0  # per run with the slow subscriber: a late e-mail is measured
TIME_LIMIT_S = 600  # the whole run is aborted (and cleaned up) after this
WEB_WORKERS = 2  # the default ATALAIA_WEB_WORKERS

SINK = smtp_sink(r"""
import json, time
from email import message_from_bytes, policy
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
def stopped():
    out.close()
""", smtp="Timed", backlog=100)  # asyncio's default backlog

INCIDENT_IN_SUBJECT = re.compile(r"#(\d+):")
PAGE_IN_MESSAGE_ID = re.compile(r"<page-(\d+)-r\d+-\d+@")


# --- the sink ------------------------------------------------------------------------


class Mailbox:
    """The sink's file, read as it grows: arrivals by incident."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = Tail(path)
        self.by_incident: dict[int, list[dict]] = {}
        self.others = 0  # messages that name no incident

    def read(self) -> None:
        for line in self.file.lines():
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


# --- the slow subscriber ---------------------------------------------------------------


class SlowReceiver:
    """A webhook receiver that reads the request, then answers one byte every
    SLOW_BYTE_EVERY_S and never finishes, until the sender hangs up."""

    ANSWER = b"HTTP/1.1 200 OK\r\nX-Slow: "

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.open = 0  # connections being answered now
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.open += 1
                self.accepted += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.recv(65536)  # the request (a small JSON body): enough to answer
                n = 0
                while not self.stopped.wait(0 if n == 0 else SLOW_BYTE_EVERY_S):
                    byte = self.ANSWER[n] if n < len(self.ANSWER) else ord("a")
                    conn.sendall(bytes([byte]))
                    n += 1
        except OSError:
            pass  # the sender hung up: its deadline
        finally:
            with self.lock:
                self.open -= 1

    def wait_busy(self, since: int, timeout: float) -> bool:
        """Until a connection accepted after `since` is being answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.accepted > since and self.open > 0:
                    return True
            time.sleep(READ_EVERY_S)
        return False

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


def subscribe_webhook(base: str, url: str) -> None:
    """Sign up on the public page, as anyone can."""
    with httpx.Client(base_url=base, timeout=30) as browser:
        form = browser.get("/status/subscribe/")
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        if form.status_code != 200 or found is None:
            raise BenchError(f"/status/subscribe/: {form.status_code}, no CSRF token")
        answer = browser.post("/status/subscribe/", data={
            "csrfmiddlewaretoken": found.group(1), "kind": "webhook", "address": url,
            "language": "en"}, headers={"Referer": base + "/status/subscribe/"})
        if answer.status_code != 200 or "secret" not in answer.text.lower():
            raise BenchError(f"subscribing {url}: {answer.status_code} {answer.text[:300]}")


class SlowSubscriber:
    """The slow receiver, subscribed, and a background incident whose updates reach it."""

    def __init__(self, base: str, api: Api) -> None:
        self.receiver = SlowReceiver()
        subscribe_webhook(base, f"http://127.0.0.1:{self.receiver.port}/hook")
        background = api.call("POST", "/incidents", 201, json={
            "title": "Bench background incident", "services": ["email"],
            "summary": "bench/paging.py --slow-subscriber: its updates go to the subscriber"})
        assert isinstance(background, dict)
        self.incident = background["id"]
        self.api = api
        self.updates = 0

    def occupy(self) -> bool:
        """Publish an update the worker must send to the slow subscriber; True once the
        worker is inside that request."""
        since = self.receiver.accepted
        self.updates += 1
        self.api.call("POST", f"/incidents/{self.incident}/updates", 201, json={
            "status": "investigating", "body_en": f"Background update {self.updates}."})
        return self.receiver.wait_busy(since, SLOW_WAIT_S)

    def stop(self) -> None:
        self.receiver.stop()


# --- one run -------------------------------------------------------------------------


class Api:
    def __init__(self, base: str, token: str, checker: Api | None = None) -> None:
        self.client = httpx.Client(base_url=base + "/api/v1", timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})
        # The responder (in Support) ticks the verification gate's check.
        self.checker = checker or self

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


def resolve(api: Api, pk: int) -> None:
    """Resolution stage, the verification gate passed (the Support check ticked by the
    responder, the commander's sign-off), then resolved: the escalations stop."""
    api.call("POST", f"/incidents/{pk}/stage", 200, json={"stage": "resolution"})
    gate = api.call("GET", f"/incidents/{pk}/gate", 200)
    assert isinstance(gate, dict)
    for item in gate["items"]:
        if item["kind"] == "check" and not item["ok"]:
            api.checker.call("POST", f"/incidents/{pk}/gate/checks/{item['check']}", 200)
    api.call("POST", f"/incidents/{pk}/gate/signoff", 200)
    api.call("POST", f"/incidents/{pk}/status", 200,
             json={"status": "resolved", "message": "bench run over"})


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
    resolve(api, pk)
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


def show_run(label: str, result: dict, note: str = "") -> None:
    teams = ", ".join(f"{team} {ms(v)}" for team, v in result["teams"].items())
    log(f"  {label}: #{result['incident']} declared in {ms(result['request'])} ms; first "
        f"e-mail (ms) {teams}; {result['mails']} e-mail(s) to {', '.join(result['to'])}"
        + note)


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


def bench(opts, work: str, running: dict) -> int:
    started = time.monotonic()
    log(f"Atalaia paging benchmark: {opts.runs} critical declarations on {opts.db}, "
        f"{os.cpu_count()} CPU(s), load average {load_average()}"
        + (", a slow webhook subscriber" if opts.slow_subscriber else ""))
    env = atalaia_env("paging", opts.db, work, running)
    if opts.slow_subscriber:  # the slow subscriber listens on 127.0.0.1
        env["ATALAIA_OUTBOUND_ALLOW_PRIVATE"] = "true"

    web_port = free_port()
    env["PORT"] = str(web_port)  # the demo's monitors name the console's port
    token = migrate_and_demo(env, "commander", "bench-paging")
    log(f"setup: migrate, demo, a token for commander ({time.monotonic() - started:.1f} s)")

    mailbox = Mailbox(Path(work) / "sink.jsonl")
    sink = running["sink"] = SmtpSink("sink", SINK, mailbox.path, work)
    sink_port = sink.port
    sink.wait_for_line("ready", 20)
    env.update(ATALAIA_SMTP_HOST="127.0.0.1", ATALAIA_SMTP_PORT=str(sink_port))
    web, base = start_web("web", env, work, running, port=web_port)
    worker = running["worker"] = Proc("worker", [ATALAIA, "worker"], env, work)
    web.wait_ready(base + "/healthz", processes=WEB_WORKERS + 1)
    log(f"web: atalaia web --bind 127.0.0.1:{web_port} (gunicorn, default workers and "
        f"threads); worker: atalaia worker (default poll); SMTP sink on 127.0.0.1:{sink_port}")

    checker = run(env, ATALAIA, "token_create", "responder", "--name", "bench-paging-check")
    api = Api(base, token, Api(base, checker.strip()))
    log(f"\n--- warm-up ({WARMUP} runs, not counted)")
    for n in range(WARMUP):
        show_run(f"warm-up {n + 1}", one_run(api, mailbox, f"Bench paging, warm-up {n + 1}",
                                                    WARMUP_TIMEOUT_S))
        time.sleep(random.uniform(0.1, 0.6))

    slow = None
    if opts.slow_subscriber:
        slow = running["slow"] = SlowSubscriber(base, api)
        log(f"\nslow subscriber: a webhook on 127.0.0.1:{slow.receiver.port} answering one "
            f"byte every {SLOW_BYTE_EVERY_S:.0f} s, subscribed on /status/subscribe/; "
            f"background incident #{slow.incident}")
    log(f"\n--- {opts.runs} runs")
    pids = {"web": web.pids(), "worker": worker.pids(), "sink": sink.pids()}
    if opts.db == "postgresql":  # the postmaster counts the backends that have exited
        pids["postgres"] = postgres_pids()
    meter, runs_started = CpuMeter(pids), time.monotonic()
    results = []
    for n in range(opts.runs):
        note = ""
        if slow is not None:
            busy = slow.occupy()
            note = (f"; slow subscriber: {slow.receiver.open} connection(s) open at the "
                    f"declaration" + ("" if busy else f", the worker did not reach it in "
                                                      f"{SLOW_WAIT_S:.0f} s"))
        result = one_run(api, mailbox, f"Bench paging {n + 1}",
                         SLOW_TIMEOUT_S if slow else TIMEOUT_S)
        show_run(f"run {n + 1:>2}", result, note)
        results.append(result)
        time.sleep(random.uniform(0.1, 0.6))
    elapsed = time.monotonic() - runs_started
    cpu = meter.shares(elapsed)

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
    parser.add_argument("--runs", type=int, default=None,
                        help=f"timed declarations (default {RUNS}; {SLOW_RUNS} with "
                             f"--slow-subscriber)")
    parser.add_argument("--slow-subscriber", action="store_true",
                        help="a webhook subscriber that answers one byte every "
                             f"{SLOW_BYTE_EVERY_S:.0f} s is busy at each declaration")
    add_db_option(parser)
    opts = parser.parse_args()
    if opts.runs is None:
        opts.runs = SLOW_RUNS if opts.slow_subscriber else RUNS
    if opts.runs < 1:
        parser.error("--runs must be 1 or more")

    per_run = SLOW_WAIT_S + SLOW_TIMEOUT_S if opts.slow_subscriber else 12
    time_limit(max(TIME_LIMIT_S, int(opts.runs * per_run)))
    work = tempfile.mkdtemp(prefix="atalaia-bench-paging-")
    running: dict = {}  # processes (Proc) and the throwaway database (str)
    return guarded("paging", lambda: bench(opts, work, running), running, [work],
                   errors=(httpx.HTTPError,), logs=("web", "worker"))


if __name__ == "__main__":
    sys.exit(main())
