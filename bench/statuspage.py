"""The public status page under load: `atalaia web` against nginx serving the export.

The requirement: with an active incident, a bounded load (wrk from Debian: 1
thread, 16 connections, 10 s) on ``/status/`` and on
``/status/api/v2/summary.json`` from a second process on loopback, once steady
and once with one invalidating change per second; requests per second and p99
for ``atalaia web`` as it runs in production, and in the same run nginx (the
Debian package) serving the static export of the same pages, as the ceiling;
our ratio to nginx. Targets, from the dynamic server on this 2-core machine:

* steady: at least 4,000 requests/s with p99 under 25 ms (Uptime Kuma 2.5.3
  serves its cached status page at 3.7k-4.1k requests/s, p99 15-23 ms);
* one change per second: at least 50% of the steady rate, p99 under 100 ms
  (Uptime Kuma falls to about 100 requests/s when its cache misses);
* the static export served at nginx's rate (nginx answers every request of
  both paths with 200 from the exported files).

Run it from the project root (about 1.5 minutes; it needs wrk and nginx:
``make bench-deps`` installs them)::

    .venv/bin/python bench/statuspage.py
    .venv/bin/python bench/statuspage.py --duration 3 --db postgresql   # a quick try

What it does, on 127.0.0.1, in temporary directories removed at the end:

1. The database: SQLite in a temporary ATALAIA_DATA_DIR (default), or with
   ``--db postgresql`` a throwaway database ``atalaia_bench_statuspage_<pid>``
   (createdb, ``dropdb --force`` at the end; ATALAIA_SECRET_KEY set as
   PostgreSQL requires). Every other ATALAIA_* variable of the environment is
   left out, so the server runs with the defaults (no DEBUG, no Redis, the
   default workers and threads, STATUS_VERSION_CHECK_SECONDS and
   STATUS_RENDERS_PER_MINUTE); PORT is set to the server's port.
2. ``atalaia migrate``, ``atalaia demo``, then in one ``atalaia shell`` an
   incident declared on ["payments"] (critical in the demo plan, checked) and an
   update published on it with ``comms.actions.publish_update`` ("identified",
   a text in both languages, components={"payments": "major_outage"}). The
   shell prints the settings the server will use and the WSGI application's
   class (StatusFront when the cache layer in front of Django is in place).
3. The static export: ``atalaia status export DIR`` when the command exists.
   The bench accepts either layout (DIR/status/index.html or DIR/index.html,
   the latter served under /status/ with an nginx alias). When the command does
   not exist, or the export lacks one of the two paths, that path is fetched
   from the running server once, before any load, into the place nginx serves
   it from (/status/ -> status/index.html), and the output says so.
4. ``atalaia web --bind 127.0.0.1:<free port>`` (gunicorn gthread, the default
   workers and threads, which it prints; when the default is not 2 workers the
   measurements are repeated with ``--workers 2``). It waits for /status/ to
   answer and for every worker to be up.
5. Warm-up, not counted: ``wrk -t1 -c16 -d3s`` on each path.
6. For each path, steady: ``wrk -t1 -c16 -d<duration>s --latency URL`` (plain
   GETs, no Accept-Language or Accept-Encoding, keep-alive). Parsed from its
   output: Requests/sec, the 50% and 99% latencies and the maximum, the
   requests that were not 2xx/3xx and the socket errors. wrk is a closed loop
   (16 requests in flight at any time), so its latencies are those of a server
   kept exactly 16 requests busy.
7. For each path, one change per second: a separate ``atalaia shell`` process
   toggles the "api" component between degraded_performance and operational
   with ``comms.actions.set_component_status`` (a real public change: a new
   ComponentState row and a status version bump in one transaction) every
   second on a fixed schedule, starting just before wrk; the same wrk command
   runs meanwhile. It prints how many changes were committed during the run,
   and checks afterwards that summary.json shows the last state set (so the
   cache was invalidated, not just left serving the old copy).
8. nginx: a minimal nginx.conf in a temporary directory (worker_processes 2,
   the machine's cores, as Debian's "auto" gives here; access_log off;
   sendfile on; keep-alive on; /etc/nginx/mime.types), ``nginx -g 'daemon off;'``
   as a child process on a free port with the export as its root. The same
   warm-up and the same wrk command for each path.
9. For every run, the CPU used (from /proc, in % of one core) by the web server
   (gunicorn's master and workers), wrk, nginx, the change process, how busy the
   whole machine was and the rest of that ("others": anything else running here
   skews the figures).

Prints a table, then MET / NOT MET for each target with the figures, and our
ratio to nginx for each path. Exits 0 when it ran to the end, whether or not the
targets were met; 1 on an error (wrk or nginx missing, PostgreSQL asked for and
not reachable on 127.0.0.1:5432 as user postgres, a server that does not start).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    ATALAIA,
    BenchError,
    CpuMeter,
    Proc,
    add_db_option,
    atalaia_env,
    free_port,
    guarded,
    load_average,
    log,
    migrate_and_demo,
    run,
    shell_json,
    start_web,
    time_limit,
    verdict,
)

PATHS = {"page": "/status/", "summary": "/status/api/v2/summary.json"}
THREADS, CONNECTIONS, DURATION_S, WARMUP_S = 1, 16, 10, 3
CHANGE_EVERY_S = 1.0
CHANGED_SERVICE = "api"
TARGET_RPS, TARGET_P99_S = 4000.0, 0.025
TARGET_CHANGE_SHARE, TARGET_CHANGE_P99_S = 0.5, 0.100
NGINX_WORKERS = 2
TIME_LIMIT_S = 900  # the whole run is aborted (and cleaned up) after this
CHANGERS = itertools.count(1)

SETUP = """
import json
from django.conf import settings
from atalaia.comms.actions import publish_update
from atalaia.incidents.actions import declare_incident
incident = declare_incident(None, "Payments are failing", ["payments"],
                            summary="bench/statuspage.py: an active incident on the page")
