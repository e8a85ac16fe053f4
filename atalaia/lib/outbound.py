"""Guarded outbound requests: a URL someone typed (a subscriber's webhook) must not
make Atalaia reach into its own network.

A URL is refused unless it is http(s) and every address its host resolves to is a
public one; ATALAIA_OUTBOUND_ALLOW_PRIVATE lets a team (and the tests, which run
every server on 127.0.0.1) send to private and loopback addresses. The address is
checked again at send time, so a name that later resolves somewhere private is
refused then too. Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class OutboundRefused(ValueError):
    """A URL Atalaia will not send to; the message says why."""


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


def post(url: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST after checking the URL; raises OutboundRefused or httpx errors."""
    check_url(url)
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        return client.post(url, content=content, headers=headers)
