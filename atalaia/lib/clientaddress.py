"""The address of the client behind a request, proxies taken into account.

X-Forwarded-For is believed only when the request comes from an address in
ATALAIA_TRUSTED_PROXIES, and then only as far back as the trusted proxies go:
the right-most address that is not one of them is the client. Anyone can
send the header, so trusting it from elsewhere would let a client choose the
address it is rate limited by.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _trusted(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted(tuple(settings.TRUSTED_PROXIES)))


def client_address(meta: Mapping) -> str:
    """The client's address from a WSGI environ or request.META ("" when unknown)."""
    address = str(meta.get("REMOTE_ADDR") or "")
    if not _is_trusted(address):
        return address
    forwarded = [part.strip() for part in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    for hop in reversed([part for part in forwarded if part]):
        if not _is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return address  # a garbled header: the proxy itself is all we know
        address = hop
    return address
