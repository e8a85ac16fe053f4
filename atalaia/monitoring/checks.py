"""Network checks for monitors, without models: one async function per kind of check.

Each function takes a plain frozen dataclass and returns a CheckResult. Network problems
(timeouts, refused connections, DNS failures, TLS errors, unexpected replies) never raise:
they come back as state "down" with a message a responder can act on. Bad configuration
(an unknown record type, a MySQL check without a host) raises ValueError when the check
is built. Every check is bounded by its own `timeout`, in seconds, from start to end.

Limits on what a monitored server can make us do:
- an HTTP check reads at most MAX_BODY_BYTES (1 MiB) of a body when it looks for a
  keyword or a JSON field (a keyword after the first MiB counts as not found), and
  otherwise at most MAX_DRAIN_BYTES (64 KiB), only to keep the connection alive;
- it follows at most MAX_REDIRECTS redirects, and never to a scheme other than http(s).

TLS is verified against the machine's trust store (where admins add internal CAs).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import math
import os
import secrets
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import aiomysql
import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver
import httpx
import psycopg
import pymysql
from cryptography import x509

from atalaia.lib import jsondoc

UP, DEGRADED, DOWN = "up", "degraded", "down"
MAX_BODY_BYTES = 1 << 20
MAX_DRAIN_BYTES = 64 << 10  # read and dropped to keep the connection; larger: closed
MAX_REDIRECTS = 10
USER_AGENT = "Atalaia-monitor/1"
ICMP_NOT_ALLOWED = "unprivileged ICMP is not allowed on this machine (net.ipv4.ping_group_range)"


@dataclass(frozen=True)
class CheckResult:
    state: str  # UP, DEGRADED or DOWN
    latency_ms: float | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpCheck:
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | bytes | None = None
    expected_status: tuple[int | range, ...] = (range(200, 400),)
    keyword: str | None = None
    keyword_absent: bool = False  # True: the keyword must NOT be in the body
    json_path: str | None = None  # "data.items.0.status": keys, and list indexes as numbers
    json_value: Any = None  # None: the field only has to exist
    degraded_after_ms: float | None = None
    verify_tls: bool = True
    follow_redirects: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class TcpCheck:
    host: str
    port: int
    timeout: float = 10.0


@dataclass(frozen=True)
class PingCheck:
    host: str
    timeout: float = 5.0


@dataclass(frozen=True)
class SmtpCheck:
    host: str
    port: int = 25
    starttls: bool = False
    verify_tls: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class DatabaseCheck:
    kind: str = "postgresql"  # or "mysql" (MariaDB too)
    dsn: str | None = field(default=None, repr=False)  # PostgreSQL only: libpq string or URL
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    dbname: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in ("postgresql", "mysql"):
            raise ValueError(f"unknown database kind {self.kind!r}: postgresql or mysql")
        if self.kind == "mysql" and (self.dsn or not self.host):
            raise ValueError("a MySQL check needs host (dsn is for PostgreSQL only)")


@dataclass(frozen=True)
class DnsCheck:
    name: str
    record_type: str = "A"
    expected: Sequence[str] | None = None  # the exact set of answers (order ignored)
    server: str | None = None  # an IP address; None: the machine's resolvers
    port: int = 53
    timeout: float = 5.0

    def __post_init__(self) -> None:
        try:
            dns.rdatatype.from_text(self.record_type)
        except dns.exception.DNSException as exc:
            raise ValueError(f"unknown DNS record type {self.record_type!r}") from exc
        if self.server is not None:
            ipaddress.ip_address(self.server)
        for value in self.expected or ():
            _normalize_expected(self.record_type, value)


@dataclass(frozen=True)
class TlsExpiryCheck:
    host: str
    port: int = 443
    degraded_days: float = 14
    down_days: float = 3
    server_name: str | None = None  # SNI and the name verified, when host is an address
    timeout: float = 10.0


Check = HttpCheck | TcpCheck | PingCheck | SmtpCheck | DatabaseCheck | DnsCheck | TlsExpiryCheck


async def run_check(check: Check, client: httpx.AsyncClient | None = None) -> CheckResult:
    """Run any check. HTTP checks that verify TLS reuse `client` when given (make it with
    new_http_client()); HTTP checks with verification off always use a client of their own."""
    match check:
        case HttpCheck():
            return await check_http(check, client)
        case TcpCheck():
            return await check_tcp(check)
        case PingCheck():
            return await check_ping(check)
        case SmtpCheck():
            return await check_smtp(check)
        case DatabaseCheck():
            return await check_database(check)
        case DnsCheck():
            return await check_dns(check)
        case TlsExpiryCheck():
            return await check_tls_expiry(check)
    raise TypeError(f"not a check: {check!r}")


# --- failures -------------------------------------------------------------------------

class CheckFailed(Exception):
    """Raised inside a check when the target is down; becomes a "down" result."""

    def __init__(self, message: str, latency_ms: float | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.latency_ms = latency_ms
        self.details = details or {}


NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, UnicodeError, httpx.HTTPError, httpx.InvalidURL,
    psycopg.Error, pymysql.err.MySQLError, dns.exception.DNSException)


class _Timed(Protocol):
    @property
    def timeout(self) -> float: ...


C = TypeVar("C", bound=_Timed)
P = ParamSpec("P")


def _guarded(
    func: Callable[Concatenate[C, P], Awaitable[CheckResult]],
) -> Callable[Concatenate[C, P], Awaitable[CheckResult]]:
    """Bound a check by its timeout and turn network errors into "down" results."""

    @functools.wraps(func)
    async def guarded(check: C, *args: P.args, **kwargs: P.kwargs) -> CheckResult:
        try:
            async with asyncio.timeout(check.timeout):
                return await func(check, *args, **kwargs)
        except CheckFailed as failure:
            return CheckResult(DOWN, failure.latency_ms, str(failure), failure.details)
        except NETWORK_ERRORS as exc:
            return CheckResult(DOWN, None, describe_error(exc, check.timeout),
                               {"error": type(exc).__name__})

    return guarded


def describe_error(exc: BaseException, timeout: float) -> str:
    """A short message for a network error, from the most telling exception in its chain."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError | httpx.TimeoutException | dns.exception.Timeout):
            return f"timed out after {float(timeout)} s"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {(cause.reason or str(cause)).lower().replace('_', ' ')}"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: {cause.strerror}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"  # asyncio's own message names no reason
        if isinstance(cause, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, pymysql.err.MySQLError) and exc.args:
        return str(exc.args[-1])
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- HTTP -----------------------------------------------------------------------------

