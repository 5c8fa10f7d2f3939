"""Event webhooks. Products call `webhooks.emit(type, obj)` (or `emit_many`) where the effect happens, in its
transaction: one INSERT into the outbox when some endpoint wants the type, nothing otherwise."""


def emit(type_: str, obj):
    """Write the event `type_` (e.g. "sms.received") about the model instance `obj`, when some endpoint wants it."""
    from .outbox import emit as write

    return write(type_, obj)


def emit_many(type_: str, objects) -> list:
    """One event of `type_` per object, in one INSERT (nothing when no endpoint wants the type)."""
    from .outbox import emit_many as write

    return write(type_, objects)


def wants(type_: str) -> bool:
    """Whether some enabled endpoint wants events of `type_` (cached for a few seconds per process)."""
    from .outbox import wants as wanted

    return wanted(type_)


def insert_after(statement: str, model, type_: str) -> tuple[str, list]:
    """SQL (and its parameters) writing the event `type_` for each row of `model` the UPDATE `statement` changes,
    within a callback's one INSERT statement (`InsertEffect.sql`, PostgreSQL). See `outbox.insert_after`."""
    from .outbox import insert_after as sql

    return sql(statement, model, type_)


def emit_matching(type_: str, model, column: str, value) -> None:
    """The event `type_` about the row of `model` whose `column` is `value`, written by one INSERT ... SELECT."""
    from .outbox import emit_matching as write

    write(type_, model, column, value)
