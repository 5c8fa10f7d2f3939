"""Validation of an endpoint's URL and event types, shared by the admin and the API."""

from django.core.exceptions import ValidationError

from . import guard
from .models import EventType


def clean_url(url: str) -> str:
    url = (url or "").strip()
    try:
        guard.check_registration(url)
    except guard.Refused as exc:
        raise ValidationError(str(exc), code="refused") from exc
    return url


def clean_events(events) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationError("name at least one event type, as a list", code="required")
    unknown = [e for e in events if e not in EventType.values]
    if unknown:
        raise ValidationError(
            f"unknown event type {unknown[0]!r}; the types are: {', '.join(EventType.values)}", code="invalid"
        )
    return list(dict.fromkeys(events))