def new_http_client(verify: bool = True, limits: httpx.Limits | None = None
                    ) -> httpx.AsyncClient:
    """The client HTTP checks use; the prober shares one (verifying) among its checks,
    with room for as many kept-alive connections as it has checks in flight."""
    return httpx.AsyncClient(verify=_tls_context(verify), follow_redirects=False,
                             headers={"User-Agent": USER_AGENT},
                             limits=limits or httpx.Limits())


@_guarded
async def check_http(check: HttpCheck, client: httpx.AsyncClient | None = None) -> CheckResult:
    if client is None or not check.verify_tls:
        async with new_http_client(verify=check.verify_tls) as own_client:
            return await _http(check, own_client)
    return await _http(check, client)


async def _http(check: HttpCheck, client: httpx.AsyncClient) -> CheckResult:
    started = time.perf_counter()
    response, redirects = await _send(check, client)
    try:
        wants_body = check.keyword is not None or check.json_path is not None
        # Read the body even when nothing looks into it: a connection whose
        # response was not read to the end cannot be kept alive for the next check.
        body, truncated = await _read_body(response, MAX_BODY_BYTES if wants_body
                                           else MAX_DRAIN_BYTES)
    finally:
        await response.aclose()
    latency = _elapsed_ms(started)
    details = {"status_code": response.status_code, "url": str(response.url),
               "redirects": redirects, "truncated": truncated}
    problem = _status_problem(check, response.status_code)
    if problem is None and wants_body:
        problem = _body_problem(check, _decode(body, response.charset_encoding), truncated)
    if problem is not None:
        return CheckResult(DOWN, latency, problem, details)
    if check.degraded_after_ms is not None and latency > check.degraded_after_ms:
        return CheckResult(DEGRADED, latency, f"slow: {_ms(latency)}, above "
                           f"{check.degraded_after_ms:g} ms", details)
    return CheckResult(UP, latency, f"HTTP {response.status_code} in {_ms(latency)}", details)


