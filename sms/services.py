"""SMS domain logic shared by callbacks, admin actions and tasks."""

from django.db import transaction
from django.utils import timezone

from .models import OptOut, OptOutEvent, Subscription, SubscriptionEvent, SubscriptionUpdate


def phone_key(phone_number: str, phone_e164: str) -> str:
    """The key a phone's state is kept under: E.164 when it has one, else as given."""
    return phone_e164 or phone_number


def record_opt_out(event: OptOutEvent) -> OptOut:
    """The subscriber opted out of `event.sender_id` (again, if staff had lifted it)."""
    opt_out, _created = OptOut.objects.update_or_create(
        phone=phone_key(event.phone_number, event.phone_e164),
        sender_id=event.sender_id,
        defaults={
            "active": True,
            "opted_out_at": event.received_at,
            "lifted_at": None,
            "lifted_by": None,
            "last_event": event,
        },
    )
    return opt_out


def is_opted_out(phone_e164: str, sender_id: str) -> bool:
    return OptOut.objects.filter(phone=phone_e164, sender_id=sender_id, active=True).exists()


@transaction.atomic
def lift_opt_outs(queryset, user) -> int:
    """Staff lift opt-outs (the subscriber asked to hear from us again); returns how many."""
    return queryset.filter(active=True).update(active=False, lifted_at=timezone.now(), lifted_by=user)


def record_subscription(event: SubscriptionEvent) -> Subscription | None:
    """Apply an addition or deletion; an unknown update type is kept on the event and changes nothing."""
    update = SubscriptionUpdate.from_at(event.update_type)
    if update is None:
        return None
    added = update == SubscriptionUpdate.ADDITION
    defaults = {"active": added, "last_event": event}
    defaults["subscribed_at" if added else "unsubscribed_at"] = event.received_at
    subscription, _created = Subscription.objects.update_or_create(
        phone=phone_key(event.phone_number, event.phone_e164),
        short_code=event.short_code,
        keyword=event.keyword,
        defaults=defaults,
    )
    return subscription
