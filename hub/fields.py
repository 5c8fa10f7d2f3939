"""Values made to fit their columns: text clipped by the model field's own `max_length`.

Hand-typed slices (`status[:32]` for a 40-character column) drift from the
models; everything written from AT's answers goes through `clipped` instead.
"""

from django.db import models


def clip(model, name: str, value):
    """`value` cut to the `max_length` of `model`'s field `name` (anything but text is returned as is)."""
    if not isinstance(value, str):
        return value
    field = model._meta.get_field(name)
    limit = getattr(field, "max_length", None) if isinstance(field, models.CharField) else None
    return value if limit is None or len(value) <= limit else value[:limit]


def clipped(model, values: dict) -> dict:
    """A copy of `values` (field names or attnames → values) with every text cut to its field's `max_length`."""
    return {name: clip(model, name, value) for name, value in values.items()}
