"""Broadcast: one public update to 10,000 e-mail subscribers and 5 company channels.

The requirement: one update to 10,000 e-mail subscribers plus 5 social/chat
channels; print the time of the publishing request (target: under 200 ms,
whatever the number of subscribers) and the time until the last message arrived
at the local SMTP server (target: under 30 s with one worker).

Run it from the project root (about 2 minutes)::

    .venv/bin/python bench/broadcast.py
    .venv/bin/python bench/broadcast.py --runs 1 --subscribers 1000 --db postgresql

What it does, on 127.0.0.1, in a temporary directory removed at the end:

1. The database: SQLite in a temporary ATALAIA_DATA_DIR (default), or with
   ``--db postgresql`` a throwaway database ``atalaia_bench_broadcast_<pid>``
   (createdb, ``dropdb --force`` at the end; ATALAIA_SECRET_KEY set as
   PostgreSQL requires). Every other ATALAIA_* variable of the environment is
   left out, so the processes run with the defaults (BROADCAST_BATCH,
   WORKER_POLL_SECONDS, the outbox's batch); only the data directory, the
   database, ATALAIA_SMTP_HOST / ATALAIA_SMTP_PORT (the sink),
   ATALAIA_OUTBOUND_ALLOW_PRIVATE=true (the receivers are on loopback) and PORT
   are set.
2. ``atalaia migrate``, ``atalaia demo``, ``atalaia token_create communicator``
   (the demo's communicator persona: the role that publishes updates), then in
   one ``atalaia shell``: an incident declared on ["payments"] (critical in the
   demo plan); SUBSCRIBERS confirmed e-mail subscribers written with
   bulk_create as a sign-up leaves them once confirmed (kind "email", the
   address subscriber<i>@example.org encrypted, its hint and sha256 digest, a
   random secret encrypted, confirmed now, no component chosen, so they hear
   about every component; every other one in English, the rest in Portuguese);
   and 5 CompanyChannel rows whose Apprise URLs point at local receivers:
   ``mastodon://token@127.0.0.1:P`` (social, 500 characters; Apprise POSTs
   /api/v1/statuses), ``misskey://token@127.0.0.1:P`` (social, 3,000;
   /api/notes/create), ``mmost://127.0.0.1:P/token`` (chat: Mattermost's
   incoming webhook, the Slack-compatible format; Apprise's slack:// and
   discord:// only go to slack.com and discord.com, so they cannot be pointed
   at a local receiver), ``ntfy://127.0.0.1:P/atalaia-status`` (app push) and
   ``json://127.0.0.1:P/hooks/atalaia`` (chat: a JSON webhook).
3. The receivers: one process (the standard library's ThreadingHTTPServer),
   one port per channel; each POST is answered 200 with what the service would
   answer (a status id for Mastodon, a created note for Misskey, JSON for the
   rest), and its arrival time (``time.monotonic()``, a clock the whole machine
   shares), channel and path are written to a file at once. The SMTP sink:
   aiosmtpd in its own process, which writes each message's arrival time and
   Message-ID (``<broadcast-<broadcast id>-s<subscriber id>@...>``) to a file
   as it arrives.
4. ``atalaia web --bind 127.0.0.1:<free port>`` (gunicorn, the default workers
   and threads) and ONE ``atalaia worker`` (which expands broadcasts into
   deliveries BROADCAST_BATCH subscribers per turn and sends them through the
   outbox: e-mail over one SMTP connection per turn, channels through
   Apprise). It waits for the web server to answer and for the worker's
   "started" line; then two untimed GETs of the incident's updates through the
   API (the web process's first requests).
5. RUNS runs, one after the other. Each run POSTs
   ``/api/v1/incidents/<id>/updates`` with httpx (the communicator's bearer
   token; status "identified", a text in both languages,
   components={"payments": "major_outage"}), the API route that publishes
   (``comms.actions.publish_update``) exactly as the console's form does;
   t0 is read just before the request and the answer (201) gives the
   publishing request's time. It then reads the sink's and the receivers'
   files every 20 ms until the update's broadcast has SUBSCRIBERS e-mails
   (distinct subscribers) and the 5 channels have their message, or
   TIMEOUT_S. Times are from t0: the first and the last e-mail, each channel's
   message, and the last message of all.
6. After the runs, one ``atalaia shell`` reads for each update its broadcast
   rows (audience, deliveries queued, from creation to the end of the
   expansion) and its deliveries (statuses, the most attempts).
7. The CPU used during each run by the web server, the worker, the sink, the
   receivers (and PostgreSQL), how busy the machine was and the rest of that
   (anything else running here skews the figures).

Prints a line per run, a table, and MET / NOT MET for the two targets (on the
slowest run). Exits 0 when it ran to the end, whether or not the targets were
met; 1 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import (
    ATALAIA,
    PYTHON,
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
    shell_json,
    smtp_sink,
    start_web,
    time_limit,
)

SUBSCRIBERS = 10_000
RUNS = 3
TARGET_REQUEST_S = 0.200
TARGET_LAST_S = 30.0
TIMEOUT_S = 300.0  # per run: messages missing by then are counted missing
READ_EVERY_S = 0.02
TIME_LIMIT_S = 1200  # the whole run is aborted (and cleaned up) after this
USER = "communicator"

# name, kind, Apprise URL (PORT filled in), length limit, language
CHANNELS = [
    ("Mastodon", "social", "mastodon://bench-token@127.0.0.1:{port}", 500, "pt-br"),
    ("Misskey", "social", "misskey://bench-token@127.0.0.1:{port}", 3000, "pt-br"),
    ("Mattermost", "chat", "mmost://127.0.0.1:{port}/benchhooktoken", 0, "pt-br"),
    ("ntfy", "push", "ntfy://127.0.0.1:{port}/atalaia-status", 0, "pt-br"),
    ("JSON webhook", "chat", "json://127.0.0.1:{port}/hooks/atalaia", 0, "en"),
]

SETUP = """
import json, secrets, time
from django.conf import settings
from django.utils import timezone
from atalaia.comms.models import CompanyChannel, Subscriber
from atalaia.comms.subscriptions import hint as subscriber_hint
from atalaia.incidents.actions import declare_incident
from atalaia.lib.crypto import encrypt, sha256_hex
from atalaia.notify.contacts import hint as channel_hint
incident = declare_incident(None, "Card payments failing", ["payments"],
                            summary="bench/broadcast.py: one update to every subscriber")
