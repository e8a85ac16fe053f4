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
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, BenchError, Proc, free_port, log, proc_stat, run

BIN = ROOT / ".venv" / "bin"
ATALAIA = str(BIN / "atalaia")
PYTHON = str(BIN / "python")
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
SECRET = "bench-fanout-secret-key-that-is-long-enough-0123456789"
COUNT = 10_000
TIME_LIMIT_S = 900  # the whole run is aborted (and cleaned up) after this
TARGET_VS_PLAIN = 0.5
TARGET_SCALING = 1.8

SUBJECT = "[Atalaia] Update on INC-42: Checkout errors"
BODY = ("The incident is being worked on.\nNext update in 30 minutes.\n\n"
        "https://atalaia.example/i/42")

SINK = r"""
import asyncio, re, signal, sys
from aiosmtpd.smtp import SMTP
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.I | re.M)
ids = []
class Sink:
    async def handle_DATA(self, server, session, envelope):
        found = MESSAGE_ID.search(envelope.content)
        ids.append(found[1] if found else b"-")
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    handler = Sink()
    # A fixed hostname: without one every connection looks up the machine's FQDN.
    server = await loop.create_server(lambda: SMTP(handler, hostname="sink.invalid"),
                                      "127.0.0.1", int(sys.argv[1]), backlog=128)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    with open(sys.argv[2], "wb") as out:
        out.write(b"".join(i + b"\n" for i in ids))
asyncio.run(main())
"""

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


# --- /proc ---------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of these processes and of their children that have exited (PostgreSQL
    forks a backend per connection: the postmaster counts the finished ones)."""
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


def machine_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How busy the machine was between two readings, in cores (2.0: two cores full)."""
    return (after[0] - before[0]) / max(1, after[1] - before[1]) * (os.cpu_count() or 1)


# --- the sink and the baseline -------------------------------------------------------


class Sink:
    """aiosmtpd in its own process; the Message-IDs it received once stopped."""

    def __init__(self, work: str, name: str) -> None:
        self.port = free_port()
        self.ids_path = Path(work) / f"{name}.ids"
        self.proc = Proc(name, [PYTHON, "-c", SINK, str(self.port), str(self.ids_path)],
                         dict(os.environ), work)
        wait_for_line(self.proc, "ready", 20)

    def cpu(self) -> float:
        return cpu_seconds([self.proc.proc.pid])

    def received(self) -> list[bytes]:
        self.proc.stop()
        if not self.ids_path.exists():
            raise BenchError("the SMTP sink wrote no list:\n" + self.proc.log_tail())
        return self.ids_path.read_bytes().splitlines()


def wait_for_line(proc: Proc, prefix: str, timeout: float) -> str:
    """The first line of a process's log that starts with `prefix`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in proc.log_path.read_text().splitlines():
            if line.startswith(prefix):
                return line
        if proc.proc.poll() is not None:
            raise BenchError(f"{proc.name} exited ({proc.proc.returncode}):\n"
                             + proc.log_tail())
        time.sleep(0.05)
    raise BenchError(f"{proc.name}: no '{prefix}' within {timeout:.0f} s:\n" + proc.log_tail())


def duplicates(ids: list[bytes]) -> int:
    return len(ids) - len(set(ids))


def plain_baseline(work: str, count: int, running: dict) -> dict:
    sink = running["sink"] = Sink(work, "sink-plain")
    cpu_before, machine_before = sink.cpu(), busy_ticks()
    output = run(None, PYTHON, "-c", PLAIN, str(sink.port), str(count), SUBJECT, BODY,
                 timeout=600)
    sink_cpu, machine = sink.cpu() - cpu_before, machine_share(machine_before, busy_ticks())
    ids = sink.received()
    del running["sink"]
    elapsed, client_cpu = (float(v) for v in output.split()[1:3])
    cpu = {"client": client_cpu / elapsed, "sink": sink_cpu / elapsed, "machine": machine}
    cpu["others"] = max(0.0, machine - cpu["client"] - cpu["sink"])
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
    wait_for_line(poller, "ready", 60)
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
    cpu["machine"] = machine_share(machine_before, machine_after)
    # Anything else running here (a test suite...) skews the figures: shown, not hidden.
    cpu["others"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
    first_line = wait_for_line(poller, "first", 1).split()
    status = json.loads(wait_for_line(poller, "BENCH-STATUS", 60).split(" ", 1)[1])
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


def verdict(ok: bool | None) -> str:
    return "not checked" if ok is None else "MET" if ok else "NOT MET"


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
    log(f"Atalaia fan-out benchmark: {opts.count:,} e-mail deliveries, {os.cpu_count()} CPU(s), "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
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
            database = f"atalaia_bench_fanout_{os.getpid()}"
            run(None, "createdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], database)
            running["database"] = database
            env = dict(base_env, ATALAIA_DATA_DIR=str(Path(work) / "pg"),
                       ATALAIA_SECRET_KEY=SECRET,
                       ATALAIA_DATABASE_URL=f"postgresql://{PG['user']}@{PG['host']}:"
                                            f"{PG['port']}/{database}")
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

    def on_alarm(signum, frame):
        raise TimeoutError("the benchmark took longer than its time limit")

    def on_term(signum, frame):
        raise KeyboardInterrupt  # stop, and clean up in the finally below

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(max(TIME_LIMIT_S, opts.count // 10))
    work = tempfile.mkdtemp(prefix="atalaia-bench-fanout-")
    running: dict = {}  # processes (Proc, Sink) and the throwaway database (str)
    try:
        return bench(opts, work, running)
    except (BenchError, TimeoutError, subprocess.TimeoutExpired, OSError) as exc:
        log(f"\nbench/fanout.py failed: {exc}")
        return 1
    except KeyboardInterrupt:
        log("\nbench/fanout.py interrupted; stopping everything")
        return 130
    finally:
        signal.alarm(0)
        for thing in list(running.values()):
            proc = thing.proc if isinstance(thing, Sink) else thing
            if isinstance(proc, Proc):
                with contextlib.suppress(Exception):
                    proc.stop()
        if isinstance(running.get("database"), str):
            drop_database(running["database"])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