publish_update(incident, None, "identified",
               "Card payments are failing at checkout. We found the cause and are fixing it.",
               "Pagamentos com cartao estao falhando no checkout. Achamos a causa e estamos "
               "corrigindo.", components={"payments": "major_outage"})
incident.refresh_from_db()
import atalaia.wsgi
layers, app = [], atalaia.wsgi.application
while app is not None and len(layers) < 5:
    layers.append(type(app).__name__)
    app = getattr(app, "application", None)
print("BENCH-SETUP " + json.dumps({
    "incident": incident.pk, "level": incident.level, "public_status": incident.public_status,
    "workers": settings.WEB_WORKERS, "threads": settings.WEB_THREADS, "debug": settings.DEBUG,
    "check_s": getattr(settings, "STATUS_VERSION_CHECK_SECONDS", None),
    "renders_per_minute": getattr(settings, "STATUS_RENDERS_PER_MINUTE", None),
    "max_age": getattr(settings, "STATUS_MAX_AGE", None),
    "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
    "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
    "wsgi": layers}))
"""

CHANGER = """
import signal, time
from atalaia.catalog.models import Service
from atalaia.comms.actions import set_component_status
service = Service.objects.get(slug={slug!r})
states = ["degraded_performance", "operational"]
stop = []
signal.signal(signal.SIGTERM, lambda *args: stop.append(True))
print(f"ready {{service.name}}", flush=True)
start, k = time.monotonic(), 0
while not stop:
    state, began = states[k % 2], time.monotonic()
    set_component_status(service, state, None)
    print(f"change {{k}} {{began:.6f}} {{time.monotonic() - began:.6f}} {{state}}", flush=True)
    k += 1
    time.sleep(max(0.0, start + k * {every} - time.monotonic()))
