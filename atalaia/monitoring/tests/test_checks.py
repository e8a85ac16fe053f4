"""The check library against real servers on 127.0.0.1: an HTTP(S) server the tests
steer through the query string, aiosmtpd, a dnslib DNS server, asyncio TLS servers with
certificates made here, the machine's PostgreSQL and MariaDB, and ICMP to loopback."""

import asyncio
import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dnslib import RCODE
from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver

from atalaia.monitoring.checks import (
    DEGRADED,
    DOWN,
    ICMP_NOT_ALLOWED,
    MAX_BODY_BYTES,
    UP,
    CheckResult,
    DatabaseCheck,
    DnsCheck,
    HttpCheck,
    PingCheck,
    SmtpCheck,
    TcpCheck,
    TlsExpiryCheck,
    new_http_client,
    run_check,
)
from atalaia.notify.mailcatcher import Server

DAY = datetime.timedelta(days=1)


def run(check, **kwargs) -> CheckResult:
    return asyncio.run(run_check(check, **kwargs))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tls_context(folder, valid_for: datetime.timedelta, name: str = "cert") -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1 that expires
    `valid_for` from now (negative: already expired)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(min(now, now + valid_for) - 30 * DAY)
            .not_valid_after(now + valid_for)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


# --- an HTTP(S) target steered by its query string ----------------------------------

class Target(BaseHTTPRequestHandler):
    """?status=503&body=text&pad=N (N bytes before the body)&delay=s&location=URL;
    /echo answers with the request as JSON."""

    def do_GET(self):
        query = {name: values[0] for name, values in parse_qs(urlsplit(self.path).query).items()}
        received = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "delay" in query:
            self.server.release.wait(float(query["delay"]))
        if urlsplit(self.path).path == "/echo":
            body = json.dumps({"method": self.command, "body": received.decode(),
                               "headers": {k.lower(): v for k, v in self.headers.items()}})
        else:
            body = "x" * int(query.get("pad", 0)) + query.get("body", "OK")
        self.send_response(int(query.get("status", 200)))
        if "location" in query:
            self.send_header("Location", query["location"])
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    do_POST = do_PUT = do_GET

    def log_message(self, *args):
        pass


class TargetServer(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), Target)
        self.tls = tls
        self.release = threading.Event()  # ends the deliberate delays at teardown
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server_address[1]}"
        self.port = self.server_address[1]

    def finish_request(self, request, client_address):
        if self.tls is None:
            return super().finish_request(request, client_address)
        try:
            tls_request = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return None  # the client refused our certificate
        with tls_request:
            return super().finish_request(tls_request, client_address)

    def handle_error(self, request, client_address):
        pass  # clients that gave up (timeouts) break the pipe: expected here

    def to(self, path="/", **query) -> str:
        return f"{self.url}{path}?{urlencode(query)}" if query else f"{self.url}{path}"


def serve(server: TargetServer):
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def web():
    yield from serve(TargetServer())


@pytest.fixture(scope="module")
def secure_web(tmp_path_factory):
    yield from serve(TargetServer(tls_context(tmp_path_factory.mktemp("https"), 60 * DAY)))


# --- HTTP -----------------------------------------------------------------------------

def test_http_up(web):
    result = run(HttpCheck(web.to()))
    assert result.state == UP
    assert result.message.startswith("HTTP 200 in ")
    assert result.latency_ms > 0
    assert result.details["status_code"] == 200


def test_http_unexpected_status_is_down(web):
    result = run(HttpCheck(web.to(status=503)))
    assert (result.state, result.message) == (DOWN, "expected status 200-399, got 503")
    assert result.details["status_code"] == 503


def test_http_expected_status_can_be_chosen(web):
    assert run(HttpCheck(web.to(status=418), expected_status=(418, range(200, 300)))).state == UP
    result = run(HttpCheck(web.to(), expected_status=(204, range(300, 400))))
    assert result.message == "expected status 204, 300-399, got 200"


