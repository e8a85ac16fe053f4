"""The processes: settings that fail loudly, worker and prober heartbeats, clean stops."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.test import Client

from atalaia.monitoring.models import ProcessBeat
from tests.servers import database_url


def atalaia(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "atalaia", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})}, **kwargs)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("ATALAIA_WEB_WORKERS", "many", "ATALAIA_WEB_WORKERS: expected a whole number, got 'many'"),
    ("ATALAIA_DEBUG", "perhaps", "ATALAIA_DEBUG: expected true or false"),
    ("ATALAIA_DATABASE_URL", "mysql://x/y", "ATALAIA_DATABASE_URL: unsupported scheme"),
    ("ATALAIA_SECRET_KEY", "short", "ATALAIA_SECRET_KEY: must be at least 32 characters"),
    ("ATALAIA_SQLITE_SYNCHRONOUS", "often", "ATALAIA_SQLITE_SYNCHRONOUS: expected NORMAL or FULL"),
    ("ATALAIA_WATCHDOG_URL", "ftp://x/y", "ATALAIA_WATCHDOG_URL: expected an http:// or https://"),
])
def test_bad_setting_stops_start_up_naming_the_variable(tmp_path, variable, value, message):
    result = atalaia("check", env={"ATALAIA_DATA_DIR": str(tmp_path), variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_postgresql_requires_a_shared_secret_key(tmp_path):
    env = {"ATALAIA_DATA_DIR": str(tmp_path), "ATALAIA_SECRET_KEY": "",
           "ATALAIA_DATABASE_URL": "postgresql://postgres@127.0.0.1/atalaia"}
    result = atalaia("check", env=env)
    assert result.returncode != 0
    assert "ATALAIA_SECRET_KEY (or ATALAIA_SECRET_KEY_FILE) is required" in result.stderr


def test_secret_key_is_generated_once_for_the_embedded_default(tmp_path):
    # In the config folder, not beside the database (atalaia/web/tests/test_keys.py).
    env = {"ATALAIA_DATA_DIR": str(tmp_path), "ATALAIA_SECRET_KEY": "",
           "ATALAIA_DATABASE_URL": "", "ATALAIA_CONFIG_DIR": str(tmp_path / "config")}
    assert atalaia("check", env=env).returncode == 0
    key = (tmp_path / "config" / "secret_key").read_text()
    assert atalaia("check", env=env).returncode == 0
    assert (tmp_path / "config" / "secret_key").read_text() == key and len(key) >= 32


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["worker", "prober"])
def test_loop_reports_alive_and_stops_cleanly_on_sigterm(transactional_db, kind):
    env = {**os.environ, "ATALAIA_DATABASE_URL": database_url(),
           "ATALAIA_HEARTBEAT_SECONDS": "0.1"}
    process = subprocess.Popen([sys.executable, "-m", "atalaia", kind], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ProcessBeat.objects.filter(kind=kind, stopped_at__isnull=True).exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "no heartbeat within 30 s"
            time.sleep(0.1)
        health = Client().get("/healthz").json()
        assert health["database"] is True and health[kind] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    beat = ProcessBeat.objects.get(kind=kind)
    assert beat.stopped_at is not None
    assert Client().get("/healthz").json()[kind] is False


def test_healthz_says_what_is_down(db):
    body = Client().get("/healthz").json()
    assert body == {"ok": False, "database": True, "worker": False, "prober": False,
                    "failing_jobs": []}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_run_starts_web_worker_and_prober_and_stops_them_all(tmp_path):
    import smtplib

    import httpx

    port, mail_port = free_port(), free_port()
    env = {"ATALAIA_DATA_DIR": str(tmp_path), "ATALAIA_DATABASE_URL": "",
           "ATALAIA_SECRET_KEY": "", "ATALAIA_HEARTBEAT_SECONDS": "0.2", "PORT": str(port),
           "ATALAIA_WEB_WORKERS": "1", "ATALAIA_WEB_THREADS": "4",
           "ATALAIA_MAILCATCHER_PORT": str(mail_port)}
    assert atalaia("migrate", "-v0", env=env).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "atalaia", "run"],
                               env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        health = {}
        while not health.get("ok"):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, f"not healthy within 60 s: {health}"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        # With ATALAIA_MAILCATCHER_PORT set, the demo's mail catcher runs too.
        answer = None
        while answer is None:
            try:
                with smtplib.SMTP("127.0.0.1", mail_port, timeout=10) as smtp:
                    answer = smtp.noop()[0]
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "no mail catcher within 60 s"
                time.sleep(0.2)
        assert answer == 250
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        # Nothing of the group is left behind.
        leftovers = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True)
        assert leftovers.stdout.strip() == b""
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