print(f"stopped {{k}}", flush=True)
"""

NGINX_CONF = """# bench/statuspage.py: nginx serving the static export, as the ceiling.
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
{temp_paths}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
{alias}
    }}
}}
"""


# --- /proc ---------------------------------------------------------------------------


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- wrk -----------------------------------------------------------------------------

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not found:
        raise BenchError(f"cannot read the duration {text!r} in wrk's output")
    return float(found.group(1)) * UNITS[found.group(2)]


def parse_wrk(output: str) -> dict:
    def grab(pattern: str) -> re.Match:
        found = re.search(pattern, output, re.M)
        if not found:
            raise BenchError(f"no {pattern!r} in wrk's output:\n{output}")
        return found

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": float(grab(r"^Requests/sec:\s+([\d.]+)").group(1)),
            "p50": seconds(grab(r"^\s+50%\s+(\S+)").group(1)),
            "p99": seconds(grab(r"^\s+99%\s+(\S+)").group(1)),
            "max": seconds(grab(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)").group(1)),
            "requests": int(grab(r"^\s+(\d+) requests in").group(1)),
            "non2xx": int(bad.group(1)) if bad else 0,
            "errors": sum(int(v) for v in errors.groups()) if errors else 0}


def wrk(url: str, duration: float, latency: bool = True) -> tuple[dict, float, float]:
    """wrk's figures, its CPU time and the wall time it ran."""
    args = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration:g}s"]
    if latency:
        args.append("--latency")
    cpu_before, started = children_cpu(), time.monotonic()
    output = run(None, *args, url, timeout=duration + 60)
    elapsed, cpu = time.monotonic() - started, children_cpu() - cpu_before
    return (parse_wrk(output) if latency else {}), cpu, elapsed


def fetch(url: str) -> tuple[int, bytes]:
    host, _, rest = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(*host.split(":"), timeout=30)
    try:
        conn.request("GET", "/" + rest)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


# --- one measurement ---------------------------------------------------------------


def measure(label: dict, url: str, duration: float, groups: dict[str, list[Proc]],
            work: str, running: dict, change: bool, env: dict) -> dict:
    """One wrk run; with `change`, a process makes one public change per second meanwhile."""
    changer = None
    if change:
        changer = running["changer"] = Proc(
            f"changer-{next(CHANGERS)}",
            [ATALAIA, "shell", "-c", CHANGER.format(slug=CHANGED_SERVICE,
                                                    every=CHANGE_EVERY_S)], env, work)
        changer.wait_for_line("change 0", 60)
    pids = {name: [p for g in group for p in g.pids()] for name, group in groups.items()}
    if changer:
        pids["changer"] = [changer.proc.pid]
    meter = CpuMeter(pids)
    result, wrk_cpu, elapsed = wrk(url, duration)
    started = time.monotonic() - elapsed
    cpu = meter.shares(elapsed, wrk=wrk_cpu / elapsed)
    result.update(label, cpu=cpu, condition="1 change/s" if change else "steady")
    if changer:
        changer.stop()
        running.pop("changer")
        changes = [line.split() for line in changer.log_path.read_text().splitlines()
                   if line.startswith("change ")]
        during = [c for c in changes if started <= float(c[2]) <= started + elapsed]
        result["changes"] = len(during)
        result["change_ms"] = max((float(c[3]) * 1000 for c in changes), default=0.0)
        result["last_state"] = changes[-1][4] if changes else ""
        result["component"] = changer.wait_for_line("ready", 1).split(" ", 1)[1]
    show(result)
    return result


def check_change_shown(base: str, result: dict, check_s: float) -> None:
    """summary.json shows the state the change process set last."""
    time.sleep((check_s or 0.5) + 0.3)
    status, body = fetch(base + PATHS["summary"])
    shown = {c["name"]: c["status"] for c in json.loads(body).get("components", [])} \
        if status == 200 else {}
    result["shown"] = shown.get(result["component"], f"HTTP {status}")
    ok = result["shown"] == result["last_state"]
    log(f"    after the run summary.json shows {result['component']} "
        f"{result['shown']}, the last state set was {result['last_state']}: "
        f"{'the change reached the page' if ok else 'STALE'}")
    result["fresh"] = ok


