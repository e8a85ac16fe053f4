"""Benchmark of the outbox: e-mail deliveries per second through `atalaia worker`.

The requirement: 10,000 deliveries to a local SMTP server with 1 and 2 workers,
in messages per second and as a ratio to a plain script that sends the same
10,000 messages with smtplib over one connection (our overhead). Targets: one
worker at 50% or more of the plain-smtplib rate on SQLite and on PostgreSQL,
and two workers on PostgreSQL at 1.8x one worker or better, with no duplicate.

Run it from the project root (about 2 minutes on 2 cores)::

    .venv/bin/python bench/fanout.py
    .venv/bin/python bench/fanout.py --count 1000 --dbs sqlite   # a quick try

What it does, on 127.0.0.1, in a temporary directory removed at the end:

1. The SMTP sink: aiosmtpd in its own process (a new one for every run), whose
   handler only appends each message's Message-ID to a list; on SIGTERM it
   writes the list to a file, from which duplicates (the same Message-ID twice)
   and missing messages are counted.
2. The baseline: a plain script in its own process sends COUNT messages with
   smtplib over one connection, each with the headers and body Django writes for
   a delivery (Content-Type, MIME-Version, Subject, From, To, Date, Message-ID,
   Auto-Submitted, four short lines): messages per second from connecting to QUIT.
3. For SQLite (a temporary ATALAIA_DATA_DIR) and PostgreSQL (a throwaway
   database ``atalaia_bench_fanout_<pid>``, created with createdb and dropped
   with ``dropdb --force`` at the end; ATALAIA_SECRET_KEY set as PostgreSQL
   requires): ``atalaia migrate``, then for 1 and then 2 workers:
   a. every Delivery row is deleted and COUNT e-mail deliveries are queued with
      ``outbox.enqueue`` in one transaction (``atalaia shell -c``), each with its
      own recipient and idempotency key (so its own Message-ID);
   b. a poller (``atalaia shell -c``, started beforehand) counts the *sent*
      deliveries every 0.2 s;
   c. 1 or 2 ``atalaia worker`` processes are started; the time runs from just
      before they start (their start-up counts) until every delivery is *sent*:
      messages per second = COUNT / that time. The rate after the first send
      (start-up left out) is shown beside it;
   d. the CPU time of the workers, of the sink and of PostgreSQL, how busy the
      machine was and the rest of that ("others": anything else running here
      skews the figures), from /proc; then the statuses and attempts of the rows.
   The workers run with the default settings: only ATALAIA_SMTP_HOST and
   ATALAIA_SMTP_PORT (the sink) are set. Two workers on SQLite are reported
   without a target (SQLite has a single writer).

Prints a table and MET / NOT MET for each target with the measured figures.
Exits 0 when it ran to the end, whether or not the targets were met; 1 on an
error. PostgreSQL runs are skipped (targets "not checked") when it is not
reachable on 127.0.0.1:5432 as user postgres.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    ATALAIA,
    PG,
    PYTHON,
    BenchError,
    Proc,
    SmtpSink,
    add_machine,
    atalaia_database,
    busy_ticks,
    cpu_seconds,
    guarded,
    load_average,
    log,
    postgres_available,
    postgres_pids,
    run,
    smtp_sink,
    time_limit,
    verdict,
)

COUNT = 10_000
TIME_LIMIT_S = 900  # the whole run is aborted (and cleaned up) after this
TARGET_VS_PLAIN = 0.5
TARGET_SCALING = 1.8

SUBJECT = "[Atalaia] Update on INC-42: Checkout errors"
BODY = ("The incident is being worked on.\nNext update in 30 minutes.\n\n"
        "https://atalaia.example/i/42")

SINK = smtp_sink(r"""
import re
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.I | re.M)
ids = []
class Sink:
    async def handle_DATA(self, server, session, envelope):
        found = MESSAGE_ID.search(envelope.content)
        ids.append(found[1] if found else b"-")
        return "250 OK"
def stopped():
    with open(sys.argv[2], "wb") as out:
        out.write(b"".join(i + b"\n" for i in ids))
