"""Delivering events: the dispatcher's fan-out, one attempt at a time, the retry schedule, replays.

Each attempt claims its delivery first (its next attempt moved a lease ahead),
so that two workers never send one delivery at once and a worker that dies
mid-way leaves the delivery due again once the lease ends: delivery is
at-least-once, and `webhook-id` (the event's id, the same on every attempt)
lets receivers deduplicate.
"""

import json
import logging
import random
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone
from django_tasks import task

from hub import queue

from . import guard, signing
from .data import render_many
from .models import Attempt, Delivery, DeliveryStatus, Endpoint, Event
from .wanted import forget_wanted_types

logger = logging.getLogger("atproject.webhooks")

#: Waits after each failed attempt, in seconds (±20 % jitter): the first retries within a minute, the last
#: about a day after the event (12 attempts over ~24 h), then the delivery is given up.
RETRY_DELAYS = [5, 30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800, 28800]
JITTER = 0.2
#: An endpoint failing this long (no success in between) is disabled.
DISABLE_AFTER = timedelta(days=1)
#: Bytes of a response body kept on an attempt.
EXCERPT_BYTES = 1024
#: How far ahead `attempt` moves a single delivery while it runs (a worker that dies frees it after this).
LEASE = timedelta(minutes=1)
#: Deliveries claimed at once by a delivery task.
BATCH = 20
#: A scheduled delivery task not started this long after it was due is taken for lost.
STALE_WAKE = timedelta(minutes=5)


def retry_delay(tries: int) -> float | None:
    """Seconds to wait after the `tries`-th failed attempt of a round; None: give up."""
    if tries > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[tries - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter, not a secret


# --- Fan-out and scheduling -------------------------------------------------------------------------------------


def dispatch(limit: int = 1000, older_than: timedelta | None = None) -> int:
    """Fan out events not dispatched yet into one delivery per enabled endpoint wanting them; returns how many
    events. Wakes each endpoint that got deliveries."""
    total = 0
    while True:
        woken = set()
        with transaction.atomic():
            pending = Event.objects.filter(dispatched_at__isnull=True)
            if older_than is not None:
                pending = pending.filter(created_at__lt=timezone.now() - older_than)
            events = list(pending.select_for_update(skip_locked=True).order_by("created_at").only("id", "type")[:limit])
            if not events:
                return total
            endpoints = list(Endpoint.objects.filter(enabled=True).only("id", "events"))
            now = timezone.now()
            rows = []
            for event in events:
                for endpoint in endpoints:
                    if event.type in (endpoint.events or ()):
                        rows.append(Delivery(endpoint_id=endpoint.pk, event_id=event.pk, next_attempt_at=now))
                        woken.add(endpoint.pk)
            Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
            Event.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=now)
            for endpoint_id in woken:
                wake(endpoint_id, now)
        total += len(events)
        if len(events) < limit:
            return total


def wake(endpoint_id: int, at) -> None:
    """Make sure a delivery task for the endpoint runs at `at` (one is enqueued unless one is due earlier)."""
    now = timezone.now()
    changed = (
        Endpoint.objects.filter(pk=endpoint_id)
        .filter(Q(wake_at__isnull=True) | Q(wake_at__gt=at) | Q(wake_at__lt=now - STALE_WAKE))
        .update(wake_at=at)
    )
    if changed:
        queue.enqueue(deliver_task, endpoint_id, after=at if at > now else None)


def deliver_due(endpoint_id: int) -> int:
    """Send every due delivery of the endpoint (oldest event first), a batch at a time; then wake it for its
    next retry. Returns how many attempts were made."""
    Endpoint.objects.filter(pk=endpoint_id).update(wake_at=None)
    made = 0
    while True:
        endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
        if endpoint is None:
            return made
        batch = _claim(endpoint)
        if not batch:
            break
        made += _send_batch(endpoint, batch)
    following = Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).aggregate(
        at=Min("next_attempt_at")
    )["at"]
    if following is not None:
        wake(endpoint_id, following)
    return made


def lease() -> timedelta:
    """How long a claimed batch is kept from other workers: long enough to try every delivery in it
    (a worker that dies mid-batch leaves it to be taken again after this)."""
    per_try = settings.AT_EVENTS_CONNECT_TIMEOUT + settings.AT_EVENTS_READ_TIMEOUT
    return timedelta(seconds=BATCH * per_try + 10)


def _claim(endpoint: Endpoint) -> list[Delivery]:
    """Take the endpoint's next due deliveries (oldest event first), each by one worker only."""
    now = timezone.now()
    due = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True).order_by("event__created_at", "pk").values_list("pk", flat=True)[
                :BATCH
            ]
        )
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now + lease(), claimed_at=now)
    batch = list(Delivery.objects.filter(pk__in=ids).select_related("event").order_by("event__created_at", "pk"))
    _render([d.event for d in batch])
    return batch


