"""The address of the client behind the proxies this deployment trusts.

`TRUSTED_PROXIES` lists the addresses or networks of our own load balancers
and reverse proxies. Only when the peer (REMOTE_ADDR) is one of them is
X-Forwarded-For read, from the right: each trusted hop appended the address
it saw, so the right-most address that is not a trusted proxy is the client.
Anything to the left of it was written by the client and is never believed.
With no trusted proxies configured the header is ignored altogether.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(configured: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in configured if entry.strip())


def _parse(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(request) -> str:
    """The client's address as the trusted proxies saw it (REMOTE_ADDR when
    the peer is not a trusted proxy)."""
    peer = request.META.get("REMOTE_ADDR", "") or ""
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(_parse(peer), networks):
        return peer
    client = peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _parse(hop)
        if address is None:
            break  # not written by a proxy of ours: stop at the last hop we trust
        client = str(address)
        if not _trusted(address, networks):
            break
    return client
