"""Benchmark of the live timeline (Server-Sent Events) against the real web server.

The requirement: the incident page shows the timeline live, pushed; a second
browser sees a new entry within 1 second, also when another process wrote it;
100 concurrent viewers of one incident must not slow the console.

Run it from the project root::

    .venv/bin/python bench/live.py        # or: make bench-live

What it does, all on 127.0.0.1, in a temporary data directory removed at the
end (SQLite unless ATALAIA_DATABASE_URL is set; then point it at a throwaway
database and set ATALAIA_SECRET_KEY, and expect a bench user and incident to
stay behind, since timelines are never deleted):

1. ``atalaia migrate``, ``atalaia demo --if-empty``, a commander with a known
   password, ``atalaia incident declare "Bench" -s auth``;
2. starts ``atalaia web --bind 127.0.0.1:PORT`` (gunicorn gthread, the
   configured workers and threads) and waits for /healthz;
3. logs in through the login form with httpx;
4. baseline: REQUESTS sequential GETs of the incident room and of the
   incident list (a new connection each, so both workers are sampled), with
   no viewer connected (median, p95, p99); then the web processes' CPU time
   over IDLE_SECONDS;
5. opens VIEWERS concurrent SSE streams of /incidents/ID/live/?after=COUNT
   (asyncio, httpx.AsyncClient) and waits until every one has received its
   ``retry:`` line;
6. the web processes' CPU time over IDLE_SECONDS with the viewers idle;
7. the same GETs as in 4 with the viewers connected; then the viewers leave
   and the baseline is taken again (the machine may be busy with other work:
   the two baselines bracket the loaded run); the ratio to both baselines;
8. the viewers connect again; ENTRIES times, ``atalaia incident note`` in a
   separate process (its call of add_entry timed, which holds the commit), and
   when each viewer receives that entry: latency over every viewer x entry
   pair, and for each entry the first and the last viewer.

Prints a summary and exits 0 when it ran to the end (whether or not the
targets were met), 1 on an error. Everything it started is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from benchlib import ROOT, BenchError, Proc, free_port, log, percentile, proc_stat, run

BIN = ROOT / ".venv" / "bin"
ATALAIA = str(BIN / "atalaia")
PYTHON = str(BIN / "python")

VIEWERS = 100
REQUESTS = 200  # sequential GETs of each console page, per measurement
WARMUP = 20
ENTRIES = 20
IDLE_SECONDS = 10.0
DELIVERY_TARGET_S = 1.0
SLOWDOWN_TARGET = 1.5  # loaded median / baseline median, "not slower" with noise allowed
TIME_LIMIT_S = 240  # the whole run is aborted (and cleaned up) after this
CONSOLE_PAGES = ("room", "list")

# Run in a separate process for each entry: the real CLI (`atalaia incident
# note ID TEXT --as USER`), with the command's call of add_entry timed, so the
# window [before, after] holds the transaction and its commit (and not the
# start-up of Django and the system checks that come before it).
NOTE_SCRIPT = """
import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaia.settings")
import django
django.setup()
from atalaia.incidents.management.commands import incident_note
from atalaia.cli import main
real_add_entry = incident_note.add_entry
window = []
def timed_add_entry(*args, **kwargs):
    window.append(time.time())
    try:
        return real_add_entry(*args, **kwargs)
    finally:
        window.append(time.time())
