"""Store first, then apply: the one transaction every callback goes through.

The row and its effect commit together. When the effect raises, that
transaction is rolled back and the row is stored again on its own, with state
`failed` and the error, for reprocessing. (A savepoint around the effect would
give the same result for two more round trips on every callback; effects rarely
fail, callbacks come by the hundred per second.) Repeats are counted on the
first row and never applied again. Database errors are left to the caller (the
view spools the callback and answers 503).
"""

import contextlib
import functools
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    models,
    router,
    transaction,
)
from django.db.models import F

from .models import Arrival, CallbackEvent, InsertEffect, ProcessingState
from .payload import CallbackError, ParsedBody, Payload, jsonable, mask_phones_in, mask_pii
from .registry import CallbackKind, kind_for

logger = logging.getLogger("hub.callbacks")


def describe_failure(exc: BaseException) -> str:
    """The error stored on a failed callback: phone numbers masked unless AT_LOG_PII (staff read it)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if settings.AT_LOG_PII else mask_phones_in(text)


@dataclass
class Outcome:
    event: CallbackEvent
    created: bool
    #: Why the payload was refused (answered 400), or "".
    error: str = ""


def ingest(
    kind: CallbackKind,
    parsed: ParsedBody,
    *,
    source_ip: str | None = None,
    arrival: Arrival | None = None,
    apply_effect: bool = True,
    answered: str | None = None,
) -> Outcome:
    """Store one delivery of a callback of `kind` and apply the kind's effect once.

    `arrival` says when it arrived (now, by default; a replayed callback keeps
    its original time). `apply_effect=False` stores it without its effect (a
    backfill of old inbound messages must not send auto-replies hours late). A
    replayed interactive callback passes the answer its caller got while the
    database was down (`answered`): the kind's answered effect then records
    that answer instead of computing a new one.
    """
    model = kind.model
    arrival = arrival or Arrival.now()
    now = arrival.at
    row = {
        "payload": jsonable(parsed.data),
        "raw_body": parsed.raw_text,
        "content_type": parsed.content_type,
        "source_ip": source_ip,
        "received_at": now,
        "last_received_at": now,
    }
    label = model._meta.label
    if logger.isEnabledFor(logging.INFO):
        logged = row["payload"] if settings.AT_LOG_PII else mask_pii(row["payload"])
        logger.info("%s callback: %s", label, json.dumps(logged, cls=DjangoJSONEncoder, ensure_ascii=False))
    try:
        if parsed.error:
            raise CallbackError(parsed.error)
        fields = model.fields_from_payload(Payload(parsed.data))
        key = model.dedupe_key_for(fields, row["payload"])
    except CallbackError as exc:
        logger.warning("%s callback refused: %s", label, exc)
        with transaction.atomic():
            event = model.objects.create(**row, state=ProcessingState.FAILED, error=str(exc))
        return Outcome(event, created=True, error=str(exc))

    values = {**row, **fields}
    if kind.insert_effect is not None and model.dedupe_window is None and apply_effect and answered is None:
        stored = _store_and_apply_at_once(kind, key, values, now)
        if stored is not None:
            return stored
    applying = None
    try:
        with transaction.atomic():
            event, created = _find_or_create(model, key, values, now)
            if created and apply_effect:
                applying = event
                kind.apply(event, arrival, answered=answered)
    except Exception as exc:
        if applying is None:  # storing failed, not the effect: the caller's problem (503 and spool)
            raise
        logger.exception("%s callback: effect failed; stored as failed", label)
        values.update(state=ProcessingState.FAILED, error=describe_failure(exc))
        with transaction.atomic():
            event, created = _find_or_create(model, key, values, now)
    return Outcome(event, created=created)


@dataclass
class InsertEffectReturning(InsertEffect):
    """An `InsertEffect` whose SQL also reads the new row's `returning` columns from `inserted`.

    Their values, as stored, are set on the row returned (`inserted` holds the id, then these).
    """

    returning: tuple[str, ...] = field(default_factory=tuple)


#: Fields whose database value is the Python value itself when it has the given type (or is None):
#: Django's preparation of them only checks that (a few microseconds per field, ~20 fields per callback).
#: On PostgreSQL, an aware datetime too.
_PASSED_AS_IS = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
}


def _read_as_stored(f) -> bool:
    """Whether `f.pre_save` only reads the attribute (no auto_now, no file to save)."""
    if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
        return False
    return type(f).pre_save in (models.Field.pre_save, models.DateField.pre_save, models.DateTimeField.pre_save)


@functools.cache
def _as_is_types(vendor: str) -> dict:
    """`_PASSED_AS_IS` on this database: on PostgreSQL, an aware datetime too."""
    return {**_PASSED_AS_IS, models.DateTimeField: datetime} if vendor == "postgresql" else _PASSED_AS_IS


@functools.cache
def _insert_target(model, vendor: str) -> tuple[list, str, str]:
    """The fields an INSERT of `model` sets (each with the type passed as is, or None, and whether its value is
    the attribute as it is), its `table (columns)` and its ON CONFLICT ... RETURNING tail."""
    quote = connections[router.db_for_write(model)].ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    key = quote("dedupe_key")
    target = f"{quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
    tail = f"ON CONFLICT ({key}) WHERE NOT ({key} = '') DO NOTHING RETURNING {quote(model._meta.pk.column)}"
    as_is = _as_is_types(vendor)
    return [(f, as_is.get(type(f)), _read_as_stored(f)) for f in fields], target, tail


def db_value(f, value, connection):
    """`value` as the database takes it for field `f`, Django's preparation skipped where it only checks the type."""
    return _prepared(f, _as_is_types(connection.vendor).get(type(f)), value, connection)