""")

PLAIN = r"""
import resource, smtplib, sys, time
from email.utils import formatdate
port, count = int(sys.argv[1]), int(sys.argv[2])
subject, body = sys.argv[3], sys.argv[4].replace("\n", "\r\n")
started = time.perf_counter()
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for i in range(count):
        to = f"person{i}@example.org"
        smtp.sendmail("atalaia@localhost", [to], (
            'Content-Type: text/plain; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
            f"Content-Transfer-Encoding: 7bit\r\nSubject: {subject}\r\n"
            f"From: atalaia@localhost\r\nTo: {to}\r\nDate: {formatdate()}\r\n"
            f"Message-ID: <plain-{i}@localhost>\r\nAuto-Submitted: auto-generated\r\n"
            f"\r\n{body}\r\n").encode())
elapsed = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(f"BENCH-PLAIN {elapsed:.6f} {usage.ru_utime + usage.ru_stime:.6f}")
"""

ENQUEUE = """
import time
from django.db import transaction
from atalaia.notify.models import Delivery
from atalaia.notify.outbox import enqueue
Delivery.objects.all().delete()
started = time.perf_counter()
with transaction.atomic():
    for i in range({count}):
        enqueue("email", f"person{{i}}@example.org", f"Person {{i}}", {subject!r}, {body!r},
                f"fanout-{tag}-{{i}}", purpose="update")
print(f"BENCH-ENQUEUED {{time.perf_counter() - started:.3f}}")
"""

POLLER = """
import json, time
from django.db.models import Count, Max
from atalaia.notify.models import Delivery
print("ready", flush=True)
first = None
while True:
    sent = Delivery.objects.filter(status="sent").count()
    now = time.monotonic()
    if sent and first is None:
        first = now
        print(f"first {{now:.6f}} {{sent}}", flush=True)
    if sent >= {count}:
        print(f"done {{now:.6f}}", flush=True)
        break
    time.sleep(0.2)
