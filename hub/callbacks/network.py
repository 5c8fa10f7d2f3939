"""Where a request comes from: the caller's address behind trusted proxies, and address allowlists."""

import functools
import ipaddress

from django.conf import settings


@functools.cache
def networks(cidrs: tuple[str, ...]) -> tuple:
    """CIDRs (already checked at start-up) as ip_network objects, parsed once per value."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


@functools.lru_cache(maxsize=4096)
def address(text: str):
    """An ip_address, or None when `text` is not one (parsed once per address: every callback asks)."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def within(ip, nets) -> bool:
    return any(ip.version == net.version and ip in net for net in nets)


def client_ip(request) -> str | None:
    """The caller's address: REMOTE_ADDR, or, behind a trusted proxy, the nearest untrusted X-Forwarded-For hop."""
    remote = address(request.META.get("REMOTE_ADDR", ""))
    proxies = networks(tuple(settings.AT_TRUSTED_PROXIES))
    if remote is None or not within(remote, proxies):
        return None if remote is None else str(remote)
    hops = [address(h) for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([h for h in hops if h is not None]):
        if not within(hop, proxies):
            return str(hop)
    return str(remote)
