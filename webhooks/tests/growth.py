"""Rows of every webhooks model, for the admin's N-vs-2N query tests (`grow_webhooks(start, count)`): new
endpoints, events and deliveries in each list, and new attempts under the first delivery."""

from django.utils import timezone


def grow_webhooks(start: int, count: int) -> None:
    from webhooks.models import Attempt, Delivery, Endpoint, Event

    now = timezone.now()
    for i in range(start, start + count):
        endpoint = Endpoint.objects.create(url=f"https://93.184.215.14/hook/{i}", events=["sms.sent"])
        event = Event.objects.create(type="sms.sent", object_label="sms.outboundmessage", object_id=i, created_at=now)
        Delivery.objects.create(endpoint=endpoint, event=event, tries=1, last_error="HTTP 500")
        first = Delivery.objects.order_by("pk").first()
        Attempt.objects.create(delivery=first, at=now, status_code=500, error="HTTP 500", response_excerpt="no")
