"""Template filters of the console: figures written for people (percentages, durations, local times)."""

from django import template
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.dateparse import parse_datetime

register = template.Library()


@register.filter
def get(mapping, key):
    """`mapping[key]` (for keys with dots, which template variables cannot name)."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


@register.filter
def percent(value):
    """0.9234 → "92.3 %"; None → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f} %"


@register.filter
def seconds(value):
    """A latency bucket's upper edge in seconds → "≤ 30 s", "≤ 2 min", "≤ 1 h"."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value + " s"
    if value < 120:
        return f"≤ {value} s"
    if value < 7200:
        return f"≤ {value // 60} min"
    return f"≤ {value // 3600} h"


@register.filter
def milliseconds(value):
    if value is None:
        return "—"
    return f"{value} ms" if isinstance(value, str) else f"≤ {value} ms"


@register.filter
def isotime(value):
    """An ISO 8601 time (as the figures carry them) in the operators' zone, with seconds and the zone."""
    if not value:
        return ""
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        return value
    return format_date(timezone.localtime(moment), "j M Y, H:i:s T")
