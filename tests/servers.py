"""Real servers for tests: a self-signed certificate and `atalaia web` over HTTPS
on the test database."""

import datetime
import email.utils
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder: Path, days: int = 30, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` (an IP address or a DNS name) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt_name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt_name = x509.DNSName(host)
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            # Long before any clock a test runs on, including TLS libraries that read the
            # machine's clock when the suite's is moved (`make test-future`).
            .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([alt_name]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def clock_of(url: str) -> datetime.datetime:
    """What a server's own clock says (its HTTP Date header). Alertmanager is a Go
    program: a test clock moved ahead (`make test-future`) does not move its clock, so an
    alert's end is set from the time it keeps."""
    date = httpx.get(url, timeout=10).headers["date"]
    return email.utils.parsedate_to_datetime(date)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answers(server, url: str, what: str, verify: ssl.SSLContext | bool = True,
                       seconds: float = 30) -> None:
    """Wait until `server.process` answers `url` over HTTP; stop it and fail when it dies
    or stays silent (no fixture would stop it: the test never got the server)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.process.stdout.read().decode()
        try:
            httpx.get(url, verify=verify, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"{what} did not answer {url} within {seconds:.0f} s")


class WebServer:
    """`atalaia web` in a subprocess, serving the database the test uses."""

    def __init__(self, database_url: str, cert: Path | None = None, key: Path | None = None):
        self.port = free_port()
        scheme = "https" if cert else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "atalaia", "web", "--bind",
                   f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "8"]
        if cert:
            command += ["--certfile", str(cert), "--keyfile", str(key)]
        env = {**os.environ, "ATALAIA_DATABASE_URL": database_url}
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.cert = cert
        self._wait()

    def _wait(self) -> None:
        trust = ssl.create_default_context(cafile=str(self.cert)) if self.cert else True
        wait_until_answers(self, self.url + "/healthz", "atalaia web", verify=trust)

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)


def database_url() -> str:
    """The URL of the database this test runs on, for a subprocess to use."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = db["HOST"] or "127.0.0.1"
    return f"postgresql://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


class MailServer:
    """A real SMTP server (aiosmtpd) on a port the kernel picks; keeps what it receives."""

    def __init__(self):
        from atalaia.notify.mailcatcher import Server

        self.messages: list[bytes] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append(envelope.content)
                return "250 OK"

        self.controller = Server(0, Handler())
        self.controller.start()
        self.port = self.controller.port

    def parsed(self):
        from email import message_from_bytes

        return [message_from_bytes(raw) for raw in self.messages]

    def stop(self) -> None:
        self.controller.stop()


class Receiver:
    """A local HTTP endpoint that keeps the JSON bodies posted to it."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.headers: list = []
        self.raw: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                raw = self.rfile.read(length)
                receiver.raw.append(raw)
                receiver.bodies.append(json.loads(raw))
                receiver.headers.append(self.headers)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
