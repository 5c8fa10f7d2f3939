"""Periodic jobs: reap what dead workers left behind, prune old rows, note that workers are alive.

`python manage.py maintain` runs them all once (from cron), or every N seconds
with `--every N` (the local run command starts it so).
"""

import logging
import time
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from atproject.callbacks.models import CallbackEvent
from atproject.models import RateCounter
from atproject.outbound import OutboundRequest, OutboundStatus

logger = logging.getLogger("atproject.maintenance")

WORKER_SEEN_KEY = "atproject:worker-seen"


class WorkerLost(Exception):
    """Recorded on a task that was running when its worker died."""


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
    counts = {"tasks": 0}
    for task in DBTaskResult.objects.filter(status="RUNNING", started_at__lt=cutoff):
        task.set_failed(WorkerLost(f"the worker running this task stopped (running since {task.started_at})"))
        counts["tasks"] += 1
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
    deleted, _ = DBTaskResult.objects.filter(status__in=["SUCCESSFUL", "FAILED"], finished_at__lt=cutoff).delete()
    if deleted:
        counts["tasks"] = deleted
    # Throttle windows are minutes or hours long: a day-old counter counts nothing any more.
    deleted, _ = RateCounter.objects.filter(window__lt=time.time() - 86400).delete()
    if deleted:
        counts["rate counters"] = deleted
    return counts


def note_worker_seen() -> None:
    cache.set(WORKER_SEEN_KEY, timezone.now().isoformat(), timeout=None)


def queue_health() -> dict:
    """What /healthz reports of the task queue and the workers."""
    now = timezone.now()
    waiting = DBTaskResult.objects.ready()
    oldest = waiting.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
    seen = cache.get(WORKER_SEEN_KEY)
    seen_seconds = None if seen is None else round((now - timezone.datetime.fromisoformat(seen)).total_seconds())
    return {
        "waiting": waiting.count(),
        "oldest_waiting_seconds": None if oldest is None else round((now - oldest).total_seconds()),
        "worker_seen_seconds_ago": seen_seconds,
        "worker_recent": seen_seconds is not None and seen_seconds <= settings.AT_WORKER_STALE_SECONDS,
    }