def _render(events: list[Event]) -> None:
    """Take the data of events sent for the first time (kept: every attempt sends the same body)."""
    missing = [e for e in events if e.data is None]
    if not missing:
        return
    found = render_many((e.object_label, e.object_id) for e in missing)
    for event in missing:
        event.data = found[(event.object_label, event.object_id)]
        Event.objects.filter(pk=event.pk, data__isnull=True).update(data=event.data)


def _send_batch(endpoint: Endpoint, batch: list[Delivery]) -> int:
    """Try each claimed delivery once. After a failure to connect the rest of the batch waits for the same
    retry, untried: an unreachable receiver is not called once per event."""
    if not endpoint.enabled:
        Delivery.objects.filter(pk__in=[d.pk for d in batch]).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, claimed_at=None, last_error="endpoint disabled"
        )
        return 0
    attempts, delivered, made = [], [], 0
    unreachable_until = None
    for index, item in enumerate(batch):
        attempt, reached = _attempt(endpoint, item)
        attempts.append(attempt)
        made += 1
        if attempt.ok:
            delivered.append(item.pk)
            continue
        retry_at = _failed(item, attempt.error)
        if not reached:
            unreachable_until = retry_at
            untried = [d.pk for d in batch[index + 1 :]]
            break
    else:
        untried = []
    Attempt.objects.bulk_create(attempts)
    now = timezone.now()
    if untried:
        Delivery.objects.filter(pk__in=untried).update(next_attempt_at=unreachable_until or now, claimed_at=None)
    if delivered:
        Delivery.objects.filter(pk__in=delivered).update(
            status=DeliveryStatus.DELIVERED, tries=F("tries") + 1, last_attempt_at=now, delivered_at=now,
            next_attempt_at=None, last_error="", claimed_at=None,
        )
        if endpoint.failing_since is not None:
            _back(endpoint, now)
    elif attempts:
        _failing(endpoint, now, attempts[-1].error)
    return made


def attempt(delivery_id: int) -> int:
    """Try one delivery once, if it is still due (claimed first); 1 when a request was made (or refused)."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, claimed_at=now)
    if not claimed:
        return 0
    item = Delivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    _render([item.event])
    return _send_batch(item.endpoint, [item])


# --- One attempt ------------------------------------------------------------------------------------------------


def body_of(event: Event) -> bytes:
    """The delivery's body, the same on every attempt (the data taken when the event was first sent)."""
    document = {"id": str(event.pk), "type": event.type, "timestamp": event.created_at, "data": event.data}
    # Keys sorted: the data comes back from a jsonb column in its own order, and the body must not change.
    return json.dumps(
        document, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False, sort_keys=True
    ).encode()


_pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()


def _pool(scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
    """A connection pool to the checked address (TLS still verified against the host's name)."""
    key = (scheme, address, port, host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            if len(_pools) > 100:
                _pools.clear()
            timeout = urllib3.Timeout(connect=settings.AT_EVENTS_CONNECT_TIMEOUT, read=settings.AT_EVENTS_READ_TIMEOUT)
            if scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    address, port, timeout=timeout, retries=False, maxsize=4, server_hostname=host,
                    assert_hostname=host,
                )
            else:
                pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=4)
            _pools[key] = pool
        return pool


def _post(url: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    """POST to the URL at the address the guard checked; no redirect followed. (status, excerpt of the body)."""
    scheme, host, port, address = guard.resolve(url)
    split = urlsplit(url)
    target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    default_port = 443 if scheme == "https" else 80
    named = f"[{host}]" if ":" in host else host  # an IPv6 address
    headers = {
        **headers,
        "Host": named if port == default_port else f"{named}:{port}",
        "Content-Type": "application/json",
        "User-Agent": "atproject-webhooks",
    }
    response = _pool(scheme, address, port, host).urlopen(
        "POST", target, body=body, headers=headers, redirect=False, retries=False, preload_content=False,
        assert_same_host=False,
    )
    try:
        excerpt = response.read(EXCERPT_BYTES + 1)
    except BaseException:
        response.close()
        raise
    if len(excerpt) > EXCERPT_BYTES:
        response.close()  # the rest is not read: this connection is not reused
    else:
        response.release_conn()
    return response.status, excerpt[:EXCERPT_BYTES]


def _describe(exc: Exception) -> str:
    if isinstance(exc, guard.Refused):
        return f"refused: {exc}"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # before its base class, ConnectTimeoutError
        return "connection refused or unreachable"
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "connect timeout"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return "read timeout"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS error"
    return type(exc).__name__


def _attempt(endpoint: Endpoint, item: Delivery) -> tuple[Attempt, bool]:
    """One request (not saved yet), and whether the receiver was reached at all."""
    event = item.event
    body = body_of(event)
    sent_at = timezone.now()
    started = time.monotonic()
    status, excerpt, error, reached = None, b"", "", True
    try:
        signed = signing.headers(endpoint.signing_secrets(sent_at), str(event.pk), int(sent_at.timestamp()), body)
        status, excerpt = _post(endpoint.url, body, signed)
    except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError, guard.Refused) as exc:
        error, reached = _describe(exc), False
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = _describe(exc)
    ok = status is not None and 200 <= status < 300
    if status is not None and not ok:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    attempt = Attempt(
        delivery_id=item.pk, at=sent_at, status_code=status, ok=ok,
        duration_ms=int((time.monotonic() - started) * 1000), error=error,
        response_excerpt=excerpt.decode("utf-8", "replace"),
    )
    return attempt, reached


