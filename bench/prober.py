"""Benchmark of one prober process: HTTP monitors at a 60-second interval.

The requirement: 20,000 HTTP monitors at a 60 s interval (333 checks/s) on one
core with a p99 scheduling lag under 1 s and peak memory under 300 MB, plain
HTTP; HTTPS measured separately; and a reported maximum. For scale: Uptime Kuma
2.5.3 saturates one core at about 200 checks/s (about 4.8 ms of CPU per check)
and holds 1.2 GiB at 4,000 monitors (measured on a 2-core machine, Nov 2026).

Run it from the project root::

    .venv/bin/python bench/prober.py            # or: make bench-prober
    .venv/bin/python bench/prober.py --monitors 20000 --seconds 120 --max

What it does, on 127.0.0.1, in a temporary data directory (SQLite) removed at the end:

1. starts a small keep-alive HTTP(S) target (asyncio, its own process, pinned
   to the second core) that answers every GET with 200 "ok";
2. ``atalaia migrate`` and N HTTP monitors at a 60 s interval against it,
   with the defaults of a new monitor (anomaly detection on);
3. starts ``atalaia prober`` pinned to the first core (``taskset -c 0``), so its
   checks, its event loop and its SQLite writes share one core;
4. skips the first interval (every monitor starts at a random phase within it),
   then over SECONDS reads the prober's own report (checks per second and the
   scheduling lag: how late each check started against its due time, p99) and
   its CPU time and peak resident memory (VmHWM) from /proc;
5. the same for HTTPS (a self-signed certificate the prober trusts through
   SSL_CERT_FILE), and with --max, plain HTTP at growing monitor counts until
   the p99 lag passes 1 s or the core is saturated: the largest count that held.

Prints the figures and the ratios to Uptime Kuma's. Exits 0 when it ran to the
end, whether or not the targets were met.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, BenchError, Proc, free_port, log, proc_stat, run

BIN = ROOT / ".venv" / "bin"
ATALAIA = str(BIN / "atalaia")
PYTHON = str(BIN / "python")
KUMA_CHECKS_PER_S = 200.0
KUMA_CPU_MS = 4.8
KUMA_MB_AT_4000 = 1.2 * 1024
TARGET_LAG_S, TARGET_MB = 1.0, 300.0
REPORT_S = 5.0

TARGET_SERVER = r"""
import asyncio, os, ssl, sys
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(RESPONSE)
async def main():
    context = None
    if len(sys.argv) > 3:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
    server = await asyncio.get_running_loop().create_server(
        Answer, "127.0.0.1", int(sys.argv[1]), ssl=context, backlog=4096)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

MONITORS_SCRIPT = """
from atalaia.catalog.models import Service
from atalaia.monitoring.models import Monitor
service, _ = Service.objects.get_or_create(slug="bench", defaults={{"name": "Bench"}})
Monitor.objects.all().delete()
Monitor.objects.bulk_create([Monitor(service=service, name=f"m{{i}}", kind="http",
    config={{"url": "{url}/m/" + str(i)}}, interval_seconds=60, retry_interval_seconds=20,
    timeout_seconds=10) for i in range({count})], batch_size=2000)
"""

REPORT = re.compile(r"(\d+) monitors, ([\d.]+) checks/s, scheduling lag p50 ([\d.]+) s "
                    r"p99 ([\d.]+) s")


def self_signed(folder: Path) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


def cpu_seconds(pid: int) -> float:
    stat = proc_stat(pid)
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK") if stat else 0.0


def peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(env: dict, data: str, count: int, scheme: str, seconds: float) -> dict:
    """One prober run against one target; its figures."""
    port = free_port()
    args = [PYTHON, "-c", TARGET_SERVER, str(port)]
    prober_env = dict(env)
    if scheme == "https":
        cert, key = self_signed(Path(data))
        args += [cert, key]
        prober_env["SSL_CERT_FILE"] = cert
    target = Proc(f"target-{scheme}", ["taskset", "-c", "1", *args], env, data)
    prober = None
    try:
        time.sleep(1.0)
        run(env, PYTHON, "-m", "atalaia", "shell", "-c",
            MONITORS_SCRIPT.format(url=f"{scheme}://127.0.0.1:{port}", count=count))
        prober = Proc(f"prober-{scheme}-{count}", ["taskset", "-c", "0", ATALAIA, "prober"],
                      prober_env, data)
        log(f"  {count} monitors over {scheme}: first interval (60 s) ...")
        time.sleep(62)
        reports_before = len(reports(prober))
        cpu_before, started = cpu_seconds(prober.proc.pid), time.monotonic()
        time.sleep(seconds)
        cpu = cpu_seconds(prober.proc.pid) - cpu_before
        elapsed = time.monotonic() - started
        window = reports(prober)[reports_before:]
        if not window:
            raise BenchError("the prober reported nothing:\n" + prober.log_tail())
        rate = sum(r[1] for r in window) / len(window)
        return {"monitors": count, "scheme": scheme, "checks_per_s": rate,
                "lag_p99": max(r[3] for r in window), "lag_p50": max(r[2] for r in window),
                "cpu_share": cpu / elapsed, "cpu_ms_per_check": 1000 * cpu / (rate * elapsed),
                "peak_mb": peak_mb(prober.proc.pid)}
    finally:
        if prober is not None:
            prober.stop()
        target.stop()


