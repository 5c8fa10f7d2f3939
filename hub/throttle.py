"""A DRF throttle that cannot be raced: each request is counted by one atomic upsert in the database.

DRF's own throttles read a history list from the cache and write it back;
requests that arrive together all read the same history and all pass (132 of
200 concurrent requests got through a 60/min limit). Here each request adds one
to its window's counter with `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`,
which the database serialises, so exactly the allowed number pass. The windows
are fixed (60/min: each clock minute); old counters are pruned by `maintain`.
"""

import functools
import math
import time

from django.db import connections, router
from rest_framework.throttling import BaseThrottle

from .models import RateCounter

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "60/min" → (60, 60): requests allowed, seconds per window."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


@functools.cache
def _upsert_sql(vendor: str) -> str:
    quote = connections[router.db_for_write(RateCounter)].ops.quote_name
    table = quote(RateCounter._meta.db_table)
    key, window, hits = quote("key"), quote("window"), quote("hits")
    return (
        f"INSERT INTO {table} ({key}, {window}, {hits}) VALUES (%s, %s, 1) "  # noqa: S608 - quoted names from meta
        f"ON CONFLICT ({key}, {window}) DO UPDATE SET {hits} = {table}.{hits} + 1 RETURNING {hits}"
    )


def count_request(key: str, period: int, now: float | None = None) -> tuple[int, float]:
    """Count one request for `key` in the current window; returns (requests so far, seconds until the next window)."""
    now = time.time() if now is None else now
    window = math.floor(now / period) * period
    connection = connections[router.db_for_write(RateCounter)]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(connection.vendor), [key, window])
        hits = cursor.fetchone()[0]
    return hits, window + period - now


class AtomicRateThrottle(BaseThrottle):
    """Per authenticated user (else per client address); subclasses give `scope` and `get_rate()`."""

    scope = ""

    def get_rate(self) -> str:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        allowed, period = parse_rate(self.get_rate())
        who = f"user:{request.user.pk}" if request.user and request.user.is_authenticated else self.get_ident(request)
        hits, self._wait = count_request(f"{self.scope}:{who}", period)
        return hits <= allowed

    def wait(self) -> float:
        return self._wait