statuses = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())
most = Delivery.objects.aggregate(most=Max("attempts"))["most"]
print("BENCH-STATUS " + json.dumps({{"statuses": statuses, "most_attempts": most}}), flush=True)
"""


# --- the sink and the baseline -------------------------------------------------------


class Sink(SmtpSink):
    """aiosmtpd in its own process; the Message-IDs it received once stopped."""

    def __init__(self, work: str, name: str) -> None:
        super().__init__(name, SINK, Path(work) / f"{name}.ids", work)
        self.wait_for_line("ready", 20)

    def cpu(self) -> float:
        return cpu_seconds([self.proc.pid])

    def received(self) -> list[bytes]:
        self.stop()
        if not self.path.exists():
            raise BenchError("the SMTP sink wrote no list:\n" + self.log_tail())
        return self.path.read_bytes().splitlines()


def duplicates(ids: list[bytes]) -> int:
    return len(ids) - len(set(ids))


def plain_baseline(work: str, count: int, running: dict) -> dict:
    sink = running["sink"] = Sink(work, "sink-plain")
    cpu_before, machine_before = sink.cpu(), busy_ticks()
    output = run(None, PYTHON, "-c", PLAIN, str(sink.port), str(count), SUBJECT, BODY,
                 timeout=600)
    sink_cpu, machine_after = sink.cpu() - cpu_before, busy_ticks()
    ids = sink.received()
    del running["sink"]
    elapsed, client_cpu = (float(v) for v in output.split()[1:3])
    cpu = add_machine({"client": client_cpu / elapsed, "sink": sink_cpu / elapsed},
                      machine_before, machine_after)
    result = {"name": "plain smtplib, one connection", "rate": count / elapsed,
              "elapsed": elapsed, "duplicates": duplicates(ids),
              "missing": count - len(set(ids)), "cpu": cpu}
    show(result, None)
    return result


# --- the Atalaia runs ----------------------------------------------------------------


def atalaia_run(db: str, env: dict, work: str, count: int, workers: int, running: dict,
                plain: dict) -> dict:
    tag = f"{db}-{workers}"
    output = run(env, PYTHON, "-m", "atalaia", "shell", "-c",
                 ENQUEUE.format(count=count, subject=SUBJECT, body=BODY, tag=tag), timeout=600)
    enqueue_s = float(output.split("BENCH-ENQUEUED")[1].split()[0])
    sink = running["sink"] = Sink(work, f"sink-{tag}")
    env = dict(env, ATALAIA_SMTP_HOST="127.0.0.1", ATALAIA_SMTP_PORT=str(sink.port))
    poller = running["poller"] = Proc(f"poller-{tag}", [PYTHON, "-m", "atalaia", "shell", "-c",
                                                        POLLER.format(count=count)], env, work)
    poller.wait_for_line("ready", 60)
    pg_before = cpu_seconds(postgres_pids()) if db == "postgresql" else 0.0
    sink_before, machine_before = sink.cpu(), busy_ticks()
    started = time.monotonic()
    procs = [Proc(f"worker-{tag}-{n}", [ATALAIA, "worker"], env, work) for n in range(workers)]
    running.update({p.name: p for p in procs})
    done = wait_done(poller, procs, count)
    elapsed = done - started
    machine_after = busy_ticks()
    cpu = {"workers": cpu_seconds([p.proc.pid for p in procs]) / elapsed,
           "sink": (sink.cpu() - sink_before) / elapsed}
    if db == "postgresql":
        cpu["postgres"] = (cpu_seconds(postgres_pids()) - pg_before) / elapsed
    add_machine(cpu, machine_before, machine_after)
    first_line = poller.wait_for_line("first", 1).split()
    status = json.loads(poller.wait_for_line("BENCH-STATUS", 60).split(" ", 1)[1])
    for name in [p.name for p in procs] + ["poller"]:
        running.pop(name).stop()
    ids = sink.received()
    del running["sink"]
    first, sent_at_first = float(first_line[1]), int(first_line[2])
    result = {"name": f"{db}, {workers} worker{'s' if workers > 1 else ''}", "db": db,
              "workers": workers, "rate": count / elapsed, "elapsed": elapsed,
              "steady": (count - sent_at_first) / max(done - first, 1e-9),
              "startup": first - started, "enqueue_s": enqueue_s,
              "duplicates": duplicates(ids), "missing": count - len(set(ids)),
              "statuses": status["statuses"], "most_attempts": status["most_attempts"],
              "cpu": cpu, "cpu_ms_per_message": 1000 * cpu["workers"] * elapsed / count}
    show(result, plain)
    return result


def wait_done(poller: Proc, workers: list[Proc], count: int) -> float:
    """The poller's clock reading when every delivery was sent."""
    deadline = time.monotonic() + max(120.0, count / 20)
    while time.monotonic() < deadline:
        for line in poller.log_path.read_text().splitlines():
            if line.startswith("done "):
                return float(line.split()[1])
        for proc in [poller, *workers]:
            if proc.proc.poll() is not None:
                raise BenchError(f"{proc.name} exited ({proc.proc.returncode}):\n"
                                 + proc.log_tail())
        time.sleep(0.05)
    raise BenchError("not every delivery was sent in time; a worker's log:\n"
                     + workers[0].log_tail())


def show(result: dict, plain: dict | None) -> None:
    ratio = f", {result['rate'] / plain['rate']:.1%} of plain smtplib" if plain else ""
    cpu = ", ".join(f"{name} {100 * share:.0f}%" for name, share in result["cpu"].items())
    extra = ""
    if "steady" in result:
        extra = (f"; {result['steady']:,.0f}/s after the first send "
                 f"({result['startup']:.1f} s start-up); worker CPU "
                 f"{result['cpu_ms_per_message']:.2f} ms per message; statuses "
                 f"{result['statuses']}, at most {result['most_attempts']} attempt(s); "
                 f"queued in {result['enqueue_s']:.1f} s")
    log(f"  {result['name']}: {result['rate']:,.0f} messages/s "
        f"({result['elapsed']:.2f} s){ratio}; duplicates {result['duplicates']}, "
        f"missing {result['missing']}; CPU (% of one core) {cpu}{extra}")


# --- the summary ---------------------------------------------------------------------