def test_http_keyword_present(web):
    assert run(HttpCheck(web.to(body="all OK here"), keyword="OK")).state == UP
    result = run(HttpCheck(web.to(body="all fine"), keyword="OK"))
    assert (result.state, result.message) == (DOWN, "keyword 'OK' not found")


def test_http_keyword_absent(web):
    assert run(HttpCheck(web.to(body="fine"), keyword="ERROR", keyword_absent=True)).state == UP
    result = run(HttpCheck(web.to(body="ERROR: db"), keyword="ERROR", keyword_absent=True))
    assert (result.state, result.message) == (DOWN, "keyword 'ERROR' found")


def test_http_json_field_equal_to_a_value(web):
    body = json.dumps({"status": {"db": "ok"}, "items": [{"n": 3, "on": True}]})
    assert run(HttpCheck(web.to(body=body), json_path="status.db", json_value="ok")).state == UP
    assert run(HttpCheck(web.to(body=body), json_path="items.0.n", json_value=3)).state == UP
    assert run(HttpCheck(web.to(body=body), json_path="items.0.on", json_value="true")).state == UP
    assert run(HttpCheck(web.to(body=body), json_path="items.0.n")).state == UP

    wrong = run(HttpCheck(web.to(body=body), json_path="status.db", json_value="degraded"))
    assert (wrong.state, wrong.message) == (
        DOWN, 'JSON field \'status.db\' is "ok", expected "degraded"')
    missing = run(HttpCheck(web.to(body=body), json_path="items.5.n", json_value=3))
    assert missing.message == "JSON field 'items.5.n' not found"
    not_json = run(HttpCheck(web.to(body="<html>"), json_path="status", json_value="ok"))
    assert (not_json.state, not_json.message) == (DOWN, "the body is not JSON")


def test_http_sends_method_headers_and_body(web):
    def echo(path, value):
        return HttpCheck(web.to("/echo"), method="POST", headers={"X-Token": "abc"},
                         body="hello", json_path=path, json_value=value)

    assert run(echo("method", "POST")).state == UP
    assert run(echo("headers.x-token", "abc")).state == UP
    assert run(echo("body", "hello")).state == UP
    assert run(echo("headers.user-agent", "Atalaia-monitor/1")).state == UP


def test_http_slow_answer_is_degraded(web):
    result = run(HttpCheck(web.to(delay=0.15), degraded_after_ms=50))
    assert result.state == DEGRADED
    assert result.latency_ms >= 150
    assert result.message.startswith("slow: ") and result.message.endswith("above 50 ms")


def test_http_timeout_is_down(web):
    started = time.perf_counter()
    result = run(HttpCheck(web.to(delay=30), timeout=0.3))
    assert (result.state, result.message) == (DOWN, "timed out after 0.3 s")
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_http_connection_refused_is_down(host):
    result = run(HttpCheck(f"http://{host}:{closed_port()}/"))
    assert (result.state, result.message) == (DOWN, "connection refused")


def test_http_follows_redirects(web):
    result = run(HttpCheck(web.to(status=302, location="/?body=moved"), keyword="moved"))
    assert result.state == UP
    assert result.details["redirects"] == 1
    kept = run(HttpCheck(web.to(status=302, location="/"), follow_redirects=False))
    assert (kept.state, kept.details["status_code"]) == (UP, 302)


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/file", "file:///etc/passwd"])
def test_http_refuses_redirects_to_other_schemes(web, location):
    result = run(HttpCheck(web.to(status=302, location=location)))
    assert result.state == DOWN
    assert result.message.startswith("redirect to a non-HTTP(S) URL refused: ")


def test_http_reads_at_most_one_mib_of_body(web):
    result = run(HttpCheck(web.to(pad=MAX_BODY_BYTES, body="END"), keyword="END"))
    assert (result.state, result.message) == (
        DOWN, "keyword 'END' not found in the first 1 MiB of the body")
    assert result.details["truncated"] is True