def reports(prober: Proc) -> list[tuple[int, float, float, float]]:
    text = prober.log_path.read_text()
    return [(int(m[1]), float(m[2]), float(m[3]), float(m[4])) for m in REPORT.finditer(text)]


def show(result: dict) -> None:
    lag_ok = result["lag_p99"] < TARGET_LAG_S
    log(f"  {result['scheme']:5} {result['monitors']:>6} monitors: "
        f"{result['checks_per_s']:.1f} checks/s, scheduling lag p50 {result['lag_p50']:.3f} s "
        f"p99 {result['lag_p99']:.3f} s ({'under' if lag_ok else 'OVER'} 1 s), "
        f"CPU {100 * result['cpu_share']:.0f}% of one core = "
        f"{result['cpu_ms_per_check']:.2f} ms per check "
        f"({result['cpu_ms_per_check'] * 1000:.0f} ms per 1,000 checks), "
        f"peak memory {result['peak_mb']:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--max", action="store_true", help="also search the largest count")
    parser.add_argument("--no-https", action="store_true")
    options = parser.parse_args()
    if shutil.which("taskset") is None:
        raise BenchError("taskset (util-linux) is needed to pin the prober to one core")
    data = tempfile.mkdtemp(prefix="atalaia-bench-prober-")
    env = {**os.environ, "ATALAIA_DATA_DIR": data, "ATALAIA_DATABASE_URL": "",
           "ATALAIA_SECRET_KEY": "", "ATALAIA_PROBER_STATS_SECONDS": str(REPORT_S),
           "ATALAIA_LOG_LEVEL": "INFO"}
    try:
        run(env, ATALAIA, "migrate", "-v0")
        log(f"prober benchmark: one `atalaia prober` on one core, SQLite, "
            f"{os.cpu_count()} cores here; {options.seconds:.0f} s measured per run")
        results = [measure(env, data, options.monitors, "http", options.seconds)]
        show(results[-1])
        if not options.no_https:
            results.append(measure(env, data, options.monitors, "https", options.seconds))
            show(results[-1])
        plain = results[0]
        held = plain if plain["lag_p99"] < TARGET_LAG_S else None
        saturated = None
        if options.max:
            count = options.monitors
            while held is not None and held["cpu_share"] < 0.95:
                count = int(count * 1.5)
                attempt = measure(env, data, count, "http", options.seconds)
                show(attempt)
                if attempt["lag_p99"] >= TARGET_LAG_S or attempt["checks_per_s"] < \
                        0.95 * count / 60:
                    saturated = attempt
                    break
                held = attempt
        summarize(plain, held, saturated, options.max)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


def summarize(plain: dict, held: dict | None, saturated: dict | None, searched: bool) -> None:
    log("")
    met = plain["lag_p99"] < TARGET_LAG_S and plain["peak_mb"] < TARGET_MB \
        and plain["checks_per_s"] >= 0.95 * plain["monitors"] / 60
    log(f"target ({plain['monitors']} monitors at 60 s, p99 lag < 1 s, < 300 MB): "
        f"{'met' if met else 'NOT met'}")
    log(f"CPU per check {plain['cpu_ms_per_check']:.2f} ms vs Uptime Kuma's {KUMA_CPU_MS} ms: "
        f"{KUMA_CPU_MS / plain['cpu_ms_per_check']:.1f}x less")
    log(f"memory: {plain['peak_mb']:.0f} MB at {plain['monitors']} monitors "
        f"(Uptime Kuma: {KUMA_MB_AT_4000:.0f} MB at 4,000)")
    if searched and held is not None:
        log(f"largest count that held (p99 lag < 1 s, all checks on time): {held['monitors']} "
            f"monitors = {held['checks_per_s']:.0f} checks/s "
            f"({held['checks_per_s'] / KUMA_CHECKS_PER_S:.1f}x Uptime Kuma's saturation)")
    if saturated is not None:
        log(f"saturated: at {saturated['monitors']} monitors the core ran "
            f"{saturated['checks_per_s']:.0f} checks/s at {100 * saturated['cpu_share']:.0f}% "
            f"({saturated['checks_per_s'] / KUMA_CHECKS_PER_S:.1f}x Uptime Kuma's "
            f"~{KUMA_CHECKS_PER_S:.0f}/s), falling behind")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        log(f"benchmark failed: {error}")
        sys.exit(1)
