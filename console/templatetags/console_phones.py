"""Template tags of the subscriber timeline: the search box of lists with phone numbers, clock times, USSD inputs."""

from django import template
from django.utils import timezone
from django.utils.dateformat import format as format_date

from console import phones
from hub.phones import normalize_phone

register = template.Library()


@register.simple_tag
def phone_search_box(opts=None, cl=None):
    """What a changelist's "Subscriber history" box shows; None on lists whose rows carry no phone number.

    `{"initial": ...}` is the list's search when it is a phone number, so that one click shows its history.
    """
    model = getattr(opts, "model", None)
    if model is None or not phones.has_phone_numbers(model):
        return None
    query = str(getattr(cl, "query", "") or "")
    return {"initial": query if normalize_phone(query) else ""}


@register.filter
def clock(value):
    """A time of day in the operators' zone, with seconds: "10:15:03"."""
    if not value:
        return ""
    return format_date(timezone.localtime(value), "H:i:s")


@register.filter
def ussd_input(text):
    """What the subscriber typed on a hop: the last part of AT's path ("1*2" → "2"); "" on the first hop."""
    return (text or "").rsplit("*", 1)[-1]
