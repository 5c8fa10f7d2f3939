"""Periodic jobs: reap what dead workers left behind, sweep up rows the queue lost, prune old rows, note that
workers are alive.

`python manage.py maintain` runs them all once (from cron), or every N seconds
with `--every N` (the local run command starts it so).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone

from hub import queue
from hub.callbacks.models import CallbackEvent
from hub.models import BalanceSnapshot, RateCounter, SendFailure
from hub.outbound import OutboundRequest, OutboundStatus

logger = logging.getLogger("hub.maintenance")

# The queue's own, kept here for the callers of old.
WORKER_SEEN_KEY = queue.WORKER_SEEN_KEY
WorkerLost = queue.WorkerLost
note_worker_seen = queue.note_worker_seen


@dataclass
class PeriodicJob:
    name: str
    function: Callable[[], object]
    every: timedelta


_jobs: dict[str, PeriodicJob] = {}


def periodic(every: timedelta, *, name: str | None = None):
    """Register a job that `maintain` runs at most once per `every` (apps register theirs in `ready()`).

    When it last ran is kept in the shared cache, so that cron's one-pass
    `maintain` and a long-running `maintain --every N` keep the same pace.
    """

    def register(function):
        job = PeriodicJob(name or f"{function.__module__}.{function.__qualname__}", function, every)
        _jobs[job.name] = job
        return function

    return register


def run_due_jobs(now=None) -> dict[str, object]:
    """Run every registered job whose time has come; returns what each that ran returned."""
    now = now or timezone.now()
    ran = {}
    for job in _jobs.values():
        key = f"atproject:periodic:{job.name}"
        last = cache.get(key)
        if last is not None and now - datetime.fromisoformat(last) < job.every:
            continue
        try:
            ran[job.name] = job.function()
        except DatabaseError:
            raise  # the database is down: maintain reports it and tries again next pass
        except Exception:
            logger.exception("Periodic job %s failed", job.name)
            ran[job.name] = "failed"
        cache.set(key, now.isoformat(), timeout=None)
    return ran


@periodic(timedelta(minutes=10))
def refresh_balance() -> BalanceSnapshot:
    """Ask AT for the account's balance (the console and alerts read the latest snapshot)."""
    from hub import gateway
    from hub.callbacks.payload import parse_money

    now = timezone.now()
    try:
        answer = gateway.application_data()
    except gateway.ATError as exc:
        return BalanceSnapshot.objects.create(fetched_at=now, error=str(exc)[:255])
    data = answer if isinstance(answer, dict) else {}
    user = data.get("UserData") or data.get("userData") or {}
    try:
        amount, currency = parse_money(user.get("balance") or "")
    except ValueError:
        return BalanceSnapshot.objects.create(fetched_at=now, error=f"unreadable balance: {str(answer)[:200]}")
    snapshot = BalanceSnapshot.objects.create(fetched_at=now, amount=amount, currency=currency)
    BalanceSnapshot.objects.filter(fetched_at__lt=now - timedelta(days=35)).delete()
    return snapshot


def outbound_models():
    return [m for m in apps.get_models() if issubclass(m, OutboundRequest)]


def event_models():
    return [m for m in apps.get_models() if issubclass(m, CallbackEvent)]


def reap(stale_after: timedelta | None = None) -> dict[str, int]:
    """Tasks left running by a dead worker → failed; their rows stuck in `sending` → `unknown`.

    A row is `sending` while its request is with AT, so a worker that died then
    may have had it delivered: it is never queued again (airtime included: AT
    delivered it, and would then refuse the repeat). Each model then settles
    what it can from callbacks that came first (`after_unknown`: airtime's
    status by phone, amount and currency); the rest is for staff.
    """
    if stale_after is None:
        stale_after = timedelta(seconds=settings.AT_REAP_AFTER_SECONDS)
    cutoff = timezone.now() - stale_after
    counts = {"tasks": queue.reap_dead_tasks(cutoff)}
    for model in outbound_models():
        stuck = list(
            model.objects.filter(status=OutboundStatus.SENDING, updated_at__lt=cutoff).values_list("pk", flat=True)
        )
        if not stuck:
            continue
        with transaction.atomic():
            model.advance(
                model.objects.filter(pk__in=stuck, status=OutboundStatus.SENDING, updated_at__lt=cutoff),
                OutboundStatus.UNKNOWN,
                failure_reason="the worker stopped while sending: it may have been sent",
            )
            model.after_unknown(stuck)
        counts[model._meta.label] = len(stuck)
        logger.warning("%s: %d stuck while sending, now unknown", model._meta.label, len(stuck))
    return counts


def prune(days: int | None = None) -> dict[str, int]:
    """Delete callback events and finished task results older than the retention period."""
    days = settings.AT_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    counts = {}
    for model in event_models():
        deleted, _ = model.objects.filter(received_at__lt=cutoff).delete()
        if deleted:
            counts[model._meta.label] = deleted
    deleted = queue.prune_results(cutoff)
    if deleted:
        counts["tasks"] = deleted
    deleted, _ = SendFailure.objects.filter(at__lt=cutoff).delete()
    if deleted:
        counts["send failures"] = deleted
    # Throttle windows are minutes or hours long: a day-old counter counts nothing any more.
    deleted, _ = RateCounter.objects.filter(window__lt=time.time() - 86400).delete()
    if deleted:
        counts["rate counters"] = deleted
    return counts


def sweep(grace: timedelta | None = None) -> dict[str, int]:
    """Rows left `queued` with no task for them (a publish Redis missed, a task the queue lost or gave up on)
    are enqueued again, once they are `grace` (AT_SWEEP_AFTER_SECONDS) past due: their retry's time, or when
    they were created. Rows some task waiting or running carries are left to it. Enqueueing a row twice is
    harmless: each row is claimed once (`OutboundRequest.claim`)."""
    if grace is None:
        grace = timedelta(seconds=settings.AT_SWEEP_AFTER_SECONDS)
    counts = {}
    for model in outbound_models():
        overdue = list(model.overdue(grace).values_list("pk", flat=True))
        if not overdue:
            continue
        carried = queue.pending_ids(model.task())
        lost = [pk for pk in overdue if pk not in carried]
        if not lost:
            continue
        model.enqueue(lost)
        counts[model._meta.label] = len(lost)
        logger.warning("%s: %d queued with no task, enqueued again", model._meta.label, len(lost))
    return counts


def queue_health() -> dict:
    """What /healthz reports of the task queue and the workers (`queue.unavailable_errors()` when it is down)."""
    now = timezone.now()
    figures = queue.depth()
    oldest = figures.pop("oldest_waiting_at")
    seen = queue.worker_seen_at()
    seen_seconds = None if seen is None else round((now - seen).total_seconds())
    return {
        "backend": queue.backend_name(),
        "waiting": figures.pop("waiting"),
        "oldest_waiting_seconds": None if oldest is None else max(0, round((now - oldest).total_seconds())),
        **figures,
        "worker_seen_seconds_ago": seen_seconds,
        "worker_recent": seen_seconds is not None and seen_seconds <= settings.AT_WORKER_STALE_SECONDS,
    }
