"""What the benchmarks share: running commands, servers in their own process
groups (``atalaia web``, SMTP sinks), a throwaway PostgreSQL database, /proc
readings, percentiles and the time limit and clean-up around a run. Standard
library only, so the load generators can import it without a client pool of
their own."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
ATALAIA = str(BIN / "atalaia")
PYTHON = str(BIN / "python")
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(message, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def verdict(ok: bool | None) -> str:
    return "not checked" if ok is None else "MET" if ok else "NOT MET"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(env: dict | None, *args: str, timeout: float = 120) -> str:
    """A command's output; BenchError with its last lines when it fails."""
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        shown = " ".join(a for a in args[:5] if "\n" not in a)
        raise BenchError(f"{shown} ... failed ({done.returncode}):\n"
                         + "\n".join((done.stdout + done.stderr).splitlines()[-15:]))
    return done.stdout


def shell_json(env: dict, script: str, marker: str, timeout: float = 120) -> dict:
    """``atalaia shell -c script``: the JSON it printed after `marker` and a space."""
    output = run(env, ATALAIA, "shell", "-c", script, timeout=timeout)
    return json.loads(output.split(marker + " ", 1)[1].splitlines()[0])


# --- /proc ---------------------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


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


def machine_ticks() -> list[int]:
    """The first line of /proc/stat: user nice system idle iowait irq softirq steal."""
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:9]]


def busy_ticks() -> tuple[int, int]:
    """(busy, total) ticks of the whole machine so far, from /proc/stat."""
    ticks = machine_ticks()
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How busy the machine was between two busy_ticks(), in cores (2.0: two cores full)."""
    return (after[0] - before[0]) / max(1, after[1] - before[1]) * (os.cpu_count() or 1)


def add_machine(cpu: dict[str, float], before: tuple[int, int],
                after: tuple[int, int]) -> dict[str, float]:
    """`cpu` (shares of one core by name) with "machine", how busy the whole machine was
    between two busy_ticks(), and "others", the rest of that: anything else running
    here (a test suite...) skews the figures, so it is shown, not hidden."""
    cpu["machine"] = busy_cores(before, after)
    cpu["others"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
    return cpu


class CpuMeter:
    """The CPU used by groups of processes from now on, and by the whole machine."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.before = {name: cpu_seconds(p) for name, p in pids.items()}
        self.machine_before = busy_ticks()

    def shares(self, elapsed: float, **extra: float) -> dict[str, float]:
        """Shares of one core over `elapsed` seconds: each group, then `extra` (shares
        measured elsewhere), "machine" and "others" (see add_machine)."""
        machine_after = busy_ticks()
        cpu = {name: (cpu_seconds(p) - self.before[name]) / elapsed
               for name, p in self.pids.items()}
        cpu.update(extra)
        return add_machine(cpu, self.machine_before, machine_after)


# --- servers -------------------------------------------------------------------------


def get_status(url: str) -> int:
    """The status of a GET, 0 when there is no answer."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
    try:
        conn.request("GET", parts.path or "/")
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


class Proc:
    """A server in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: str) -> None:
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def pids(self) -> list[int]:
        """Every process of its group (the server and its workers)."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = proc_stat(int(entry))
                if stat and int(stat[2]) == self.proc.pid:
                    found.append(int(entry))
        return found

    def wait_ready(self, url: str, timeout: float = 60, processes: int = 1) -> None:
        """Until `url` answers 200 and the group has `processes` processes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited ({self.proc.returncode}):\n"
                                 + self.log_tail())
            if get_status(url) == 200 and len(self.pids()) >= processes:
                return
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer {url} in time:\n" + self.log_tail())

    def wait_for_line(self, text: str, timeout: float, anywhere: bool = False) -> str:
        """The first line of its log that starts with `text` (or holds it, `anywhere`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                if (text in line) if anywhere else line.startswith(text):
                    return line
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited ({self.proc.returncode}):\n"
                                 + self.log_tail())
            time.sleep(0.05)
        raise BenchError(f"{self.name}: no '{text}' within {timeout:.0f} s:\n"
                         + self.log_tail())

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text().splitlines()[-30:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind
        self.log_file.close()


def start_web(name: str, env: dict, work: str, running: dict, *options: str,
              port: int | None = None, key: str = "web") -> tuple[Proc, str]:
    """``atalaia web --bind 127.0.0.1:PORT OPTIONS`` (a free port unless given), kept as
    running[key]; (the server, its base URL). Wait with ``wait_ready(base + path,
    processes=workers + 1)``: gunicorn's master and its workers."""
    port = port or free_port()
    web = running[key] = Proc(name, [ATALAIA, "web", "--bind", f"127.0.0.1:{port}", *options],
                              env, work)
    return web, f"http://127.0.0.1:{port}"


SMTP_SINK = r"""
import asyncio, signal, sys
from aiosmtpd.smtp import SMTP
{handler}
async def main():
    loop = asyncio.get_running_loop()
    handler = Sink()
    # A fixed hostname: without one every connection looks up the machine's FQDN.
    server = await loop.create_server(lambda: {smtp}(handler, hostname="sink.invalid"),
                                      "127.0.0.1", int(sys.argv[1]), backlog={backlog})
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    stopped()
asyncio.run(main())
"""


