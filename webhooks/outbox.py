"""Writing events: in the effect's own transaction, one INSERT at most, none when no endpoint wants the type.

Which types some enabled endpoint wants is kept in each process for a few
seconds (`WANTED_TTL`) and forgotten as soon as this process changes an
endpoint; another process sees a new endpoint within those seconds.

After writing, the dispatcher is woken (`kick`): at most once per second and
process, a task due a second later, which fans out every event written
meanwhile. `maintain`'s sweep dispatches whatever a lost wake-up left behind.
"""

import logging
import threading
import time
import uuid
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from hub import queue

from . import delivery
from .models import Event, EventType
from .wanted import forget_wanted_types, wanted_types, wants

__all__ = ["emit", "emit_many", "emit_matching", "forget_wanted_types", "insert_after", "kick", "wanted_types", "wants"]

logger = logging.getLogger("atproject.webhooks")

#: Seconds between the first event and the dispatch task that fans it out (events of that second go together).
DISPATCH_DELAY = 1.0

_lock = threading.Lock()
_last_kick = 0.0


def _label(obj) -> str:
    return obj._meta.label_lower


def emit(type_: str, obj) -> Event | None:
    """Write the event `type_` about `obj` (a model instance) when some endpoint wants it; None otherwise."""
    return (emit_many(type_, [obj]) or [None])[0]


def emit_many(type_: str, objects) -> list[Event]:
    """Write one event of `type_` per object, in one INSERT; nothing when no endpoint wants `type_`."""
    assert type_ in EventType.values, type_
    if not objects or not wants(type_):
        return []
    now = timezone.now()
    events = [Event(type=type_, object_label=_label(o), object_id=o.pk, created_at=now) for o in objects]
    Event.objects.bulk_create(events)
    kick()
    return events


def emit_matching(type_: str, model, column: str, value) -> None:
    """The event `type_` about the row of `model` whose `column` is `value` (the first, if several), in one
    INSERT ... SELECT: nothing is read first. Nothing when no endpoint wants `type_`."""
    assert type_ in EventType.values, type_
    if not wants(type_):
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in ("id", "type", "object_label", "object_id", "created_at"))
    pk = quote(model._meta.pk.column)
    sql = (
        f"INSERT INTO {quote(Event._meta.db_table)} ({columns}) "  # noqa: S608 - quoted names, values are parameters
        f"SELECT %s, %s, %s, {pk}, %s FROM {quote(model._meta.db_table)} WHERE {quote(column)} = %s "
        f"ORDER BY {pk} LIMIT 1"
    )
    event_id = Event._meta.pk.get_db_prep_value(uuid.uuid4(), connection)
    created_at = Event._meta.get_field("created_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_id, type_, model._meta.label_lower, created_at, value])
    kick()


def kick() -> None:
    """Wake the dispatcher (at most once per DISPATCH_DELAY and process)."""
    global _last_kick
    now = time.monotonic()
    with _lock:
        if now - _last_kick < DISPATCH_DELAY:
            return
        _last_kick = now
    try:
        queue.enqueue(delivery.dispatch_task, after=timezone.now() + timedelta(seconds=DISPATCH_DELAY))
    except Exception:  # the event is stored: the sweep dispatches it
        logger.exception("Could not enqueue the webhook dispatcher; `maintain` dispatches the events later")


def reset_kick() -> None:
    """Forget the last wake-up (tests, and after a fork)."""
    global _last_kick
    _last_kick = 0.0


def insert_after(statement: str, model, type_: str) -> tuple[str, list]:
    """SQL to append to a data-modifying statement run inside a callback's one INSERT (`InsertEffect.sql`),
    writing the event `type_` for every row of `model` it changed, in that same statement.

    `statement` must be an UPDATE of `model`'s table; it gains `RETURNING id`, and
    a sibling CTE inserts one event per returned row. The returned text closes
    the effect's CTE and opens `webhook_event`; the INSERT's wrapper closes it.
    """
    quote = connection.ops.quote_name
    table = quote(Event._meta.db_table)
    columns = ", ".join(quote(c) for c in ("id", "type", "object_label", "object_id", "created_at"))
    sql = (
        f"{statement} RETURNING {quote(model._meta.pk.column)} AS changed_id), "  # noqa: S608 - quoted names
        f"webhook_event AS (INSERT INTO {table} ({columns}) "
        f"SELECT gen_random_uuid(), %s, %s, changed_id, %s FROM effect"
    )
    kick()
    return sql, [type_, model._meta.label_lower, timezone.now()]
