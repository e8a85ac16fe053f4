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
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@cache
def _trusted(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _address(text: str) -> IPAddress | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:5555`, `[2001:db8::1]:443`,
    or an IPv4 address mapped into IPv6 (`::ffff:1.2.3.4`, from a dual-stack socket),
    which is that IPv4 address. None when it is none of these."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _is_trusted(ip: IPAddress | None) -> bool:
    return ip is not None and any(
        ip in network for network in _trusted(tuple(settings.TRUSTED_PROXIES)))


def client_address(meta: Mapping) -> str:
    """The client's address from a WSGI environ or request.META ("" when unknown)."""
    remote = str(meta.get("REMOTE_ADDR") or "")
    ip = _address(remote)
    if not _is_trusted(ip):
        return str(ip) if ip else remote
    address = str(ip)
    forwarded = str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")
    for hop in reversed([part for part in forwarded if part.strip()]):
        hop_ip = _address(hop)
        if hop_ip is None:
            return address  # a garbled header: the last proxy we trust is all we know
        if not _is_trusted(hop_ip):
            return str(hop_ip)
        address = str(hop_ip)
    return address