def show(result: dict) -> None:
    cpu = ", ".join(f"{name} {100 * share:.0f}" for name, share in result["cpu"].items())
    extra = ""
    if "changes" in result:
        extra = (f"; {result['changes']} change(s) committed during the run "
                 f"(each at most {result['change_ms']:.0f} ms)")
    log(f"  {result['server']:28} {result['path']:30} {result['condition']:10} "
        f"{result['rps']:>8,.0f} req/s  p50 {ms(result['p50'])}  p99 {ms(result['p99'])}  "
        f"max {ms(result['max'])} ms; {result['requests']:,} requests, non-2xx "
        f"{result['non2xx']}, socket errors {result['errors']}; CPU % of one core: {cpu}{extra}")


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


# --- the servers -------------------------------------------------------------------


def start_server(env: dict, work: str, running: dict, workers: int | None,
                 expected: int) -> tuple[Proc, str]:
    port = free_port()
    options = ["--workers", str(workers)] if workers is not None else []
    web, base = start_web(f"web-{workers or 'default'}", dict(env, PORT=str(port)), work,
                          running, *options, port=port)
    web.wait_ready(base + PATHS["page"], processes=expected + 1)
    return web, base


def export(env: dict, base: str, nginx_dir: Path) -> tuple[Path, str, list[str]]:
    """The exported files: (nginx root, nginx alias block, notes). Without the export
    command, or for a path the export lacks, the page is fetched from the running
    server (base) into the place nginx serves it from."""
    commands = run(env, ATALAIA, "help", "--commands").split()
    target = nginx_dir / "export"
    notes = []
    if "status_export" in commands:
        output = run(env, ATALAIA, "status", "export", str(target), timeout=300)
        files = sum(len(f) for _d, _s, f in os.walk(target))
        notes.append(f"atalaia status export DIR: {files} files"
                     + (f" ({output.strip().splitlines()[-1]})" if output.strip() else ""))
    else:
        notes.append("no `atalaia status export` command here: the two paths were fetched "
                     "from the running server into the same paths instead")
    if not target.exists() or (target / "status").is_dir():  # DIR/status/index.html
        root, alias, status_dir = target, "", target / "status"
        notes.append("nginx root = DIR, /status/ -> DIR/status/index.html")
    else:  # DIR/index.html is /status/
        root, status_dir = nginx_dir / "empty-root", target
        alias = f"        location /status/ {{ alias {target}/; }}"
        notes.append("nginx: location /status/ { alias DIR/; }, /status/ -> DIR/index.html")
    root.mkdir(parents=True, exist_ok=True)
    for path in PATHS.values():
        relative = path.removeprefix("/status/")
        file = status_dir / (relative + "index.html" if relative.endswith("/") or not relative
                             else relative)
        if not file.exists():
            status, body = fetch(base + path)
            if status != 200:
                raise BenchError(f"GET {path} answered {status} while fetching it for nginx")
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(body)
            if "status_export" in commands:
                notes.append(f"{path} is not in the export: fetched from the running server")
    for directory, _dirs, files in os.walk(nginx_dir):  # nginx's workers run as nobody
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(Path(directory) / name, 0o644)
    return root, alias, notes


def start_nginx(nginx_dir: Path, root: Path, alias: str, work: str, running: dict) -> str:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    version = subprocess.run([nginx, "-V"], capture_output=True, text=True).stderr
    temp_paths = []
    for module, directive in (("client-body", "client_body"), ("proxy", "proxy"),
                              ("fastcgi", "fastcgi"), ("uwsgi", "uwsgi"), ("scgi", "scgi")):
        if f"--http-{module}-temp-path" in version:
            temp_paths.append(f"    {directive}_temp_path {nginx_dir}/tmp-{directive};")
    port = free_port()
    conf = nginx_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=NGINX_WORKERS, dir=nginx_dir, port=port,
                                      root=root, alias=alias, temp_paths="\n".join(temp_paths)))
    proc = running["nginx"] = Proc("nginx", [nginx, "-p", str(nginx_dir), "-c", str(conf),
                                             "-e", str(nginx_dir / "error.log"),
                                             "-g", "daemon off;"], dict(os.environ), work)
    base = f"http://127.0.0.1:{port}"
    proc.wait_ready(base + PATHS["page"], timeout=20, processes=NGINX_WORKERS + 1)
    return base