started, now, rows = time.perf_counter(), timezone.now(), []
for i in range({count}):
    address = f"subscriber{{i}}@example.org"
    rows.append(Subscriber(kind="email", target=encrypt(address),
                           hint=subscriber_hint("email", address), digest=sha256_hex(address),
                           language="en" if i % 2 else "pt-br",
                           secret=encrypt(secrets.token_hex(32)), confirmed_at=now))
Subscriber.objects.bulk_create(rows, batch_size=1000)
subscribers_s = time.perf_counter() - started
for name, kind, url, limit, language in {channels!r}:
    CompanyChannel.objects.create(name=name, kind=kind, target=encrypt(url),
                                  hint=channel_hint("apprise", url), max_length=limit,
                                  language=language)
print("BENCH-SETUP " + json.dumps({{
    "incident": incident.pk, "level": incident.level, "subscribers_s": subscribers_s,
    "workers": settings.WEB_WORKERS, "threads": settings.WEB_THREADS,
    "batch": settings.BROADCAST_BATCH, "poll": settings.WORKER_POLL_SECONDS,
    "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]}}))
"""

REPORT = """
import json
from django.db.models import Count, Max
from atalaia.comms.models import Broadcast
from atalaia.notify.models import Delivery
out = {{}}
for update in {updates!r}:
    rows = []
    for b in Broadcast.objects.filter(update_id=update).order_by("pk"):
        deliveries = Delivery.objects.filter(idempotency_key__startswith=f"broadcast-{{b.pk}}-")
        statuses = dict(deliveries.values_list("status").annotate(n=Count("id")).order_by())
        rows.append({{"pk": b.pk, "audience": b.audience,
                     "channel": b.channel.name if b.channel else "",
                     "status": b.status, "queued": b.queued,
                     "expanded_s": (b.finished_at - b.created_at).total_seconds()
                     if b.finished_at else None,
                     "statuses": statuses,
                     "most_attempts": deliveries.aggregate(m=Max("attempts"))["m"]}})
    out[update] = rows
print("BENCH-REPORT " + json.dumps(out))
"""

SINK = smtp_sink(r"""
import re, time
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*<?([^>\s]+)", re.I | re.M)
out = open(sys.argv[2], "a", buffering=1)
class Sink:
    async def handle_DATA(self, server, session, envelope):
        arrived = time.monotonic()
        found = MESSAGE_ID.search(envelope.content)
        out.write(f"{arrived:.6f} {found[1].decode() if found else '-'}\n")
        return "250 OK"
def stopped():
    out.close()
""")

RECEIVERS = r"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
out = open(sys.argv[1], "a", buffering=1)
lock = threading.Lock()
ANSWERS = {"/api/v1/statuses": {"id": "1", "url": "http://127.0.0.1/@atalaia/1",
                                "visibility": "public"},
           "/api/notes/create": {"createdNote": {"id": "1", "visibility": "public"}}}
def handler_for(name):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.monotonic()
            with lock:
                out.write(json.dumps({"t": arrived, "channel": name, "path": self.path,
                                      "bytes": len(body),
                                      "body": body[:200].decode("utf-8", "replace")}) + "\n")
            answer = json.dumps(ANSWERS.get(self.path.split("?")[0], {"ok": True})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        def log_message(self, *args):
            pass
    return Handler
for spec in sys.argv[2:]:
    name, port = spec.rsplit("=", 1)
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), handler_for(name))
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

BROADCAST_ID = re.compile(r"^broadcast-(\d+)-s(\d+)@")


# --- the sink and the receivers -----------------------------------------------------


class Arrivals:
    """The sink's and the receivers' files, read as they grow."""

    def __init__(self, mail_path: Path, channel_path: Path) -> None:
        self.mail_path, self.channel_path = mail_path, channel_path
        self.mail_file, self.channel_file = Tail(mail_path), Tail(channel_path)
        # broadcast id -> {subscriber id: first arrival}; and every arrival (duplicates)
        self.mails: dict[int, dict[int, float]] = {}
        self.mail_count: dict[int, int] = {}
        self.others = 0
        self.channels: list[dict] = []

    def read(self) -> None:
        for line in self.mail_file.lines():
            arrived, message_id = line.decode().split(" ", 1)
            found = BROADCAST_ID.match(message_id)
            if not found:
                self.others += 1
                continue
            broadcast, subscriber = int(found.group(1)), int(found.group(2))
            self.mails.setdefault(broadcast, {}).setdefault(subscriber, float(arrived))
            self.mail_count[broadcast] = self.mail_count.get(broadcast, 0) + 1
        for line in self.channel_file.lines():
            self.channels.append(json.loads(line))


# --- one run -------------------------------------------------------------------------


def one_run(n: int, client: httpx.Client, incident: int, arrivals: Arrivals, count: int,
            pids: dict[str, list[int]]) -> dict:
    arrivals.read()
    known = set(arrivals.mails)
    channels_before = len(arrivals.channels)
    meter = CpuMeter(pids)
    t0 = time.monotonic()
    answer = client.post(f"/incidents/{incident}/updates", json={
        "status": "identified",
        "body_en": f"Card payments are failing at checkout. We found the cause and are fixing "
                   f"it (bench update {n}).",
        "body_pt": f"Pagamentos com cartão estão falhando no checkout. Achamos a causa e "
                   f"estamos corrigindo (atualização {n} do bench).",
        "components": {"payments": "major_outage"}})
    answered = time.monotonic()
    if answer.status_code != 201:
        raise BenchError(f"publishing: {answer.status_code} {answer.text[:500]}")
    update = answer.json()["id"]
    broadcast = None
    next_progress = t0 + 5
    while True:
        arrivals.read()
        now = time.monotonic()
        new = [b for b in arrivals.mails if b not in known]
        if broadcast is None and new:
            broadcast = new[0]
        got = len(arrivals.mails.get(broadcast, {})) if broadcast else 0
        channels = arrivals.channels[channels_before:]
        if (got >= count and len(channels) >= len(CHANNELS)) or now - t0 > TIMEOUT_S:
            break
        if now >= next_progress:
            log(f"    {now - t0:5.1f} s: {got:,} e-mails, {len(channels)} channel message(s)")
            next_progress += 5
        time.sleep(READ_EVERY_S)
    ended = time.monotonic()
    elapsed = ended - t0
    cpu = meter.shares(elapsed)
    mails = sorted(arrivals.mails.get(broadcast, {}).values()) if broadcast else []
    channels = arrivals.channels[channels_before:]
    by_channel = {}
    for message in channels:
        by_channel.setdefault(message["channel"], message["t"] - t0)
    last_mail = mails[-1] - t0 if len(mails) >= count else float("inf")
    last_channel = (max(by_channel.values()) if len(by_channel) >= len(CHANNELS)
                    else float("inf"))
    result = {"run": n, "update": update, "broadcast": broadcast, "request": answered - t0,
              "first_mail": mails[0] - t0 if mails else float("inf"), "last_mail": last_mail,
              "mails": len(mails), "duplicates": (arrivals.mail_count.get(broadcast, 0)
                                                  - len(mails)) if broadcast else 0,
              "channels": by_channel, "channel_messages": len(channels),
              "last": max(last_mail, last_channel), "cpu": cpu,
              "rate": (len(mails) - 1) / (mails[-1] - mails[0]) if len(mails) > 1 else 0.0,
              "p50_mail": (percentile(mails, 50) - t0) if mails else float("inf")}
    show_run(result, count)
    return result


def secs(value: float) -> str:
    return f"{value:.2f}" if value != float("inf") else "missing"


def show_run(r: dict, count: int) -> None:
    channels = ", ".join(f"{name} {secs(t)}" for name, t in r["channels"].items())
    cpu = ", ".join(f"{name} {100 * share:.0f}" for name, share in r["cpu"].items())
    log(f"  run {r['run']}: publishing request {r['request'] * 1000:.0f} ms (201, update "
        f"{r['update']}); e-mails {r['mails']:,}/{count:,} (duplicates {r['duplicates']}): "
        f"first {secs(r['first_mail'])} s, half {secs(r['p50_mail'])} s, last "
        f"{secs(r['last_mail'])} s ({r['rate']:,.0f}/s between the first and the last); "
        f"channels ({r['channel_messages']} message(s)) {channels}; last message of all "
        f"{secs(r['last'])} s; CPU % of one core: {cpu}")


# --- the summary ---------------------------------------------------------------------


def summarize(results: list[dict], report: dict, count: int) -> None:
    log(f"\n{'run':>3} {'request ms':>10} {'1st e-mail s':>12} {'last e-mail s':>13} "
        f"{'e-mails/s':>9} {'last channel s':>14} {'last msg s':>10} {'expansion s':>11} "
        f"{'missing':>7} {'dups':>5}")
    for r in results:
        rows = report.get(str(r["update"]), [])
        expansion = max((b["expanded_s"] or 0 for b in rows if b["audience"] == "email"),
                        default=float("nan"))
        last_channel = max(r["channels"].values(), default=float("inf")) \
            if len(r["channels"]) >= len(CHANNELS) else float("inf")
        log(f"{r['run']:>3} {r['request'] * 1000:>10.0f} {secs(r['first_mail']):>12} "
            f"{secs(r['last_mail']):>13} {r['rate']:>9,.0f} {secs(last_channel):>14} "
            f"{secs(r['last']):>10} {expansion:>11.2f} {count - r['mails']:>7} "
            f"{r['duplicates']:>5}")
    log("")
    for r in results:
        for b in report.get(str(r["update"]), []):
            who = b["channel"] or b["audience"]
            expanded = f"{b['expanded_s']:.2f} s" if b["expanded_s"] is not None else "not yet"
            log(f"  run {r['run']}, broadcast {b['pk']} ({who}): {b['status']}, "
                f"{b['queued']:,} queued, expanded in {expanded}; deliveries {b['statuses']}, "
                f"at most {b['most_attempts']} attempt(s)")
    worst_request = max(r["request"] for r in results)
    worst_last = max(r["last"] for r in results)
    log(f"\ntarget: publishing request < {TARGET_REQUEST_S * 1000:.0f} ms with "
        f"{count:,} subscribers: {'MET' if worst_request < TARGET_REQUEST_S else 'NOT MET'} "
        f"(slowest of {len(results)} run(s) {worst_request * 1000:.0f} ms; "
        + ", ".join(f"{r['request'] * 1000:.0f}" for r in results) + " ms)")
    log(f"target: the last message at the SMTP server < {TARGET_LAST_S:.0f} s with one "
        f"worker: {'MET' if worst_last < TARGET_LAST_S else 'NOT MET'} (slowest run "
        f"{secs(worst_last)} s; " + ", ".join(secs(r["last"]) for r in results)
        + " s; the last of the e-mails and the 5 channel messages)")


# --- the run -------------------------------------------------------------------------


def bench(opts, work: str, running: dict) -> int:
    started = time.monotonic()
    log(f"Atalaia broadcast benchmark: one update to {opts.subscribers:,} e-mail subscribers "
        f"and {len(CHANNELS)} channels, {opts.runs} run(s) on {opts.db}, {os.cpu_count()} "
        f"CPU(s), load average {load_average()}")
    env = atalaia_env("broadcast", opts.db, work, running)
    web_port = free_port()
    env["PORT"] = str(web_port)
    ports = {name: free_port() for name, *_ in CHANNELS}
    channels = [(name, kind, url.format(port=ports[name]), limit, language)
                for name, kind, url, limit, language in CHANNELS]

    token = migrate_and_demo(env, USER, "bench-broadcast")
    setup = shell_json(env, SETUP.format(count=opts.subscribers, channels=channels),
                       "BENCH-SETUP", timeout=600)
    log(f"setup: migrate, demo, a token for {USER}, incident #{setup['incident']} "
        f"({setup['level']}), {opts.subscribers:,} confirmed e-mail subscribers (bulk_create "
        f"{setup['subscribers_s']:.1f} s), {len(channels)} company channels "
        f"({time.monotonic() - started:.1f} s)")
    log("channels: " + ", ".join(f"{name} ({kind}) {url.split('://')[0]}://…:{ports[name]}"
                                 for name, kind, url, _l, _lang in channels))

    arrivals = Arrivals(Path(work) / "sink.txt", Path(work) / "channels.jsonl")
    sink = running["sink"] = SmtpSink("sink", SINK, arrivals.mail_path, work)
    sink_port = sink.port
    receivers = running["receivers"] = Proc(
        "receivers", [PYTHON, "-c", RECEIVERS, str(arrivals.channel_path),
                      *[f"{name}={port}" for name, port in ports.items()]],
        dict(os.environ), work)
    sink.wait_for_line("ready", 20, anywhere=True)
    receivers.wait_for_line("ready", 20, anywhere=True)
    env.update(ATALAIA_SMTP_HOST="127.0.0.1", ATALAIA_SMTP_PORT=str(sink_port),
               ATALAIA_OUTBOUND_ALLOW_PRIVATE="true")
    web, base = start_web("web", env, work, running, port=web_port)
    worker = running["worker"] = Proc("worker", [ATALAIA, "worker"], env, work)
    web.wait_ready(base + "/healthz", processes=setup["workers"] + 1)
    worker.wait_for_line(" started", 60, anywhere=True)
    log(f"web: atalaia web ({setup['workers']} workers x {setup['threads']} threads); one "
        f"atalaia worker (BROADCAST_BATCH {setup['batch']}, poll {setup['poll']} s); SMTP "
        f"sink on 127.0.0.1:{sink_port}; database {setup['database']}")

    client = httpx.Client(base_url=base + "/api/v1", timeout=60,
                          headers={"Authorization": f"Bearer {token}"})
    for _ in range(2):
        warm = client.get(f"/incidents/{setup['incident']}/updates")
        if warm.status_code != 200:
            raise BenchError(f"GET updates: {warm.status_code} {warm.text[:300]}")

    pids = {"web": web.pids(), "worker": worker.pids(), "sink": sink.pids(),
            "receivers": receivers.pids()}
    if opts.db == "postgresql":
        pids["postgres"] = postgres_pids()
    log(f"\n--- {opts.runs} run(s)")
    results = []
    for n in range(1, opts.runs + 1):
        results.append(one_run(n, client, setup["incident"], arrivals, opts.subscribers, pids))
        time.sleep(1.0)
    client.close()
    report = shell_json(env, REPORT.format(updates=[r["update"] for r in results]),
                        "BENCH-REPORT", timeout=300)
    if arrivals.others:
        log(f"other e-mails (not from a broadcast: the pages the declaration sent): "
            f"{arrivals.others}")
    summarize(results, report, opts.subscribers)
    log(f"\ntotal time {time.monotonic() - started:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS,
                        help="confirmed e-mail subscribers (default 10,000)")
    parser.add_argument("--runs", type=int, default=RUNS, help="updates published, one by one")
    add_db_option(parser)
    opts = parser.parse_args()
    if opts.runs < 1 or opts.subscribers < 1:
        parser.error("--runs and --subscribers must be 1 or more")

    time_limit(max(TIME_LIMIT_S, opts.runs * int(TIMEOUT_S + 60)))
    work = tempfile.mkdtemp(prefix="atalaia-bench-broadcast-")
    running: dict = {}  # processes (Proc) and the throwaway database (str)
    return guarded("broadcast", lambda: bench(opts, work, running), running, [work],
                   errors=(httpx.HTTPError,), logs=("web", "worker"))


if __name__ == "__main__":
    sys.exit(main())