def test_http_tls_verification(secure_web):
    untrusted = run(HttpCheck(secure_web.to()))
    assert untrusted.state == DOWN
    assert untrusted.message.startswith("TLS certificate not trusted: ")
    assert run(HttpCheck(secure_web.to(), verify_tls=False)).state == UP


def test_http_checks_share_one_client_with_many_in_flight(web, secure_web):
    async def many():
        async with new_http_client() as client:
            checks = [HttpCheck(web.to(body=f"n{i}"), keyword=f"n{i}") for i in range(50)]
            checks.append(HttpCheck(secure_web.to(), verify_tls=False))
            return await asyncio.gather(*(run_check(check, client) for check in checks))

    assert {result.state for result in asyncio.run(many())} == {UP}


def test_http_unsupported_scheme_is_down():
    result = run(HttpCheck("gopher://127.0.0.1/"))
    assert result.state == DOWN
    assert "unsupported protocol" in result.message.lower()


# --- TCP and ICMP ---------------------------------------------------------------------

def test_tcp_open_port_is_up(web):
    result = run(TcpCheck("127.0.0.1", web.port))
    assert result.state == UP
    assert result.message.startswith(f"port {web.port} open")


def test_tcp_closed_port_is_down():
    result = run(TcpCheck("127.0.0.1", closed_port(), timeout=2))
    assert (result.state, result.message, result.latency_ms) == (DOWN, "connection refused", None)


def ping(host: str) -> CheckResult:
    result = run(PingCheck(host, timeout=2))
    if result.message == ICMP_NOT_ALLOWED:
        pytest.skip("the kernel refuses ICMP sockets to this process (ping_group_range, no "
                    "CAP_NET_RAW)")
    return result


def test_ping_loopback():
    result = ping("127.0.0.1")
    assert result.state == UP, result.message
    assert result.message.startswith("reply from 127.0.0.1 in ")
    assert result.latency_ms > 0


def test_ping_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6")
    result = ping("::1")
    assert result.state == UP, result.message


