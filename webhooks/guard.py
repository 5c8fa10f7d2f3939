"""Server-side request forgery guard: which addresses an endpoint may resolve to.

Loopback, private, link-local, multicast, reserved and unspecified addresses
(IPv4-mapped IPv6 ones included) are refused, at registration and again at
every delivery, unless AT_EVENTS_ALLOW_PRIVATE is on. The delivery then
connects to the address that was checked (no second lookup a DNS answer could
change in between).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class Refused(ValueError):
    """The URL may not be called; the message says why (without the URL's path or query)."""


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _forbidden(mapped)
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def parts(url: str) -> tuple[str, str, int]:
    """The URL's scheme, host and port; Refused when it is not an http(s) URL with a host."""
    split = urlsplit(url)
    if split.scheme not in {"http", "https"}:
        raise Refused("the URL must start with https:// (or http:// in development)")
    if not split.hostname:
        raise Refused("the URL has no host")
    if split.username or split.password:
        raise Refused("the URL may not carry a user name or password")
    try:
        port = split.port or (443 if split.scheme == "https" else 80)
    except ValueError as exc:
        raise Refused("the URL's port is not a number from 1 to 65535") from exc
    return split.scheme, split.hostname, port


def resolve(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) for `url`, refusing addresses the guard forbids.

    Every address the name resolves to must be allowed (a name resolving to one
    public and one private address is refused).
    """
    scheme, host, port = parts(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"the host {host} does not resolve") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise Refused(f"the host {host} does not resolve")
    allow_private = settings.AT_EVENTS_ALLOW_PRIVATE
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _forbidden(address) and not allow_private:
            raise Refused(
                f"the host {host} resolves to {address}, a loopback, private or link-local address "
                "(set AT_EVENTS_ALLOW_PRIVATE=true to allow it)"
            )
    return scheme, host, port, addresses[0]


def check_registration(url: str) -> None:
    """Refused unless `url` may be registered: https (http only with DEBUG or to an allowed private address),
    resolving to addresses the guard allows."""
    scheme, _host, _port, address = resolve(url)
    if scheme == "https" or settings.DEBUG:
        return
    if settings.AT_EVENTS_ALLOW_PRIVATE and _forbidden(ipaddress.ip_address(address.split("%", 1)[0])):
        return  # a private receiver on an allowed network, e.g. a service next to us
    raise Refused("the URL must use https:// (http:// only with DEBUG or to an allowed private address)")
