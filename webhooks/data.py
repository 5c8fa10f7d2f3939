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


def _represent_all(model, objects: list) -> list[dict]:
    """The read API's representation of many objects of one model: one serializer for all of them (building
    one per object costs the most, by far)."""
    from api import serializers

    many = getattr(serializers, "represent_many", None)
    if many is not None:
        return many(objects)
    serializers.prefetch_children(objects)
    serializer = serializers.SERIALIZERS.get(model)
    if serializer is None:
        return [serializers.represent(obj) for obj in objects]
    return serializers._plain(serializer(objects, many=True).data)


def render_many(pairs) -> dict:
    """{(object_label, object_id): data} for many objects: one query per model (and per kind of child)."""
    wanted = defaultdict(set)
    for label, pk in pairs:
        wanted[label].add(pk)
    found = {}
    for label, pks in wanted.items():
        model = apps.get_model(label)
        objects = list(model._default_manager.filter(pk__in=pks))
        own = OWN.get(label)
        shown = [own(obj) for obj in objects] if own else _represent_all(model, objects)
        for obj, data in zip(objects, shown, strict=True):
            found[(label, obj.pk)] = data
        for pk in pks - {obj.pk for obj in objects}:
            found[(label, pk)] = {"id": pk, "deleted": True}
    return found