# --- the summary ---------------------------------------------------------------------


def summarize(results: list[dict], nginx: dict[str, dict]) -> None:
    log(f"\n{'server':28} {'path':30} {'condition':10} {'req/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'non-2xx':>7}  x nginx")
    for r in results:
        ceiling = nginx.get(r["path"])
        ratio = f"{r['rps'] / ceiling['rps']:.3f}" if ceiling else "-"
        log(f"{r['server']:28} {r['path']:30} {r['condition']:10} {r['rps']:>8,.0f} "
            f"{ms(r['p50']):>7} {ms(r['p99']):>7} {ms(r['max']):>7} {r['non2xx']:>7}  {ratio}")
    log("")
    for r in results:
        if r["server"].startswith("nginx"):
            continue
        clean = r["non2xx"] == 0 and r["errors"] == 0
        if r["condition"] == "steady":
            ok = r["rps"] >= TARGET_RPS and r["p99"] < TARGET_P99_S and clean
            log(f"target: {r['server']}, {r['path']} steady: >= {TARGET_RPS:,.0f} req/s and "
                f"p99 < {TARGET_P99_S * 1000:.0f} ms: {verdict(ok)} ({r['rps']:,.0f} req/s, "
                f"p99 {ms(r['p99'])} ms, {r['non2xx']} non-2xx, {r['errors']} socket errors)")
        else:
            steady = next(s for s in results if s["server"] == r["server"]
                          and s["path"] == r["path"] and s["condition"] == "steady")
            share = r["rps"] / steady["rps"]
            ok = (share >= TARGET_CHANGE_SHARE and r["p99"] < TARGET_CHANGE_P99_S and clean
                  and r.get("fresh", False) and r["changes"] > 0)
            log(f"target: {r['server']}, {r['path']} with 1 change/s: >= "
                f"{TARGET_CHANGE_SHARE:.0%} of steady and p99 < "
                f"{TARGET_CHANGE_P99_S * 1000:.0f} ms: {verdict(ok)} ({r['rps']:,.0f} req/s = "
                f"{share:.0%} of {steady['rps']:,.0f}, p99 {ms(r['p99'])} ms, {r['changes']} "
                f"changes during the run, last change shown: {r.get('shown')}, "
                f"{r['non2xx']} non-2xx)")
    for path, n in nginx.items():
        ok = n["non2xx"] == 0 and n["errors"] == 0 and n["requests"] > 0
        ours = [r for r in results if r["path"] == path and not r["server"].startswith("nginx")]
        ratios = ", ".join(f"{r['server']} {r['condition']} {r['rps'] / n['rps']:.1%}"
                           for r in ours)
        log(f"target: the static export of {path} served at nginx's rate: {verdict(ok)} "
            f"(nginx {n['rps']:,.0f} req/s, p99 {ms(n['p99'])} ms, {n['non2xx']} non-2xx); "
            f"ours / nginx: {ratios}")
    log("(reference, not measured here: Uptime Kuma 2.5.3's cached status page 3.7k-4.1k "
        "req/s, p99 15-23 ms; about 100 req/s on a cache miss)")


# --- the run -------------------------------------------------------------------------


