"""`maintain`'s webhook sweep: what a lost wake-up or a dead worker left behind, and endpoints failing a day."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from hub.maintenance import periodic

from . import delivery
from .models import Attempt, Delivery, DeliveryStatus, Endpoint, Event

#: Events older than this and still not dispatched are dispatched by the sweep.
DISPATCH_GRACE = timedelta(seconds=10)
#: Deliveries due this long ago with no delivery task due for their endpoint are woken by the sweep.
OVERDUE = timedelta(seconds=30)
#: Events (with their deliveries and attempts) are kept this long once none of their deliveries waits.
KEEP_EVENTS = timedelta(days=30)


@periodic(timedelta(minutes=1), name="webhooks.sweep")
def sweep() -> dict:
    now = timezone.now()
    dispatched = delivery.dispatch(older_than=DISPATCH_GRACE)
    # Endpoints with deliveries overdue (a lease ended, a task lost) and no delivery task due soon.
    overdue = (
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=now - OVERDUE)
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    woken = 0
    for endpoint in Endpoint.objects.filter(pk__in=list(overdue), enabled=True).filter(
        Q(wake_at__isnull=True) | Q(wake_at__lt=now - delivery.STALE_WAKE)
    ):
        delivery.wake(endpoint.pk, now)
        woken += 1
    disabled = 0
    for endpoint in Endpoint.objects.filter(enabled=True, failing_since__lt=now - delivery.DISABLE_AFTER):
        delivery.disable(endpoint, f"every attempt failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC")
        disabled += 1
    return {"dispatched": dispatched, "woken": woken, "disabled": disabled}


@periodic(timedelta(hours=1), name="webhooks.prune")
def prune() -> int:
    """Delete events older than KEEP_EVENTS that no delivery waits for (their deliveries and attempts go too)."""
    old = Event.objects.filter(created_at__lt=timezone.now() - KEEP_EVENTS).exclude(
        deliveries__status=DeliveryStatus.PENDING
    )
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:1000]):
        Attempt.objects.filter(delivery__event_id__in=ids).delete()
        Delivery.objects.filter(event_id__in=ids).delete()
        deleted += Event.objects.filter(pk__in=ids).delete()[0]
    return deleted
