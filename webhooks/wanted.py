"""Which event types some enabled endpoint wants: kept in each process for WANTED_TTL seconds, forgotten as soon
as this process changes an endpoint (another process sees the change within those seconds)."""

import time

from .models import Endpoint

#: Seconds a process trusts its list of wanted event types.
WANTED_TTL = 5.0

_wanted: tuple[float, frozenset] = (0.0, frozenset())


def forget_wanted_types(**kwargs) -> None:
    global _wanted
    _wanted = (0.0, frozenset())


def wanted_types() -> frozenset:
    """The event types at least one enabled endpoint wants (one query per process every WANTED_TTL seconds)."""
    global _wanted
    read_at, types = _wanted
    if time.monotonic() - read_at < WANTED_TTL:
        return types
    found = set()
    for events in Endpoint.objects.filter(enabled=True).values_list("events", flat=True):
        found.update(events or ())
    types = frozenset(found)
    _wanted = (time.monotonic(), types)
    return types


def wants(type_: str) -> bool:
    return type_ in wanted_types()