incident_note.add_entry = timed_add_entry
sys.argv = ["atalaia", "incident", "note"] + sys.argv[1:]
main()
print(f"BENCH-WRITE {window[0]:.6f} {window[1]:.6f}", flush=True)
"""

USER_SCRIPT = """
import json
from django.conf import settings
from atalaia.accounts.actions import create_user
from atalaia.accounts.models import AccountRole
create_user({username!r}, {password!r}, AccountRole.COMMANDER)
print("BENCH-SETTINGS " + json.dumps({{
    "workers": settings.WEB_WORKERS, "threads": settings.WEB_THREADS,
    "poll": settings.LIVE_POLL_SECONDS, "stream": settings.LIVE_STREAM_SECONDS,
    "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]}}))
"""


# --- the web server -----------------------------------------------------------------


class Server(Proc):
    """`atalaia web` on a free port."""

    def __init__(self, env: dict, data_dir: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        super().__init__("web", [ATALAIA, "web", "--bind", f"127.0.0.1:{self.port}"], env,
                         data_dir)

    def wait_healthy(self, workers: int, timeout: float = 60) -> None:
        """Until /healthz answers and every worker has started."""
        self.wait_ready(self.base + "/healthz", timeout, processes=workers + 1)

    def workers(self) -> list[int]:
        return [pid for pid in self.pids() if pid != self.proc.pid]

    def cpu_seconds(self) -> dict[int, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        result = {}
        for pid in self.pids():
            stat = proc_stat(pid)
            if stat:
                result[pid] = (int(stat[11]) + int(stat[12])) / ticks  # utime + stime
        return result

    def connections_per_worker(self) -> dict[int, int]:
        """Established TCP connections to the server port, by the worker holding them."""
        inodes = set()
        with open("/proc/net/tcp") as table:
            next(table)
            for line in table:
                fields = line.split()
                if int(fields[1].split(":")[1], 16) == self.port and fields[3] == "01":
                    inodes.add(fields[9])
        counts = {}
        for pid in self.workers():
            n = 0
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        link = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if link.startswith("socket:[") and link[8:-1] in inodes:
                            n += 1
            counts[pid] = n
        return counts

# --- the console: login and latency -------------------------------------------------


def login(base: str, username: str, password: str) -> httpx.Cookies:
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/accounts/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or not match:
            raise BenchError(f"login page: {page.status_code}, no CSRF token")
        answer = client.post("/accounts/login/", data={
            "username": username, "password": password,
            "csrfmiddlewaretoken": match.group(1)})
        if answer.status_code != 302 or "sessionid" not in client.cookies:
            raise BenchError(f"login failed: {answer.status_code}")
        return httpx.Cookies(client.cookies)


def measure_console(base: str, cookies: httpx.Cookies, paths: dict[str, str],
                    n: int) -> dict[str, list[float]]:
    """n sequential GETs of each page (interleaved), in ms. A new connection for each
    request, so the requests land on every worker, not the one a keep-alive sticks to."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, cookies=cookies, limits=limits, timeout=30,
                      headers={"Connection": "close"}) as client:
        for i in range(WARMUP + n):
            for name, path in paths.items():
                start = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - start) * 1000
                if response.status_code != 200:
                    raise BenchError(f"GET {path}: {response.status_code}")
                if i >= WARMUP:
                    times[name].append(elapsed)
    return times


# --- the viewers ----------------------------------------------------------------------


class Viewers:
    """VIEWERS SSE streams on one asyncio loop in a background thread."""

    def __init__(self, base: str, cookies: httpx.Cookies, path: str, count: int) -> None:
        self.base, self.cookies, self.path, self.count = base, cookies, path, count
        self.ready = 0
        self.received: list[dict[int, tuple[float, str]]] = [{} for _ in range(count)]
        self.errors: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="viewers",
                                       daemon=True)
        self.tasks: list[asyncio.Task] = []
        self.client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        timeout = httpx.Timeout(30, read=60)  # keep-alive comments come every 15 s
        self.client = httpx.AsyncClient(base_url=self.base, cookies=self.cookies,
                                        limits=limits, timeout=timeout)
        self.tasks = [asyncio.create_task(self._viewer(i)) for i in range(self.count)]

    async def _viewer(self, i: int) -> None:
        assert self.client is not None
        try:
            async with self.client.stream("GET", self.path,
                                          headers={"Accept": "text/event-stream"}) as response:
                if response.status_code != 200:
                    self.errors.append(f"viewer {i}: HTTP {response.status_code}")
                    return
                event, seq = "", 0
                async for line in response.aiter_lines():
                    now = time.time()
                    if line.startswith("retry:"):
                        self.ready += 1
                    elif line.startswith("id:"):
                        seq = int(line[3:].strip())
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "entry":
                        self.received[i][seq] = (now, json.loads(line[5:].strip()))
                    elif not line:
                        event, seq = "", 0
                self.errors.append(f"viewer {i}: the stream ended")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the summary
            self.errors.append(f"viewer {i}: {type(exc).__name__}: {exc}")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.ready < self.count and time.monotonic() < deadline:
            if self.errors:
                raise BenchError("viewers failed: " + "; ".join(self.errors[:5]))
            time.sleep(0.05)
        if self.ready < self.count:
            raise BenchError(f"only {self.ready} of {self.count} viewers connected")

    def have(self, seq: int) -> int:
        return sum(1 for got in self.received if seq in got)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return

        async def _stop() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            if self.client is not None:
                await self.client.aclose()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


# --- the run ------------------------------------------------------------------------


def idle_cpu(server: Server, seconds: float) -> tuple[float, dict[int, float]]:
    before = server.cpu_seconds()
    time.sleep(seconds)
    after = server.cpu_seconds()
    per_pid = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    return sum(per_pid.values()), per_pid


def connect_viewers(server: Server, cookies: httpx.Cookies, path: str,
                    running: dict) -> tuple[Viewers, float]:
    viewers = Viewers(server.base, cookies, path, VIEWERS)
    running["viewers"] = viewers
    start = time.monotonic()
    viewers.start()
    viewers.wait_ready(timeout=60)
    return viewers, time.monotonic() - start


def stats_line(values: list[float]) -> str:
    return (f"median {statistics.median(values):7.1f}  p95 {percentile(values, 95):7.1f}  "
            f"p99 {percentile(values, 99):7.1f}  max {max(values):7.1f}")


def main() -> int:
    if not Path(ATALAIA).exists():
        print(f"{ATALAIA} is missing: run `make install` first", file=sys.stderr)
        return 2

    def on_alarm(signum, frame):
        raise TimeoutError(f"the benchmark took longer than {TIME_LIMIT_S} s")

    def on_term(signum, frame):
        raise KeyboardInterrupt  # stop, and clean up in the finally below

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(TIME_LIMIT_S)
    data_dir = tempfile.mkdtemp(prefix="atalaia-bench-live-")
    env = dict(os.environ, ATALAIA_DATA_DIR=data_dir)
    env.setdefault("ATALAIA_LOG_LEVEL", "WARNING")
    running: dict = {}  # what to stop at the end: "server", "viewers"
    try:
        return bench(env, data_dir, running)
    except (BenchError, TimeoutError, subprocess.TimeoutExpired, httpx.HTTPError) as exc:
        print(f"\nbench/live.py failed: {exc}", file=sys.stderr)
        if "server" in running:
            print("--- web server log (tail) ---\n" + running["server"].log_tail(),
                  file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench/live.py interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        if "viewers" in running:
            running["viewers"].stop()
        if "server" in running:
            running["server"].stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def bench(env: dict, data_dir: str, running: dict) -> int:
    started = time.monotonic()
    log(f"Atalaia live-timeline benchmark: {os.cpu_count()} CPU(s), Python "
        f"{platform.python_version()}, data dir {data_dir}")
    if os.environ.get("ATALAIA_DATABASE_URL"):
        log("database: ATALAIA_DATABASE_URL from the environment")

    # 1. database, demo, a commander, an incident
    run(env, ATALAIA, "migrate", "-v0", timeout=180)
    run(env, ATALAIA, "demo", "--if-empty")
    username = f"bench-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    out = run(env, ATALAIA, "shell", "-c",
              USER_SCRIPT.format(username=username, password=password))
    config = json.loads(out.split("BENCH-SETTINGS ", 1)[1].splitlines()[0])
    out = run(env, ATALAIA, "incident", "declare", "Bench", "-s", "auth", "--as", username)
    match = re.search(r"incident (\d+) declared", out)
    if not match:
        raise BenchError(f"could not read the incident id from: {out!r}")
    incident = int(match.group(1))
    log(f"setup: user {username} (commander), incident {incident} "
        f"({time.monotonic() - started:.1f} s)")

    # 2. the real web server
    server = Server(env, data_dir)
    running["server"] = server
    server.wait_healthy(config["workers"])
    log(f"web: atalaia web --bind 127.0.0.1:{server.port} (gunicorn gthread, "
        f"{config['workers']} workers x {config['threads']} threads, database "
        f"{config['database']}, live poll {config['poll']} s, stream {config['stream']} s; "
        f"master pid {server.proc.pid}, workers {server.workers()})")

    # 3. log in
    cookies = login(server.base, username, password)
    paths = {"room": f"/incidents/{incident}/", "list": "/incidents/"}
    room = httpx.get(server.base + paths["room"], cookies=cookies, timeout=30)
    after_match = re.search(r'data-after="(\d+)"', room.text)
    if room.status_code != 200 or not after_match:
        raise BenchError(f"incident room: {room.status_code}, no data-after")
    after = int(after_match.group(1))

    # 4. baseline console latency, and idle CPU with no viewer
    log(f"baseline: {REQUESTS} GETs of each page, no viewer ...")
    baseline = measure_console(server.base, cookies, paths, REQUESTS)
    cpu_none, _ = idle_cpu(server, IDLE_SECONDS)

    # 5. the viewers
    stream = f"/incidents/{incident}/live/?after={after}"
    viewers, connect_s = connect_viewers(server, cookies, stream, running)
    per_worker = server.connections_per_worker()
    log(f"viewers: {VIEWERS} connected in {connect_s:.2f} s; connections per worker "
        f"{sorted(per_worker.values(), reverse=True)}")

    # 6. idle CPU with the viewers connected
    cpu_viewers, cpu_per_pid = idle_cpu(server, IDLE_SECONDS)

    # 7. console latency with the viewers connected, then again without them (the
    # machine may be busy with other work: two baselines bracket the loaded run)
    log(f"loaded: {REQUESTS} GETs of each page, {VIEWERS} viewers connected ...")
    loaded = measure_console(server.base, cookies, paths, REQUESTS)
    if viewers.errors:
        raise BenchError("viewers failed: " + "; ".join(viewers.errors[:5]))
    viewers.stop()
    del running["viewers"]
    log(f"baseline again: {REQUESTS} GETs of each page, no viewer ...")
    baseline_after = measure_console(server.base, cookies, paths, REQUESTS)
    viewers, connect_s = connect_viewers(server, cookies, stream, running)
    log(f"viewers: {VIEWERS} connected again in {connect_s:.2f} s")

    # 8. delivery of entries written by another process
    log(f"delivery: {ENTRIES} entries written by `atalaia incident note` ...")
    latencies: list[float] = []
    latencies_after: list[float] = []
    write_windows: list[float] = []
    process_runs: list[float] = []
    first: list[float] = []  # per entry: the first and the last viewer to get it
    last: list[float] = []
    missed = 0
    for k in range(1, ENTRIES + 1):
        text = f"bench {k} {secrets.token_hex(3)}"
        t0 = time.time()
        out = run(env, PYTHON, "-c", NOTE_SCRIPT, str(incident), text, "--as", username,
                  timeout=60)
        process_runs.append(time.time() - t0)
        seq = int(re.search(r"entry (\d+) added", out).group(1))
        before, after_write = map(float, out.split("BENCH-WRITE ", 1)[1].split()[:2])
        write_windows.append(after_write - before)
        deadline = time.monotonic() + 5
        while viewers.have(seq) < VIEWERS and time.monotonic() < deadline:
            time.sleep(0.02)
        these = []
        for got in viewers.received:
            if seq in got and text in got[seq][1]:
                these.append(got[seq][0] - before)
                latencies_after.append(got[seq][0] - after_write)
            else:
                missed += 1
        latencies += these
        if these:
            first.append(min(these))
            last.append(max(these))
    complete = missed == 0 and not viewers.errors

    # summary
    total = time.monotonic() - started
    log("\n=== Live timeline: summary " + "=" * 52)
    log(f"server: gunicorn gthread, {config['workers']} workers x {config['threads']} "
        f"threads, {config['database']}, poll {config['poll']} s; {os.cpu_count()} CPUs")
    log("console latency, ms (sequential GETs, a new connection each):")
    ratios = {}
    for name in CONSOLE_PAGES:
        both = baseline[name] + baseline_after[name]
        ratios[name] = statistics.median(loaded[name]) / statistics.median(both)
        log(f"  {name:4}  {paths[name]:16} no viewer    {stats_line(baseline[name])}")
        log(f"  {'':4}  {'':16} {VIEWERS} viewers  {stats_line(loaded[name])}")
        log(f"  {'':4}  {'':16} no viewer    {stats_line(baseline_after[name])}")
        log(f"  {'':4}  {'':16} ratio        median x{ratios[name]:.2f}  p95 "
            f"x{percentile(loaded[name], 95) / percentile(both, 95):.2f}"
            "  (100 viewers / both baselines)")
    log(f"web CPU over {IDLE_SECONDS:.0f} s idle: {cpu_none:.2f} s with no viewer, "
        f"{cpu_viewers:.2f} s with {VIEWERS} viewers "
        f"({100 * cpu_viewers / IDLE_SECONDS:.1f}% of one core; by process "
        + ", ".join(f"{pid}: {s:.2f}" for pid, s in sorted(cpu_per_pid.items())) + ")")
    ms = [v * 1000 for v in latencies]
    log(f"delivery, {ENTRIES} entries x {VIEWERS} viewers = {ENTRIES * VIEWERS} pairs, "
        f"{len(latencies)} received, {missed} missed")
    if ms:
        log(f"  latency from just before the write, ms: {stats_line(ms)}  min {min(ms):.1f}")
        log("  latency from just after the commit, ms: "
            f"{stats_line([v * 1000 for v in latencies_after])}")
        log(f"  per entry, first viewer, ms:            {stats_line([v * 1000 for v in first])}")
        log(f"  per entry, last viewer, ms:             {stats_line([v * 1000 for v in last])}")
    log(f"  write window (add_entry) in the other process: median "
        f"{1000 * statistics.median(write_windows):.1f} ms, max {1000 * max(write_windows):.1f} ms;"
        f" whole `incident note` process: median {statistics.median(process_runs):.2f} s")
    delivery_ok = complete and bool(ms) and max(ms) < DELIVERY_TARGET_S * 1000
    console_ok = all(r <= SLOWDOWN_TARGET for r in ratios.values())
    log(f"target: every viewer gets every entry within {DELIVERY_TARGET_S:.0f} s: "
        f"{'MET' if delivery_ok else 'MISSED'} (all received: {'yes' if complete else 'no'}, "
        f"max {max(ms) if ms else float('nan'):.0f} ms)")
    log(f"target: {VIEWERS} viewers do not slow the console (median ratio <= "
        f"{SLOWDOWN_TARGET}): {'MET' if console_ok else 'MISSED'} ("
        + ", ".join(f"{n} x{r:.2f}" for n, r in ratios.items()) + ")")
    if viewers.errors:
        log("viewer errors: " + "; ".join(viewers.errors[:5]))
    log(f"total time {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
