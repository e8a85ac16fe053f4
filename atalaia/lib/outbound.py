"""Guarded outbound requests: a URL someone typed (a subscriber's webhook, a company
channel, a contact method) must not make Atalaia reach into its own network.

A URL is refused unless it is http(s) and every address its host resolves to is a
public one (is_public: not loopback, private, link-local, multicast, reserved or
unspecified, and no IPv6 form that wraps such an IPv4 address: IPv4-mapped, NAT64,
6to4, Teredo). ATALAIA_OUTBOUND_ALLOW_PRIVATE lets a team (and the tests, which run
every server on 127.0.0.1) send to private and loopback addresses.

A check of the name before sending is not enough: the name is resolved again when
the connection is made, and its owner can answer a public address the first time and
127.0.0.1 the second (DNS rebinding). So the check is made where the connection is:
requests go through GuardedTransport, whose network backend resolves the host once,
refuses it if any address is not public, and connects to an address it checked; the
URL, the Host header and the TLS server name (SNI and the certificate's name) stay
the host's. Apprise's plugins open their own connections through `requests`, with no
hook for a transport: guarded_sockets() checks every address a socket connects or
sends to while they run. Redirects are not followed.

A receiver cannot hold the caller or fill its memory either: the whole exchange
(connect, send, the reply's headers and body) has one total deadline,
ATALAIA_OUTBOUND_DEADLINE_SECONDS. httpx's timeouts bound each read, so a receiver
sending one byte every few seconds would never trip them; a timer shuts the
connection's socket down when the deadline passes, which ends any read in progress.
The reply's body is read up to ATALAIA_OUTBOUND_MAX_REPLY_BYTES, then the
connection is closed: what is judged is the status code.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import sys
import threading
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import dns.exception
import dns.nameserver
import dns.resolver
import httpcore
import httpx
from django.conf import settings

CONNECT_SECONDS = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 (RFC 6052): a public IPv4 address seen from an IPv6-only network; the IPv4
# address is the last 32 bits. 64:ff9b::/96 is judged by the address it wraps.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# The local-use NAT64 prefix (RFC 8215) may embed the IPv4 address at several places
# depending on the network's own prefix length: it is refused whole, not guessed at.
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class OutboundRefused(ValueError):
    """A URL Atalaia will not send to; the message says why."""


class DeadlinePassed(httpx.TimeoutException):
    """No complete answer within the total deadline."""


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: bytes  # at most OUTBOUND_MAX_REPLY_BYTES of it
    truncated: bool  # the receiver had more to say; it was not read


def is_public(address: str | IPAddress) -> bool:
    """Whether an address is one of the public internet's: the one decision every
    outbound path asks."""
    ip = ipaddress.ip_address(str(address).split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or ip in NAT64_LOCAL:
            return False
        if ip in NAT64:
            # 64:ff9b::/96 lies in ::/8, which ipaddress calls reserved: the wrapped
            # address is what the NAT64 gateway connects to, so it alone decides.
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not is_public(ip.sixtofour):
            return False
        # Teredo (2001::/32) carries its server and, bits inverted, its client's IPv4
        # address; .teredo undoes the inversion.
        if ip.teredo is not None and not all(is_public(part) for part in ip.teredo):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local
                                 or ip.is_multicast or ip.is_reserved
                                 or ip.is_unspecified)


def check_url(url: str, resolve: bool = True) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("the URL must start with http:// or https:// and name a host")
    if parts.username or parts.password:
        raise OutboundRefused("the URL must not carry a user name or password")
    if resolve and not settings.OUTBOUND_ALLOW_PRIVATE:
        check_host(parts.hostname, allow_private=False)
    return url.strip()


def check_host(host: str, allow_private: bool | None = None,
               must_resolve: bool = True) -> list[str]:
    """The host's addresses, once each is known to be public (unless private ones are
    allowed: by default, as ATALAIA_OUTBOUND_ALLOW_PRIVATE says); OutboundRefused says
    which is not, or that the name does not resolve (unless `must_resolve` is off:
    then no address is no refusal)."""
    try:
        addresses = resolve(host)
    except OutboundRefused:
        if must_resolve:
            raise
        return []
    if allow_private is None:
        allow_private = settings.OUTBOUND_ALLOW_PRIVATE
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise OutboundRefused(_private(host, address))
    return addresses


def _private(host: str, address: str) -> str:
    if _literal(host) is not None:
        return f"{host.strip('[]')} is a private or local address"
    return f"{host} leads to {address}, a private or local address"


def resolve(host: str) -> list[str]:
    """The addresses of a host, asked once: of the system's resolver, or of the DNS
    server named by ATALAIA_OUTBOUND_NAMESERVER (the tests' own, which answers what a
    rebinding attacker would)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        found = (_ask_nameserver(host, settings.OUTBOUND_NAMESERVER)
                 if settings.OUTBOUND_NAMESERVER else _ask_system(host))
    except (OSError, dns.exception.DNSException) as exc:
        raise OutboundRefused(f"{host} does not resolve: {exc}") from None
    if not found:
        raise OutboundRefused(f"{host} does not resolve")
    return found


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%")[0]))
    except ValueError:
        return None


