"""An event's `data`: the object as the read API shows it (opt-outs and subscriptions, which it does not
list, in the same style)."""

from collections import defaultdict
from datetime import UTC

from django.apps import apps


def _time(value):
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _opt_out(obj) -> dict:
    return {
        "object": "sms.opt_out",
        "id": obj.pk,
        "phone": obj.phone,
        "sender_id": obj.sender_id,
        "opted_out": obj.active,
        "opted_out_at": _time(obj.opted_out_at),
        "lifted_at": _time(obj.lifted_at),
    }


def _subscription(obj) -> dict:
    return {
        "object": "sms.subscription",
        "id": obj.pk,
        "phone": obj.phone,
        "short_code": obj.short_code,
        "keyword": obj.keyword,
        "subscribed": obj.active,
        "subscribed_at": _time(obj.subscribed_at),
        "unsubscribed_at": _time(obj.unsubscribed_at),
    }


OWN = {"sms.optout": _opt_out, "sms.subscription": _subscription}


def render_many(pairs) -> dict:
    """{(object_label, object_id): data} for many objects: one query per model (and per prefetched child)."""
    from api.serializers import PREFETCH, represent

    wanted = defaultdict(set)
    for label, pk in pairs:
        wanted[label].add(pk)
    found = {}
    for label, pks in wanted.items():
        model = apps.get_model(label)
        objects = model._default_manager.filter(pk__in=pks)
        if model in PREFETCH:
            objects = objects.prefetch_related(*PREFETCH[model])
        own = OWN.get(label)
        for obj in objects:
            found[(label, obj.pk)] = own(obj) if own else represent(obj)
        for pk in pks - {pk for _label, pk in found if _label == label}:
            found[(label, pk)] = {"id": pk, "deleted": True}
    return found
