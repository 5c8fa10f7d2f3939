"""An event's `data`: the object as the read API shows it (opt-outs and subscriptions, which it does not
list, in the same style)."""

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


def render(object_label: str, object_id: int) -> dict:
    """The object's representation now; `{"id": ..., "deleted": true}` when it no longer exists."""
    from api.serializers import represent

    model = apps.get_model(object_label)
    obj = model._default_manager.filter(pk=object_id).first()
    if obj is None:
        return {"id": object_id, "deleted": True}
    own = OWN.get(object_label)
    return own(obj) if own else represent(obj)