def test_ping_without_privilege_says_why():
    """A process without CAP_NET_RAW pings through an unprivileged ICMP socket where the
    kernel allows its group one, and otherwise is told which setting refuses it."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to start a process without CAP_NET_RAW")
    code = ("import asyncio, json; from atalaia.monitoring.checks import PingCheck, run_check; "
            "r = asyncio.run(run_check(PingCheck('127.0.0.1', 2))); "
            "print(json.dumps([r.state, r.message]))")
    process = subprocess.run(["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw",
                              sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=30)
    if process.returncode != 0:
        pytest.skip(f"cannot drop CAP_NET_RAW here: {process.stderr.strip()[-200:]}")
    state, message = json.loads(process.stdout)
    low, high = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    if low <= os.getgid() <= high:
        assert state == UP, message
    else:
        assert (state, message) == (DOWN, ICMP_NOT_ALLOWED)


def test_pings_in_flight_each_get_their_own_reply():
    ping("127.0.0.1")  # skips where ICMP is not allowed

    async def many():
        return await asyncio.gather(*(run_check(PingCheck("127.0.0.1", 2)) for _ in range(20)))

    assert {result.state for result in asyncio.run(many())} == {UP}


# --- SMTP -----------------------------------------------------------------------------

def Smtp(**kwargs) -> Server:  # noqa: N802 - reads as the server it makes
    """aiosmtpd on a port the kernel picks, answering with its default handler."""
    return Server(0, object(), **kwargs)


@pytest.fixture(scope="module")
def smtp():
    server = Smtp()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp_starttls(tmp_path_factory):
    server = Smtp(tls_context=tls_context(tmp_path_factory.mktemp("smtp"), 60 * DAY))
    server.start()
    yield server
    server.stop()


def test_smtp_banner(smtp):
    result = run(SmtpCheck("127.0.0.1", smtp.port))
    assert result.state == UP
    assert result.message.startswith("220 ")
    assert "Python SMTP" in result.details["banner"]


def test_smtp_starttls(smtp_starttls):
    result = run(SmtpCheck("127.0.0.1", smtp_starttls.port, starttls=True, verify_tls=False))
    assert result.state == UP
    assert result.message.endswith("; STARTTLS works")
    untrusted = run(SmtpCheck("127.0.0.1", smtp_starttls.port, starttls=True))
    assert untrusted.state == DOWN
    assert untrusted.message.startswith("TLS certificate not trusted: ")


def test_smtp_without_starttls_offered_is_down(smtp):
    result = run(SmtpCheck("127.0.0.1", smtp.port, starttls=True))
    assert (result.state, result.message) == (DOWN, "the server does not offer STARTTLS")


def test_smtp_closed_port_is_down():
    assert run(SmtpCheck("127.0.0.1", closed_port())).message == "connection refused"


# --- databases ------------------------------------------------------------------------

def needs(port: int, what: str):
    if not listening(port):
        pytest.skip(f"nothing listens on 127.0.0.1:{port} ({what})")


def test_postgresql_select_1():
    needs(5432, "PostgreSQL")
    result = run(DatabaseCheck(host="127.0.0.1", port=5432, user="postgres", dbname="postgres"))
    assert result.state == UP, result.message
    assert result.details["server_version"].startswith("PostgreSQL ")
    by_url = run(DatabaseCheck(dsn="postgresql://postgres@127.0.0.1:5432/postgres"))
    assert by_url.state == UP, by_url.message


def test_postgresql_failures_are_down():
    needs(5432, "PostgreSQL")
    refused = run(DatabaseCheck(host="127.0.0.1", port=closed_port(), user="postgres"))
    assert refused.state == DOWN
    assert "Connection refused" in refused.message
    missing = run(DatabaseCheck(host="127.0.0.1", user="postgres", dbname="no_such_db"))
    assert missing.state == DOWN
    assert 'database "no_such_db" does not exist' in missing.message


def test_mysql_select_1():
    needs(3306, "MySQL or MariaDB")
    result = run(DatabaseCheck(kind="mysql", host="127.0.0.1", user="root", password=""))
    assert result.state == UP, result.message
    assert result.details["server_version"].startswith("MySQL ")


def test_mysql_failures_are_down():
    needs(3306, "MySQL or MariaDB")
    denied = run(DatabaseCheck(kind="mysql", host="127.0.0.1", user="root", password="wrong"))
    assert denied.state == DOWN
    assert denied.message.startswith("Access denied for user 'root'")
    refused = run(DatabaseCheck(kind="mysql", host="127.0.0.1", port=closed_port(), user="root"))
    assert (refused.state, refused.message) == (DOWN, "connection refused")


def test_database_check_configuration_is_validated():
    with pytest.raises(ValueError, match="unknown database kind"):
        DatabaseCheck(kind="oracle", host="127.0.0.1")
    with pytest.raises(ValueError, match="needs host"):
        DatabaseCheck(kind="mysql", dsn="mysql://root@127.0.0.1/")
    assert "secret" not in repr(DatabaseCheck(host="db", password="secret"))


# --- DNS ------------------------------------------------------------------------------

ZONE = """
web.test.    60 IN A     192.0.2.10
web.test.    60 IN A     192.0.2.11
v6.test.     60 IN AAAA  2001:db8::1
alias.test.  60 IN CNAME web.test.
mail.test.   60 IN MX    10 mx1.test.
text.test.   60 IN TXT   "v=spf1 -all"
"""


class Zone(ZoneResolver):
    """dnslib's zone resolver, answering a known name with no record of the asked type
    by an empty NOERROR (as real servers do) instead of NXDOMAIN."""

    def resolve(self, request, handler):
        reply = super().resolve(request, handler)
        if any(name == request.q.qname for name, _, _ in self.zone):
            reply.header.rcode = RCODE.NOERROR
        return reply


@pytest.fixture(scope="module")
def dns_port():
    server = DNSServer(Zone(ZONE), address="127.0.0.1", port=0,
                       logger=DNSLogger(logf=lambda _message: None))
    server.start_thread()
    yield server.server.server_address[1]
    server.stop()
    server.server.server_close()


def dns(dns_port, name, record_type="A", expected=None) -> CheckResult:
    return run(DnsCheck(name, record_type, expected, server="127.0.0.1", port=dns_port))


def test_dns_expected_answers(dns_port):
    result = dns(dns_port, "web.test", expected=["192.0.2.11", "192.0.2.10"])
    assert result.state == UP
    assert result.message == "web.test A: 192.0.2.10, 192.0.2.11, as expected"
    assert dns(dns_port, "v6.test", "AAAA", ["2001:DB8:0::1"]).state == UP
    assert dns(dns_port, "alias.test", "CNAME", ["WEB.test."]).state == UP
    assert dns(dns_port, "mail.test", "MX", ["10 mx1.test"]).state == UP
    assert dns(dns_port, "text.test", "TXT", ["v=spf1 -all"]).state == UP


def test_dns_answers_without_expectation(dns_port):
    result = dns(dns_port, "mail.test", "MX")
    assert (result.state, result.details["answers"]) == (UP, ["10 mx1.test"])
    assert dns(dns_port, "web.test", "AAAA").message == "no web.test AAAA records"


def test_dns_mismatch_is_down(dns_port):
    result = dns(dns_port, "web.test", expected=["192.0.2.10"])
    assert (result.state, result.message) == (
        DOWN, "web.test A: expected 192.0.2.10, got 192.0.2.10, 192.0.2.11")
    missing = dns(dns_port, "nothing.test")
    assert (missing.state, missing.message) == (DOWN, "nothing.test does not exist (NXDOMAIN)")


def test_dns_without_server_is_down():
    result = run(DnsCheck("web.test", server="127.0.0.1", port=closed_port(), timeout=0.5))
    assert (result.state, result.message) == (DOWN, "timed out after 0.5 s")


def test_dns_check_configuration_is_validated():
    with pytest.raises(ValueError, match="unknown DNS record type"):
        DnsCheck("web.test", "NOPE")
    with pytest.raises(ValueError):
        DnsCheck("web.test", "A", expected=["not-an-address"])
    with pytest.raises(ValueError):
        DnsCheck("web.test", server="ns1.example.com")


# --- TLS certificate expiry -----------------------------------------------------------

def expiry(tmp_path, valid_for: datetime.timedelta) -> CheckResult:
    context = tls_context(tmp_path, valid_for)

    async def check():
        async def hang_up(_reader, writer):
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await run_check(TlsExpiryCheck("127.0.0.1", port, degraded_days=14,
                                                  down_days=3, timeout=5))

    return asyncio.run(check())


@pytest.mark.parametrize(("days", "state"), [(60, UP), (10, DEGRADED), (2, DOWN)])
def test_tls_expiry_thresholds(tmp_path, days, state):
    result = expiry(tmp_path, days * DAY)
    assert result.state == state
    assert result.message.startswith(f"certificate expires in {days} days")
    assert result.details["verified"] is False
    assert result.message.endswith("; not trusted: self-signed certificate")


def test_tls_expired_certificate_is_down(tmp_path):
    result = expiry(tmp_path, -2 * DAY)
    assert result.state == DOWN
    assert result.message.startswith("certificate expired on ")
    assert result.details["days_left"] < 0


def test_tls_expiry_closed_port_is_down():
    result = run(TlsExpiryCheck("127.0.0.1", closed_port(), timeout=2))
    assert (result.state, result.message) == (DOWN, "connection refused")


def test_tls_expiry_of_a_plain_server_is_down(web):
    result = run(TlsExpiryCheck("127.0.0.1", web.port, timeout=2))
    assert result.state == DOWN
    assert result.message.startswith("TLS error: ")
