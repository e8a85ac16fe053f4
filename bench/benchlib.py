"""What the benchmarks share: running commands, servers in their own process
groups, /proc readings and percentiles. Standard library only, so the load
generators can import it without a client pool of their own."""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


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


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


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