def smtp_sink(handler: str, smtp: str = "SMTP", backlog: int = 128) -> str:
    """The script of an SMTP sink: aiosmtpd on 127.0.0.1, port sys.argv[1], which prints
    "ready" once it listens and stops on SIGTERM. `handler` is the code that defines
    class Sink (aiosmtpd's handler: its handle_DATA records each message, in the file
    sys.argv[2]) and stopped(), run once the server is closed; `smtp` names the SMTP
    class served (aiosmtpd's or one `handler` defines)."""
    return SMTP_SINK.format(handler=handler.strip("\n"), smtp=smtp, backlog=backlog)


class SmtpSink(Proc):
    """An SMTP sink (a smtp_sink() script) in its own process on a free port; `path` is
    where it records what it received."""

    def __init__(self, name: str, script: str, path: Path, work: str) -> None:
        self.port = free_port()
        self.path = path
        super().__init__(name, [PYTHON, "-c", script, str(self.port), str(path)],
                         dict(os.environ), work)


class Tail:
    """A file another process appends lines to, read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def lines(self) -> list[bytes]:
        """The whole lines written since the last call; the rest on the next one."""
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
            end = data.rfind(b"\n") + 1
            self.offset += end
            return data[:end].splitlines()
        return []


# --- the database --------------------------------------------------------------------


def postgres_available(tools: tuple[str, ...] = ("createdb", "pg_isready")) -> bool:
    """Whether `tools` are installed and PostgreSQL answers on PG's host and port."""
    if not all(shutil.which(tool) for tool in tools):
        return False
    done = subprocess.run(["pg_isready", "-h", PG["host"], "-p", PG["port"]],
                          capture_output=True)
    return done.returncode == 0


def database_url(name: str, scheme: str = "postgresql") -> str:
    return f"{scheme}://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def create_database(name: str, running: dict, key: str = "database") -> None:
    """createdb NAME, kept as running[key] so that stop_all() drops it."""
    run(None, "createdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], name)
    running[key] = name


def drop_database(name: str) -> None:
    with contextlib.suppress(Exception):
        subprocess.run(["dropdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"],
                        "--if-exists", "--force", name], capture_output=True, timeout=60)


def atalaia_database(bench: str, running: dict, key: str = "database") -> dict[str, str]:
    """A throwaway database atalaia_bench_<bench>_<pid> (see create_database): the
    variables that point Atalaia at it, with the secret key PostgreSQL requires."""
    database = f"atalaia_bench_{bench}_{os.getpid()}"
    create_database(database, running, key)
    return {"ATALAIA_SECRET_KEY": f"bench-{bench}-secret-key-that-is-long-enough-0123456789",
            "ATALAIA_DATABASE_URL": database_url(database)}


def atalaia_env(bench: str, db: str, work: str, running: dict) -> dict:
    """The environment without any ATALAIA_* variable (the defaults), with a data
    directory in `work` and, for db "postgresql", a throwaway database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATALAIA_")}
    env["ATALAIA_DATA_DIR"] = str(Path(work) / "data")
    if db == "postgresql":
        if not postgres_available():
            raise BenchError(f"PostgreSQL is not reachable on {PG['host']}:{PG['port']}")
        env.update(atalaia_database(bench, running))
    return env


class _Database(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, "postgresql" if values == "postgres" else values)


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """--db sqlite (the default) or postgresql (or postgres, its other name): opts.db."""
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql", "postgres"],
                        action=_Database, help="the database (default sqlite)")


def migrate_and_demo(env: dict, persona: str = "", token_name: str = "") -> str:
    """``atalaia migrate`` and ``atalaia demo``; with a persona, ``atalaia token_create``
    for it: the token ("" without)."""
    run(env, ATALAIA, "migrate", "-v0", timeout=300)
    run(env, ATALAIA, "demo")
    if not persona:
        return ""
    return run(env, ATALAIA, "token_create", persona, "--name", token_name).strip()


# --- the run -------------------------------------------------------------------------


def time_limit(seconds: int) -> None:
    """SIGALRM after `seconds` raises TimeoutError and SIGTERM KeyboardInterrupt, so that
    the run stops and cleans up (see guarded)."""

    def on_alarm(signum, frame):
        raise TimeoutError("the benchmark took longer than its time limit")

    def on_term(signum, frame):
        raise KeyboardInterrupt  # stop, and clean up in the finally blocks

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(seconds)


def stop_all(running: dict) -> None:
    """Stop every process in `running`, then drop every throwaway database (a str)."""
    signal.alarm(0)
    for thing in list(running.values()):
        if not isinstance(thing, str):
            with contextlib.suppress(Exception):
                thing.stop()
    for thing in list(running.values()):
        if isinstance(thing, str):
            drop_database(thing)


def guarded(script: str, body: Callable[[], int], running: dict, dirs: Iterable[str | Path],
            errors: tuple[type[BaseException], ...] = (), logs: Iterable[str] = ()) -> int:
    """body()'s exit status; 1 on an error (shown, with the end of the logs of the
    processes named in `logs`), 130 when interrupted. Whatever happens, everything in
    `running` is stopped or dropped (stop_all) and `dirs` are removed."""
    try:
        return body()
    except (BenchError, TimeoutError, subprocess.TimeoutExpired, OSError, *errors) as exc:
        log(f"\nbench/{script}.py failed: {exc}")
        for name in logs:
            if isinstance(running.get(name), Proc) and running[name].log_tail():
                log(f"\n--- the end of {name}'s log\n{running[name].log_tail()}")
        return 1
    except KeyboardInterrupt:
        log(f"\nbench/{script}.py interrupted; stopping everything")
        return 130
    finally:
        stop_all(running)
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)