def _ask_system(host: str) -> list[str]:
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise OSError(exc.strerror) from None
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in found))


def _ask_nameserver(host: str, nameserver: str) -> list[str]:
    """`nameserver` is an address with maybe a port: 10.0.0.2, 10.0.0.2:5353, [::1]:53."""
    where = urlsplit(f"dns://{nameserver}")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(where.hostname or "",
                                                          where.port or 53)]
    resolver.lifetime = CONNECT_SECONDS
    found: list[str] = []
    for kind in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host, kind, search=False)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        found += [record.to_text() for record in answer]
    return found


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's own backend, asked to connect to addresses checked here rather than
    to the name: the name is resolved once, so what was checked is what is reached.
    httpcore then starts TLS with the request's host as the server name."""

    def __init__(self, allow_private: bool):
        self._plain = httpcore.SyncBackend()
        self._allow_private = allow_private

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None,
                    ) -> httpcore.NetworkStream:
        addresses = check_host(host, self._allow_private)
        error: Exception | None = None
        for address in addresses:
            try:
                return self._plain.connect_tcp(address, port, timeout, local_address,
                                               socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # resolve() returns at least one address
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None,
                            ) -> httpcore.NetworkStream:
        raise OutboundRefused("a local socket is not an outbound destination")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over _GuardedBackend. httpx takes no network backend, so its
    connection pool (`_pool`, the one attribute it keeps it in) is built again with it.
    A client given a transport mounts no proxy from the environment, which would
    resolve the name itself."""

    def __init__(self, allow_private: bool):
        context = httpx.create_ssl_context()
        super().__init__(verify=context)
        self._pool = httpcore.ConnectionPool(ssl_context=context,
                                             network_backend=_GuardedBackend(allow_private))


@dataclass
class SocketGuard:
    """What guarded_sockets() refused, for the caller to report: the library that made
    the connection may turn the refusal into a bare False."""

    refused: list[str] = field(default_factory=list)


_socket_guard: contextvars.ContextVar[SocketGuard | None] = contextvars.ContextVar(
    "outbound_socket_guard", default=None)
_hook_lock = threading.Lock()
_hook_installed = False


@contextmanager
def guarded_sockets() -> Iterator[SocketGuard]:
    """Within the block, a socket connecting or sending to an address that is not public
    fails with PermissionError (unless private addresses are allowed). For libraries
    that open their own connections, as Apprise's plugins do through `requests` and
    smtplib with no transport to plug in: the check is on the address the socket is
    given, after the library resolved the name, so what is checked is what is reached.
    Python's audit hook for socket.connect and socket.sendto sees every socket; the
    guard holds in this context only, and in the threads given a copy of it (Apprise
    runs a service with a deadline in such a thread)."""
    _install_hook()
    guard = SocketGuard()
    token = _socket_guard.set(guard)
    try:
        yield guard
    finally:
        _socket_guard.reset(token)


def _install_hook() -> None:
    """Once per process: an audit hook cannot be removed, so it does nothing outside a
    guarded_sockets() block."""
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True


def _audit(event: str, args: tuple) -> None:
    if event not in ("socket.connect", "socket.sendto"):
        return
    guard = _socket_guard.get()
    if guard is None or settings.OUTBOUND_ALLOW_PRIVATE:
        return
    sock, address = args[0], args[-1]
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        why = "a local socket is not an outbound destination"
    else:
        # Resolving a name may itself use a socket (to ATALAIA_OUTBOUND_NAMESERVER).
        token = _socket_guard.set(None)
        try:
            why = _refusal(str(address[0]))
        finally:
            _socket_guard.reset(token)
    if why:
        guard.refused.append(why)
        raise PermissionError(why)


def _refusal(host: str) -> str:
    """Why a socket may not reach `host` (empty: it may). A name is resolved and every
    address checked; the libraries guarded here resolve names themselves and hand the
    socket an address, which is not resolved again."""
    try:
        check_host(host, allow_private=False)
    except OutboundRefused as exc:
        return str(exc)
    return ""


def post(url: str, content: bytes, headers: dict[str, str]) -> Reply:
    """POST to a URL someone typed: see request()."""
    return request("POST", url, content, headers)


def request(method: str, url: str, content: bytes = b"",
            headers: dict[str, str] | None = None, guard: bool = True) -> Reply:
    """One request within the total deadline, to public addresses only (unless `guard`
    is off: a URL the operator configured, such as the watchdog's, may be private; it
    still goes through the same transport); raises OutboundRefused or httpx errors
    (DeadlinePassed when the deadline cut the exchange short)."""
    if guard:
        check_url(url, resolve=False)  # the addresses are checked as the connection is made
    transport = GuardedTransport(allow_private=not guard or settings.OUTBOUND_ALLOW_PRIVATE)
    deadline = settings.OUTBOUND_DEADLINE_SECONDS
    cutter = _Cutter(deadline)
    timeout = httpx.Timeout(deadline, connect=min(CONNECT_SECONDS, deadline))
    try:
        with httpx.Client(transport=transport, timeout=timeout,
                          follow_redirects=False) as client, \
                client.stream(method, url, content=content, headers=headers,
                              extensions={"trace": cutter.trace}) as response:
            return _bounded(response, cutter)
    except httpx.HTTPError as exc:
        if cutter.cut:
            raise DeadlinePassed(f"no complete answer within {deadline:g} s") from exc
        raise
    finally:
        cutter.cancel()


def _bounded(response: httpx.Response, cutter: _Cutter) -> Reply:
    """The status and at most OUTBOUND_MAX_REPLY_BYTES of the body (raw bytes: a
    compressed body is not expanded). Once the status is known, a body cut short by
    the deadline does not undo the answer."""
    limit = settings.OUTBOUND_MAX_REPLY_BYTES
    body = bytearray()
    try:
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > limit:
                return Reply(response.status_code, bytes(body[:limit]), truncated=True)
    except httpx.HTTPError:
        if not cutter.cut:
            raise
        return Reply(response.status_code, bytes(body), truncated=True)
    return Reply(response.status_code, bytes(body), truncated=False)


class _Cutter:
    """Shuts the request's socket down when the deadline passes. httpcore's trace hook
    hands over each network stream as it is opened (and again after TLS wraps it)."""

    def __init__(self, seconds: float):
        self.cut = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            with self._lock:
                self._socket = sock
                if self.cut:
                    _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.cut = True
            _shut(self._socket)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket | None) -> None:
    """shutdown() (unlike close()) wakes a thread blocked reading the socket. The plain
    socket's method is called even for a TLS socket: its own would drop the TLS state
    under the reading thread's feet."""
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing left to cut