def summarize(plain: dict, runs: dict, count: int) -> None:
    log(f"\n{'run':32} {'msgs/s':>8} {'x plain':>8} {'after 1st':>9} {'dups':>5} "
        f"{'missing':>7}  CPU, % of one core (machine: all of its {os.cpu_count()} cores)")
    for result in [plain, *runs.values()]:
        steady = f"{result['steady']:,.0f}" if "steady" in result else "-"
        cpu = " ".join(f"{name} {100 * share:.0f}" for name, share in result["cpu"].items())
        log(f"{result['name']:32} {result['rate']:>8,.0f} {result['rate'] / plain['rate']:>8.3f} "
            f"{steady:>9} {result['duplicates']:>5} {result['missing']:>7}  {cpu}")
    log("")
    for db in ("sqlite", "postgresql"):
        one = runs.get((db, 1))
        ok = None if one is None else one["rate"] >= TARGET_VS_PLAIN * plain["rate"] \
            and one["missing"] == 0 and one["duplicates"] == 0
        shown = "" if one is None else (f" ({one['rate']:,.0f} vs {plain['rate']:,.0f} "
                                        f"messages/s = {one['rate'] / plain['rate']:.1%})")
        log(f"target: one worker on {db} >= {TARGET_VS_PLAIN:.0%} of plain smtplib: "
            f"{verdict(ok)}{shown}")
    one, two = runs.get(("postgresql", 1)), runs.get(("postgresql", 2))
    if one is None or two is None:
        log(f"target: two workers on postgresql >= {TARGET_SCALING}x one, no duplicate: "
            "not checked")
    else:
        scaling = two["rate"] / one["rate"]
        ok = scaling >= TARGET_SCALING and two["duplicates"] == 0 and two["missing"] == 0
        log(f"target: two workers on postgresql >= {TARGET_SCALING}x one, no duplicate: "
            f"{verdict(ok)} ({scaling:.2f}x: {two['rate']:,.0f} vs {one['rate']:,.0f} "
            f"messages/s; {two['duplicates']} duplicate(s), {two['missing']} missing)")
    if ("sqlite", 2) in runs:
        log(f"(no target) two workers on sqlite: "
            f"{runs[('sqlite', 2)]['rate'] / runs[('sqlite', 1)]['rate']:.2f}x one")
    dups = sum(r["duplicates"] for r in runs.values())
    log(f"duplicates over all {len(runs)} Atalaia runs of {count:,} messages: {dups}")


# --- the run -------------------------------------------------------------------------


def bench(opts, work: str, running: dict) -> int:
    started = time.monotonic()
    log(f"Atalaia fan-out benchmark: {opts.count:,} e-mail deliveries, {os.cpu_count()} CPU(s), "
        f"load average {load_average()}")
    log("\n--- baseline")
    plain = plain_baseline(work, opts.count, running)
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("ATALAIA_DATABASE_URL", "ATALAIA_DATA_DIR",
                                     "ATALAIA_SECRET_KEY", "ATALAIA_SMTP", "ATALAIA_EMAIL",
                                     "ATALAIA_DELIVERY", "ATALAIA_WORKER"))}
    runs: dict = {}
    for db in opts.dbs:
        if db == "sqlite":
            env = dict(base_env, ATALAIA_DATA_DIR=str(Path(work) / "sqlite"))
        elif postgres_available():
            env = dict(base_env, ATALAIA_DATA_DIR=str(Path(work) / "pg"),
                       **atalaia_database("fanout", running))
        else:
            log(f"\n--- postgresql: SKIPPED, not reachable on {PG['host']}:{PG['port']}")
            continue
        log(f"\n--- {db}")
        run(env, ATALAIA, "migrate", "-v0", timeout=300)
        for workers in (1, 2):
            runs[(db, workers)] = atalaia_run(db, env, work, opts.count, workers, running,
                                              plain)
    summarize(plain, runs, opts.count)
    log(f"\ntotal time {time.monotonic() - started:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=COUNT, help="deliveries per run")
    parser.add_argument("--dbs", default="sqlite,postgresql",
                        help="databases to measure (sqlite,postgresql)")
    opts = parser.parse_args()
    opts.dbs = [d.strip() for d in opts.dbs.split(",") if d.strip()]

    time_limit(max(TIME_LIMIT_S, opts.count // 10))
    work = tempfile.mkdtemp(prefix="atalaia-bench-fanout-")
    running: dict = {}  # processes (Proc, Sink) and the throwaway database (str)
    return guarded("fanout", lambda: bench(opts, work, running), running, [work])


if __name__ == "__main__":
    sys.exit(main())