def bench(opts, work: str, nginx_dir: Path, running: dict) -> int:
    started = time.monotonic()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise BenchError(f"{tool} is not installed (make bench-deps installs it)")
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    nginx_version = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"],
                                   capture_output=True, text=True).stderr.strip()
    log(f"Atalaia status page benchmark: {os.cpu_count()} CPU(s), load average "
        f"{load_average()}; "
        f"{(wrk_version.stdout + wrk_version.stderr).split(' Copyright')[0].strip()}, "
        f"{nginx_version}; wrk -t{THREADS} -c{CONNECTIONS} -d{opts.duration:g}s --latency")
    env = atalaia_env("statuspage", opts.db, work, running)
    env["PORT"] = str(free_port())
    migrate_and_demo(env)
    setup = shell_json(env, SETUP, "BENCH-SETUP")
    if setup["level"] != "critical":
        raise BenchError(f"the incident is {setup['level']}, not critical")
    log(f"setup: migrate, demo, incident #{setup['incident']} ({setup['level']}, public status "
        f"{setup['public_status']}) with one update, payments major_outage "
        f"({time.monotonic() - started:.1f} s)")
    log(f"server settings: {setup['workers']} workers x {setup['threads']} threads (gunicorn "
        f"gthread), DEBUG {setup['debug']}, database {setup['database']}, cache "
        f"{setup['cache']}, STATUS_VERSION_CHECK_SECONDS {setup['check_s']}, "
        f"STATUS_RENDERS_PER_MINUTE {setup['renders_per_minute']}, STATUS_MAX_AGE "
        f"{setup['max_age']}; WSGI application: {' > '.join(setup['wsgi'])}")

    results: list[dict] = []
    configs: list[int | None] = [None] + ([2] if setup["workers"] != 2 else [])
    root = alias = None
    for workers in configs:
        count = workers or setup["workers"]
        web, base = start_server(env, work, running, workers, count)
        server = f"atalaia web, {count}x{setup['threads']}" + ("" if workers is None
                                                                else " (--workers 2)")
        log(f"\n--- {server}: {base} (gunicorn gthread, {count} workers)")
        if root is None:
            root, alias, notes = export(env, base, nginx_dir)
            for note in notes:
                log(f"  export: {note}")
        for path in PATHS.values():
            status, body = fetch(base + path)
            if status != 200:
                raise BenchError(f"GET {path}: {status} {body[:300]!r}")
            log(f"  GET {path}: 200, {len(body):,} bytes")
        for path in PATHS.values():
            wrk(base + path, WARMUP_S, latency=False)
        groups = {"web": [web]}
        for path in PATHS.values():
            results.append(measure({"server": server, "path": path}, base + path,
                                   opts.duration, groups, work, running, False, env))
        for path in PATHS.values():
            result = measure({"server": server, "path": path}, base + path, opts.duration,
                             groups, work, running, True, env)
            check_change_shown(base, result, setup["check_s"])
            results.append(result)
        running.pop("web").stop()

    base = start_nginx(nginx_dir, root, alias or "", work, running)
    log(f"\n--- nginx: {base} (worker_processes {NGINX_WORKERS}, access_log off, sendfile on)")
    for path in PATHS.values():
        status, body = fetch(base + path)
        if status != 200:
            raise BenchError(f"nginx GET {path}: {status}")
        log(f"  GET {path}: 200, {len(body):,} bytes")
        wrk(base + path, WARMUP_S, latency=False)
    nginx: dict[str, dict] = {}
    for path in PATHS.values():
        nginx[path] = measure({"server": "nginx, static export", "path": path}, base + path,
                              opts.duration, {"nginx": [running["nginx"]]}, work, running,
                              False, env)
        results.append(nginx[path])
    running.pop("nginx").stop()

    summarize(results, nginx)
    log(f"\ntotal time {time.monotonic() - started:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=DURATION_S,
                        help="seconds of each measured wrk run (default 10)")
    add_db_option(parser)
    opts = parser.parse_args()
    if opts.duration < 1:
        parser.error("--duration must be 1 or more")

    time_limit(TIME_LIMIT_S)
    work = tempfile.mkdtemp(prefix="atalaia-bench-statuspage-")
    nginx_dir = Path(tempfile.mkdtemp(prefix="atalaia-bench-statuspage-nginx-"))
    running: dict = {}  # processes (Proc) and the throwaway database (str)
    return guarded("statuspage", lambda: bench(opts, work, nginx_dir, running), running,
                   [work, nginx_dir], logs=("web", "nginx", "changer"))


if __name__ == "__main__":
    sys.exit(main())
