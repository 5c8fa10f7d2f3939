"""Store first, then apply: the one transaction every callback goes through.

The row and its effect commit together. When the effect raises, it is rolled
back to a savepoint and the row still commits, with state `failed` and the
error, for reprocessing. Repeats are counted on the first row and never applied
again. Database errors are left to the caller (the view spools the callback and answers 503).
"""

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone

from .models import CallbackEvent, ProcessingState
from .payload import CallbackError, ParsedBody, Payload, jsonable, mask_pii

logger = logging.getLogger("atproject.callbacks")


@dataclass
class Outcome:
    event: CallbackEvent
    created: bool
    #: Why the payload was refused (answered 400), or "".
    error: str = ""


def ingest(model: type[CallbackEvent], parsed: ParsedBody, *, source_ip: str | None = None) -> Outcome:
    """Store one delivery of a callback of kind `model` and apply its effect once."""
    now = timezone.now()
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

    with transaction.atomic():
        event, created = _find_or_create(model, key, {**row, **fields}, now)
        if created:
            _apply(event)
    return Outcome(event, created=created)


def _insert_unless_known(model, key: str, values: dict) -> tuple[CallbackEvent, bool]:
    """INSERT ... ON CONFLICT DO NOTHING on the repeat key: one round trip, safe under concurrency.

    (`get_or_create` takes four: a SELECT, then a savepoint around the INSERT.)
    """
    event = model(dedupe_key=key, **values)
    using = router.db_for_write(model)
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    params = [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in fields]
    key_column = quote("dedupe_key")
    # Quoted identifiers from the model's meta; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({key_column}) WHERE NOT ({key_column} = '') DO NOTHING "
        f"RETURNING {quote(model._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return model.objects.get(dedupe_key=key), False
    event.pk = row[0]
    event._state.adding, event._state.db = False, using
    return event, True


def _find_or_create(model, key: str, values: dict, now) -> tuple[CallbackEvent, bool]:
    if model.dedupe_window is None:
        event, created = _insert_unless_known(model, key, values)
    else:
        event = (
            model.objects.select_for_update()
            .filter(dedupe_key=key, last_received_at__gte=now - model.dedupe_window)
            .order_by("-last_received_at")
            .first()
        )
        created = event is None
        if created:
            event = model.objects.create(dedupe_key=key, **values)
    if not created:
        model.objects.filter(pk=event.pk).update(times_received=F("times_received") + 1, last_received_at=now)
        event.refresh_from_db(fields=["times_received", "last_received_at"])
        logger.info("%s callback repeated (%d times), not applied again", model._meta.label, event.times_received)
    return event, created


def _apply(event: CallbackEvent) -> None:
    try:
        with transaction.atomic():
            event.apply()
    except Exception as exc:  # the effect's failure must never lose the row
        logger.exception("%s callback %s: effect failed", event._meta.label, event.pk)
        event.state = ProcessingState.FAILED
        event.error = f"{type(exc).__name__}: {exc}"
        type(event).objects.filter(pk=event.pk).update(state=event.state, error=event.error)


def reprocess(event: CallbackEvent) -> bool:
    """Read a stored callback's fields again and apply its effect (after a fix); True when it now succeeds.

    A callback that is now a repeat of another row stays failed, naming that row.
    """
    model = type(event)
    try:
        fields = model.fields_from_payload(Payload(event.payload))
        key = model.dedupe_key_for(fields, event.payload)
    except CallbackError as exc:
        model.objects.filter(pk=event.pk).update(state=ProcessingState.FAILED, error=str(exc))
        return False
    with transaction.atomic():
        if model.dedupe_window is None:
            other = model.objects.filter(dedupe_key=key).exclude(pk=event.pk).values_list("pk", flat=True).first()
            if other is not None:
                error = f"a repeat of #{other}, which was applied"
                model.objects.filter(pk=event.pk).update(state=ProcessingState.FAILED, error=error)
                return False
            event.dedupe_key = key
        for name, value in fields.items():
            setattr(event, name, value)
        event.state, event.error = ProcessingState.PROCESSED, ""
        event.save()
        _apply(event)
    logger.info("%s callback %s reprocessed: %s", model._meta.label, event.pk, event.state)
    return event.state == ProcessingState.PROCESSED