def _failed(item: Delivery, error: str):
    """Record a failed try of `item`; returns when it is tried again (None: given up)."""
    now = timezone.now()
    tries = item.tries + 1
    delay = retry_delay(tries)
    fields = {"tries": tries, "last_attempt_at": now, "last_error": error[:300], "claimed_at": None}
    retry_at = None if delay is None else now + timedelta(seconds=delay)
    if retry_at is None:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        fields.update(next_attempt_at=retry_at)
    Delivery.objects.filter(pk=item.pk).update(**fields)
    return retry_at


def _back(endpoint: Endpoint, now) -> None:
    """The receiver answers again: what waits for a retry goes now, not at its backoff's end."""
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
    Delivery.objects.filter(
        endpoint_id=endpoint.pk, status=DeliveryStatus.PENDING, next_attempt_at__gt=now, claimed_at__isnull=True
    ).update(next_attempt_at=now)
    logger.info("Webhook endpoint #%s answers again; its waiting deliveries are sent now", endpoint.pk)


def _failing(endpoint: Endpoint, now, error: str) -> None:
    Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    since = endpoint.failing_since or now
    if now - since >= DISABLE_AFTER:
        disable(endpoint, f"every attempt failed since {since:%Y-%m-%d %H:%M} UTC (last: {error})"[:300])


def disable(endpoint: Endpoint, reason: str) -> None:
    """Disable a failing endpoint: its waiting deliveries are given up (a replay sends them once it is back)."""
    now = timezone.now()
    changed = Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_at=now, disabled_reason=reason, wake_at=None
    )
    if not changed:
        return
    Delivery.objects.filter(endpoint_id=endpoint.pk, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, claimed_at=None, last_error="endpoint disabled"
    )
    forget_wanted_types()
    logger.error(
        "Webhook endpoint #%s (host %s) disabled: %s. Fix the receiver, enable the endpoint again in the admin "
        "and replay its failed events.",
        endpoint.pk, urlsplit(endpoint.url).hostname, reason,
    )


# --- Replay -----------------------------------------------------------------------------------------------------


def _restart(deliveries) -> int:
    now = timezone.now()
    endpoints = set(deliveries.values_list("endpoint_id", flat=True).distinct())
    count = deliveries.update(
        status=DeliveryStatus.PENDING, tries=0, next_attempt_at=now, delivered_at=None, claimed_at=None
    )
    for endpoint_id in endpoints:
        wake(endpoint_id, now)
    return count


@transaction.atomic
def replay_event(event: Event) -> int:
    """Send one event again to every enabled endpoint that has it or wants its type; returns how many."""
    now = timezone.now()
    if event.dispatched_at is not None:
        known = set(event.deliveries.values_list("endpoint_id", flat=True))
        new = [
            Delivery(endpoint_id=e.pk, event_id=event.pk, next_attempt_at=now)
            for e in Endpoint.objects.filter(enabled=True)
            if event.type in (e.events or ()) and e.pk not in known
        ]
        Delivery.objects.bulk_create(new, ignore_conflicts=True)
    return _restart(Delivery.objects.filter(event=event, endpoint__enabled=True))


@transaction.atomic
def replay_failed(endpoint: Endpoint, since) -> int:
    """Send again every event of `since` or later that the endpoint has not acknowledged; returns how many."""
    waiting = Delivery.objects.filter(endpoint=endpoint, event__created_at__gte=since).exclude(
        status=DeliveryStatus.DELIVERED
    )
    return _restart(waiting)


# --- Tasks (run by `python manage.py worker`) -------------------------------------------------------------------


@task()
def dispatch_task() -> None:
    """Fan the events written since the last run out into deliveries, and wake their endpoints."""
    dispatch()


@task()
def deliver_task(endpoint_id: int) -> None:
    """Send the endpoint's due deliveries, oldest first; then schedule its next retry."""
    deliver_due(endpoint_id)
