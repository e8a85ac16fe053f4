"""Guarded outbound requests: a URL someone typed (a subscriber's webhook) must not
make Atalaia reach into its own network.

A URL is refused unless it is http(s) and every address its host resolves to is a
public one; ATALAIA_OUTBOUND_ALLOW_PRIVATE lets a team (and the tests, which run
every server on 127.0.0.1) send to private and loopback addresses. The address is
checked again at send time, so a name that later resolves somewhere private is
refused then too. Redirects are not followed.

A receiver cannot hold the caller or fill its memory either: the whole exchange
(connect, send, the reply's headers and body) has one total deadline,
ATALAIA_OUTBOUND_DEADLINE_SECONDS. httpx's timeouts bound each read, so a receiver
sending one byte every few seconds would never trip them; a timer shuts the
connection's socket down when the deadline passes, which ends any read in progress.
The reply's body is read up to ATALAIA_OUTBOUND_MAX_REPLY_BYTES, then the
connection is closed: what is judged is the status code.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

CONNECT_SECONDS = 5.0


class OutboundRefused(ValueError):
    """A URL Atalaia will not send to; the message says why."""


class DeadlinePassed(httpx.TimeoutException):
    """No complete answer within the total deadline."""


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: bytes  # at most OUTBOUND_MAX_REPLY_BYTES of it
    truncated: bool  # the receiver had more to say; it was not read


def check_url(url: str, resolve: bool = True) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("the URL must start with http:// or https:// and name a host")
    if parts.username or parts.password:
        raise OutboundRefused("the URL must not carry a user name or password")
    if resolve and not settings.OUTBOUND_ALLOW_PRIVATE:
        for address in _addresses(parts.hostname, parts.port or
                                  (443 if parts.scheme == "https" else 80)):
            if not ipaddress.ip_address(address).is_global:
                raise OutboundRefused(f"{parts.hostname} is a private or local address")
    return url.strip()


def _addresses(host: str, port: int) -> set[str]:
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise OutboundRefused(f"{host} does not resolve: {exc.strerror}") from None
    return {str(info[4][0]).split("%")[0] for info in found}


def post(url: str, content: bytes, headers: dict[str, str]) -> Reply:
    """POST to a URL someone typed: see request()."""
    return request("POST", url, content, headers)


def request(method: str, url: str, content: bytes = b"",
            headers: dict[str, str] | None = None, guard: bool = True) -> Reply:
    """One request within the total deadline, after checking the URL (unless `guard` is
    off: a URL the operator configured, such as the watchdog's); raises OutboundRefused
    or httpx errors (DeadlinePassed when the deadline cut the exchange short)."""
    if guard:
        check_url(url)
    deadline = settings.OUTBOUND_DEADLINE_SECONDS
    cutter = _Cutter(deadline)
    timeout = httpx.Timeout(deadline, connect=min(CONNECT_SECONDS, deadline))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client, \
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
