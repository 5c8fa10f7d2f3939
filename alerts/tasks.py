"""The alerts' background task: tell one channel about an incident, and try again later when it fails.

`notify_on_commit(incident, event)` enqueues one task per channel once the
transaction that opened or resolved the incident commits (a rolled-back
incident tells nobody). A failed try is recorded and the task enqueued again
with `run_after` a backoff later (notify.retry_delay: 4, 8, 16, 32 minutes),
until notify.MAX_ATTEMPTS tries.
"""

import functools

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from hub import queue

from . import notify
from .models import Incident


@task()
def send_notification(incident_id: int, event: str, channel: str, index: int, attempt: int = 1) -> str:
    """Try once to tell `channel` (the `index`-th webhook, or the e-mail list) of `event` on an incident."""
    incident = Incident.objects.select_related("rule").filter(pk=incident_id).first()
    if incident is None:
        return "the incident no longer exists"
    tried = notify.deliver(incident, event, channel, index, attempt)
    if tried.success:
        return "sent"
    if attempt >= notify.MAX_ATTEMPTS:
        return f"gave up after {attempt} tries"
    run_after = timezone.now() + notify.retry_delay(attempt)
    with transaction.atomic():
        type(tried).objects.filter(pk=tried.pk).update(next_attempt_at=run_after)
        _enqueue(send_notification, incident_id, event, channel, index, attempt + 1, after=run_after)
    return f"failed; try {attempt + 1} at {run_after.isoformat()}"


def notify_on_commit(incident: Incident, event: str) -> None:
    """Once the current transaction commits, enqueue a notification of `event` for every channel."""
    for channel, index in notify.targets():
        transaction.on_commit(functools.partial(_enqueue, send_notification, incident.pk, event, channel, index))


def _enqueue(task, *args, after=None) -> None:
    """Through the queue's one module (hub.queue: the database or Redis)."""
    queue.enqueue(task, *args, after=after)