async def _send(check: HttpCheck, client: httpx.AsyncClient) -> tuple[httpx.Response, int]:
    request = client.build_request(check.method, check.url, headers=dict(check.headers),
                                   content=check.body, timeout=check.timeout)
    for redirects in range(MAX_REDIRECTS + 1):
        response = await client.send(request, follow_redirects=False, stream=True)
        following = response.next_request
        if following is None or not check.follow_redirects:
            return response, redirects
        await response.aclose()
        if following.url.scheme not in ("http", "https"):
            raise CheckFailed(f"redirect to a non-HTTP(S) URL refused: {following.url}",
                              details={"status_code": response.status_code})
        request = following
    raise CheckFailed(f"more than {MAX_REDIRECTS} redirects")


async def _read_body(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[:limit], size > limit


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _status_problem(check: HttpCheck, status: int) -> str | None:
    if any(status in e if isinstance(e, range) else status == e for e in check.expected_status):
        return None
    wanted = ", ".join(f"{e.start}-{e.stop - 1}" if isinstance(e, range) else str(e)
                       for e in check.expected_status)
    return f"expected status {wanted}, got {status}"


def _body_problem(check: HttpCheck, text: str, truncated: bool) -> str | None:
    where = " in the first 1 MiB of the body" if truncated else ""
    if check.keyword is not None:
        found = check.keyword in text
        if found and check.keyword_absent:
            return f"keyword {check.keyword!r} found"
        if not found and not check.keyword_absent:
            return f"keyword {check.keyword!r} not found{where}"
    if check.json_path is not None:
        return _json_problem(check.json_path, check.json_value, text, where)
    return None


def _json_problem(path: str, expected: Any, text: str, where: str) -> str | None:
    try:  # the monitored server's JSON, nested however deep it likes: the one JSON door
        document = jsondoc.parse(text.encode(), max_bytes=MAX_BODY_BYTES * 4, allow_nul=True)
    except jsondoc.JSONInputError:
        return f"the body is not JSON{where}"
    try:
        found = _json_lookup(document, path)
    except LookupError:
        return f"JSON field {path!r} not found"
    if expected is None or _json_equal(found, expected):
        return None
    return f"JSON field {path!r} is {_short(json.dumps(found))}, expected {json.dumps(expected)}"


def _json_lookup(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        if isinstance(value, list) and part.lstrip("-").isdigit():
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value[part]
        else:
            raise LookupError(part)
    return value


def _json_equal(found: Any, expected: Any) -> bool:
    # A value typed in a form is a string: "true" or "3" matches the JSON true or 3.
    if isinstance(expected, str) and not isinstance(found, str):
        return json.dumps(found) == expected
    return bool(found == expected)


# --- TCP, SMTP, TLS -------------------------------------------------------------------

@_guarded
async def check_tcp(check: TcpCheck) -> CheckResult:
    started = time.perf_counter()
    _, writer = await asyncio.open_connection(check.host, check.port)
    latency = _elapsed_ms(started)
    await _close(writer)
    return CheckResult(UP, latency, f"port {check.port} open, connected in {_ms(latency)}")


@_guarded
async def check_smtp(check: SmtpCheck) -> CheckResult:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(check.host, check.port)
    try:
        code, banner = await _smtp_reply(reader)
        if code != 220:
            raise CheckFailed(f"SMTP banner {code} {banner}", _elapsed_ms(started))
        if check.starttls:
            await _starttls(reader, writer, check)
        latency = _elapsed_ms(started)
        writer.write(b"QUIT\r\n")
    finally:
        await _close(writer)
    first_line = banner.splitlines()[0] if banner else ""
    message = f"220 {first_line}" + ("; STARTTLS works" if check.starttls else "")
    return CheckResult(UP, latency, message, {"banner": banner, "starttls": check.starttls})


async def _smtp_reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    lines = []
    while True:
        try:
            line = (await reader.readline()).decode("utf-8", errors="replace").rstrip("\r\n")
        except ValueError as exc:  # the line went past the reader's limit
            raise CheckFailed("SMTP reply line too long") from exc
        if not line:
            raise CheckFailed("the SMTP server closed the connection")
        if len(line) < 3 or not line[:3].isdigit():
            raise CheckFailed(f"not an SMTP reply: {_short(line)!r}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), "\n".join(lines)


async def _starttls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    check: SmtpCheck) -> None:
    address = writer.get_extra_info("sockname")[0]
    writer.write(f"EHLO [{'IPv6:' if ':' in address else ''}{address}]\r\n".encode())
    code, text = await _smtp_reply(reader)
    if code != 250:
        raise CheckFailed(f"EHLO refused: {code} {_short(text)}")
    if not any(line.upper().split()[:1] == ["STARTTLS"] for line in text.splitlines()):
        raise CheckFailed("the server does not offer STARTTLS")
    writer.write(b"STARTTLS\r\n")
    code, text = await _smtp_reply(reader)
    if code != 220:
        raise CheckFailed(f"STARTTLS refused: {code} {_short(text)}")
    await writer.start_tls(_tls_context(check.verify_tls), server_hostname=check.host)


@_guarded
async def check_tls_expiry(check: TlsExpiryCheck) -> CheckResult:
    """The certificate's expiry decides the state; whether it is trusted is reported beside."""
    started = time.perf_counter()
    verify_error = None
    try:
        der = await _peer_certificate(check, verify=True)
    except ssl.SSLCertVerificationError as exc:
        verify_error = exc.verify_message or str(exc)
        der = await _peer_certificate(check, verify=False)
    latency = _elapsed_ms(started)
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CheckFailed("the server's certificate cannot be read", latency) from exc
    return _expiry_result(check, certificate, verify_error, latency)


async def _peer_certificate(check: TlsExpiryCheck, verify: bool) -> bytes:
    _, writer = await asyncio.open_connection(
        check.host, check.port, ssl=_tls_context(verify),
        server_hostname=check.server_name or check.host)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        await _close(writer)
    if not der:
        raise CheckFailed("the server sent no certificate")
    return der


def _expiry_result(check: TlsExpiryCheck, certificate: x509.Certificate,
                   verify_error: str | None, latency: float) -> CheckResult:
    not_after = certificate.not_valid_after_utc
    days_left = (not_after - datetime.now(UTC)).total_seconds() / 86400
    if days_left <= 0:
        state, message = DOWN, f"certificate expired on {not_after:%Y-%m-%d %H:%M} UTC"
    else:
        state = (DOWN if days_left <= check.down_days
                 else DEGRADED if days_left <= check.degraded_days else UP)
        message = f"certificate expires in {days_left:.0f} days ({not_after:%Y-%m-%d})"
    if verify_error:
        message += f"; not trusted: {verify_error}"
    details = {"not_after": not_after.isoformat(), "days_left": round(days_left, 2),
               "verified": verify_error is None, "verify_error": verify_error,
               "subject": certificate.subject.rfc4514_string(),
               "issuer": certificate.issuer.rfc4514_string()}
    return CheckResult(state, latency, message, details)


@functools.cache
def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(1.0):  # a peer that never answers a TLS close_notify
            await writer.wait_closed()


# --- ICMP -----------------------------------------------------------------------------

@_guarded
async def check_ping(check: PingCheck) -> CheckResult:
    """One ICMP echo. Unprivileged ICMP sockets where net.ipv4.ping_group_range allows
    them, else a raw socket where the process may open one (root, CAP_NET_RAW)."""
    loop = asyncio.get_running_loop()
    family, _, _, _, address = (await loop.getaddrinfo(check.host, None,
                                                       type=socket.SOCK_DGRAM))[0]
    try:
        sock, raw = _icmp_socket(family)
    except PermissionError:
        return CheckResult(DOWN, None, ICMP_NOT_ALLOWED, {"error": "configuration"})
    with sock:
        latency = await _echo(sock, raw, family, address)
    return CheckResult(UP, latency, f"reply from {address[0]} in {_ms(latency)}",
                       {"address": address[0], "raw_socket": raw})


def _icmp_socket(family: int) -> tuple[socket.socket, bool]:
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    try:
        sock, raw = socket.socket(family, socket.SOCK_DGRAM, proto), False
    except PermissionError:
        sock, raw = socket.socket(family, socket.SOCK_RAW, proto), True
    sock.setblocking(False)
    return sock, raw


async def _echo(sock: socket.socket, raw: bool, family: int, address: Any) -> float:
    loop = asyncio.get_running_loop()
    ipv4 = family == socket.AF_INET
    request_type, reply_type = (8, 0) if ipv4 else (128, 129)
    # The payload is random: raw sockets see every echo reply, and only ours carries it.
    payload = b"atalaia-" + secrets.token_bytes(8)
    header = struct.pack("!BBHHH", request_type, 0, 0, secrets.randbits(16), 1)
    checksum = _icmp_checksum(header + payload) if ipv4 else 0  # the kernel sums ICMPv6
    packet = header[:2] + struct.pack("!H", checksum) + header[4:] + payload
    started = time.perf_counter()
    await loop.sock_sendto(sock, packet, address)
    while True:
        data = await loop.sock_recv(sock, 2048)
        if raw and ipv4:
            data = data[(data[0] & 0x0F) * 4:]  # raw IPv4 sockets keep the IP header
        if data[:1] == bytes([reply_type]) and data[8:] == payload:
            return _elapsed_ms(started)


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


# --- databases ------------------------------------------------------------------------

@_guarded
async def check_database(check: DatabaseCheck) -> CheckResult:
    """Log in and run SELECT 1."""
    started = time.perf_counter()
    if check.kind == "postgresql":
        version = await _postgresql_version(check)
    else:
        version = await _mysql_version(check)
    latency = _elapsed_ms(started)
    return CheckResult(UP, latency, f"SELECT 1 answered in {_ms(latency)} ({version})",
                       {"server_version": version})


async def _postgresql_version(check: DatabaseCheck) -> str:
    connection = await psycopg.AsyncConnection.connect(
        check.dsn or "", host=check.host, port=check.port, user=check.user,
        password=check.password, dbname=check.dbname, autocommit=True,
        connect_timeout=max(2, math.ceil(check.timeout)))  # libpq's minimum is 2 s
    async with connection:
        await connection.execute("SELECT 1")
        version = connection.info.parameter_status("server_version") or "?"
    return f"PostgreSQL {version}"


async def _mysql_version(check: DatabaseCheck) -> str:
    connection = await aiomysql.connect(
        host=check.host, port=check.port or 3306, user=check.user or "",
        password=check.password or "", db=check.dbname, connect_timeout=check.timeout)
    try:
        async with connection.cursor() as cursor:
            await cursor.execute("SELECT 1")
        version = connection.get_server_info()
    finally:
        connection.close()
    return f"MySQL {version.removeprefix('5.5.5-')}"  # MariaDB's prefix for old clients


# --- DNS ------------------------------------------------------------------------------

@_guarded
async def check_dns(check: DnsCheck) -> CheckResult:
    label = f"{check.name} {check.record_type.upper()}"
    started = time.perf_counter()
    try:
        answer = await _resolver(check).resolve(
            check.name, check.record_type, search=False, lifetime=check.timeout,
            raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN as exc:
        raise CheckFailed(f"{check.name} does not exist (NXDOMAIN)", _elapsed_ms(started)) from exc
    latency = _elapsed_ms(started)
    got = sorted({_answer_text(rdata) for rdata in answer.rrset or ()})
    details = {"answers": got}
    if check.expected is None:
        if not got:
            return CheckResult(DOWN, latency, f"no {label} records", details)
        return CheckResult(UP, latency, f"{label}: {', '.join(got)}", details)
    wanted = sorted({_normalize_expected(check.record_type, value) for value in check.expected})
    if got != wanted:
        return CheckResult(DOWN, latency, f"{label}: expected {', '.join(wanted) or 'nothing'}, "
                           f"got {', '.join(got) or 'nothing'}", details)
    return CheckResult(UP, latency, f"{label}: {', '.join(got) or 'nothing'}, as expected",
                       details)


def _resolver(check: DnsCheck) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=check.server is None)
    if check.server is not None:
        resolver.nameservers = [check.server]
        resolver.port = check.port
    return resolver


def _answer_text(rdata: Any) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", errors="replace")
    return _normalize_name_text(rdata.to_text())


def _normalize_expected(record_type: str, value: str) -> str:
    """Expected answers as the check shows answers: canonical addresses, names without
    the final dot and in lower case, TXT as the text itself."""
    kind = record_type.upper()
    if kind in ("A", "AAAA"):
        return str(ipaddress.ip_address(value.strip()))
    if kind == "TXT":
        return value
    return _normalize_name_text(value)


def _normalize_name_text(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


# --- small helpers --------------------------------------------------------------------

def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _ms(latency: float) -> str:
    return f"{latency:.1f} ms" if latency < 10 else f"{latency:.0f} ms"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