def _prepared(f, as_is: type | None, value, connection):
    """`value` as the database takes it for field `f`: as it is when of the type `as_is` (an aware datetime)."""
    if value is None and as_is is not None:
        return None
    if type(value) is as_is and not (isinstance(value, datetime) and value.tzinfo is None):
        return value
    return f.get_db_prep_save(value, connection)


@functools.lru_cache(maxsize=512)
def _insert_statement(target: str, tail: str, placeholders: tuple[str, ...], returning: str, effect_sql: str) -> str:
    """The statement's text, built once for each shape (a kind's effect has a few: one per status moved to)."""
    # Quoted identifiers from the model's meta; every value is a parameter.
    sql = f"INSERT INTO {target} VALUES ({', '.join(placeholders)}) {tail}{returning}"  # noqa: S608
    if effect_sql:
        sql = f"WITH inserted AS ({sql}), effect AS ({effect_sql}) SELECT * FROM inserted"  # noqa: S608
    return sql


def _insert_sql(model, event: CallbackEvent, connection, effect: InsertEffect | None = None) -> tuple[str, list]:
    """INSERT ... ON CONFLICT DO NOTHING on the repeat key, returning the new id (none for a repeat)."""
    fields, target, tail = _insert_target(model, connection.vendor)
    columns = effect.columns if effect else {}
    placeholders, params = [], []
    for f, as_is, read_as_stored in fields:
        if f.column in columns:
            expression, expression_params = columns[f.column]
            placeholders.append(expression)
            params.extend(expression_params)
        else:
            placeholders.append("%s")
            value = getattr(event, f.attname) if read_as_stored else f.pre_save(event, add=True)
            params.append(_prepared(f, as_is, value, connection))
    returning = "".join(f", {connection.ops.quote_name(column)}" for column in getattr(effect, "returning", ()))
    sql = _insert_statement(target, tail, tuple(placeholders), returning, effect.sql if effect else "")
    if effect and effect.sql:
        params.extend(effect.params)
    return sql, params


def _stored(event: CallbackEvent, pk, using: str) -> CallbackEvent:
    event.pk = pk
    event._state.adding, event._state.db = False, using
    return event


def _insert_unless_known(model, key: str, values: dict) -> tuple[CallbackEvent, bool]:
    """INSERT ... ON CONFLICT DO NOTHING on the repeat key: one round trip, safe under concurrency.

    (`get_or_create` takes four: a SELECT, then a savepoint around the INSERT.)
    """
    event = model(dedupe_key=key, **values)
    using = router.db_for_write(model)
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(*_insert_sql(model, event, connection))
        row = cursor.fetchone()
    if row is None:
        return model.with_key(key).get(), False
    return _stored(event, row[0], using), True


def _store_and_apply_at_once(kind: CallbackKind, key: str, values: dict, now) -> Outcome | None:
    """Store and apply in one statement when the kind's effect is also written as SQL (`insert_effect`).

    Outside a transaction that statement commits by itself: no BEGIN, no
    COMMIT. None when the model has no such effect here, or when the statement
    failed for a reason other than the database being down: `ingest` then
    stores and applies the ordinary way (and records a failing effect).
    """
    model = kind.model
    using = router.db_for_write(model)
    connection = connections[using]
    if kind.insert_effect is None:
        return None
    effect = kind.insert_effect(values, connection)
    if effect is None:
        return None
    event = model(dedupe_key=key, **values)
    sql, params = _insert_sql(model, event, connection, effect)
    # Inside a caller's transaction, a savepoint keeps a failure from aborting it.
    guard = transaction.atomic(using=using) if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with guard, connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except (OperationalError, InterfaceError):
        raise
    except IntegrityError:
        # A concurrent callback got there first (two first hops of one USSD session, say): the ordinary path,
        # which waits for that one's row, stores this one. Expected now and then; not an error.
        logger.warning("%s callback: a concurrent callback conflicted with its one statement; stored step by step",
                       model._meta.label)  # fmt: skip
        return None
    except DatabaseError:
        logger.exception("%s callback: storing it with its effect failed; trying step by step", model._meta.label)
        return None
    if row is not None:
        attnames = {f.column: f.attname for f in model._meta.concrete_fields}
        for column, value in zip(getattr(effect, "returning", ()), row[1:], strict=True):
            setattr(event, attnames[column], value)
        return Outcome(_stored(event, row[0], using), created=True)
    with transaction.atomic(using=using):
        return Outcome(_count_repeat(model, model.with_key(key).get(), now), created=False)


def _find_or_create(model, key: str, values: dict, now) -> tuple[CallbackEvent, bool]:
    if model.dedupe_window is None:
        event, created = _insert_unless_known(model, key, values)
    else:
        event = (
            model.with_key(key)
            .select_for_update()
            .filter(last_received_at__gte=now - model.dedupe_window)
            .order_by("-last_received_at")
            .first()
        )
        created = event is None
        if created:
            event = model.objects.create(dedupe_key=key, **values)
    if not created:
        _count_repeat(model, event, now)
    return event, created


def _count_repeat(model, event: CallbackEvent, now) -> CallbackEvent:
    model.objects.filter(pk=event.pk).update(times_received=F("times_received") + 1, last_received_at=now)
    event.refresh_from_db(fields=["times_received", "last_received_at"])
    logger.info("%s callback repeated (%d times), not applied again", model._meta.label, event.times_received)
    return event


def _apply(kind: CallbackKind, event: CallbackEvent) -> None:
    """Apply a stored row's effect in a savepoint; when it raises, the row is marked failed."""
    try:
        with transaction.atomic():
            kind.apply(event, Arrival(event.received_at))
    except Exception as exc:  # the effect's failure must never lose the row
        logger.exception("%s callback %s: effect failed", event._meta.label, event.pk)
        event.state = ProcessingState.FAILED
        event.error = describe_failure(exc)
        type(event).objects.filter(pk=event.pk).update(state=event.state, error=event.error)


def reprocess(event: CallbackEvent) -> bool:
    """Read a stored callback's fields again and apply its effect (after a fix); True when it now succeeds.

    A callback that is now a repeat of another row stays failed, naming that row.
    """
    model = type(event)
    kind = kind_for(model)
    try:
        fields = model.fields_from_payload(Payload(event.payload))
        key = model.dedupe_key_for(fields, event.payload)
    except CallbackError as exc:
        model.objects.filter(pk=event.pk).update(state=ProcessingState.FAILED, error=str(exc))
        return False
    with transaction.atomic():
        if model.dedupe_window is None:
            other = model.with_key(key).exclude(pk=event.pk).values_list("pk", flat=True).first()
            if other is not None:
                error = f"a repeat of #{other}, which was applied"
                model.objects.filter(pk=event.pk).update(state=ProcessingState.FAILED, error=error)
                return False
            event.dedupe_key = key
        for name, value in fields.items():
            setattr(event, name, value)
        event.state, event.error = ProcessingState.PROCESSED, ""
        event.save()
        _apply(kind, event)
    logger.info("%s callback %s reprocessed: %s", model._meta.label, event.pk, event.state)
    return event.state == ProcessingState.PROCESSED
