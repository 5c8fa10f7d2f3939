"""AT's per-recipient answers stored for any outbound model, and the callbacks that came first linked.

Every product sends rows (`sending`) and gets back one typed result per number
(`hub.gateway`: `SmsRecipientResult`, `CallEntry`, `AirtimeResult`,
`SimSwapResult`). `store_answers` is the one way those are written:

- rows are matched to results by E.164 number; several rows with one number
  (a bulk send may repeat a number; AT answers each) are matched in order;
- each product says what a result means for its row (`decide`: the status and
  the fields to write), and the rows are written in bulk, a statement per shape
  of answer (`OutboundRequest.save_answers`: one COPY and UPDATE on PostgreSQL,
  one executemany elsewhere), never an UPDATE per row;
- a row that is no longer `sending` when its answer arrives (a worker thought
  dead was reaped, a callback came first) is "late": it moves only up the
  status ladder (`OutboundRequest.advance`), or as the product says (`on_late`);
- rows AT's answer does not mention become `unknown` ("missing from AT's
  answer"): AT may have them;
- every text is cut to its column's `max_length` (`hub.fields`).

AT's id for a row (a messageId, a requestId) is only known once its answer is
stored, and a callback naming it can come first. `link_early_events` links such
callbacks to their rows and re-applies their effect, oldest first.
"""

import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, Generic, Protocol, TypeVar

from django.db import models, transaction
from django.utils import timezone

from hub.callbacks.models import CallbackEvent
from hub.callbacks.payload import mask_phone
from hub.fields import clip
from hub.outbound import OutboundRequest, OutboundStatus
from hub.phones import normalize_phone

logger = logging.getLogger("hub.answers")

#: The reason a row AT's answer did not mention is `unknown` for.
MISSING = "missing from AT's answer"
#: How many ids one lookup query names.
LOOKUP_CHUNK = 500


class Answer(Protocol):
    """A typed per-recipient result of `hub.gateway` (`SmsRecipientResult`, `CallEntry`, ...): its number."""

    @property
    def phone(self) -> str: ...


T = TypeVar("T")
#: The outbound model's rows.
Row = TypeVar("Row", bound=OutboundRequest)
#: The gateway's result type for that product.
Result = TypeVar("Result", bound=Answer)
#: An object matched by number (`match` pairs any two kinds).
Matched = TypeVar("Matched")
Event = TypeVar("Event", bound=CallbackEvent)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass(frozen=True)
class Outcome:
    """What one result means for its row: the status it moves to, and the fields written with it."""

    status: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stored(Generic[Row, Result]):
    """What `store_answers` did: `answered` and `late` are (row, result, outcome) triples."""

    answered: list[tuple[Row, Result, Outcome]] = field(default_factory=list)
    late: list[tuple[Row, Result, Outcome]] = field(default_factory=list)
    missing: list[Row] = field(default_factory=list)
    unexpected: list[Result] = field(default_factory=list)

    def rows(self, status: str | None = None) -> list[Row]:
        """The rows written (answered or late), those moving to `status` when it is given."""
        return [row for row, _result, outcome in self.answered + self.late if status in (None, outcome.status)]


def match(
    rows: Iterable[Matched], results: Iterable[Result], *, phone: str = "phone"
) -> tuple[list[tuple[Matched, Result]], list[Matched], list[Result]]:
    """Pair rows with results by E.164 number, in order for repeated numbers.

    Returns (pairs of (row, result), rows with no result, results for no row).
    A row's number is normalised as a result's is, so "+254 711…" meets "+254711…".
    """
    rows = list(rows)
    queues: defaultdict[str, deque[Matched]] = defaultdict(deque)
    for row in rows:
        number = getattr(row, phone)
        queues[normalize_phone(number) or number].append(row)
    pairs: list[tuple[Matched, Result]] = []
    unexpected: list[Result] = []
    for result in results:
        queue = queues.get(result.phone)
        if queue:
            pairs.append((queue.popleft(), result))
        else:
            unexpected.append(result)
    matched = {id(row) for row, _result in pairs}
    return pairs, [row for row in rows if id(row) not in matched], unexpected


def store_answers(
    model: type[Row],
    rows: Iterable[Row],
    results: Iterable[Result],
    decide: Callable[[Row, Result], Outcome],
    *,
    error: str = "",
    on_late: Callable[[Row, Result, Outcome], None] | None = None,
    now: datetime | None = None,
) -> Stored[Row, Result]:
    """Store AT's per-recipient `results` for `rows` (instances of `model`, claimed: `sending`).

    `decide(row, result)` says what each result means (an `Outcome`); the
    outcome's fields are set on the row objects (clipped), with `updated_at`.
    Rows still `sending` are written in bulk; the others are late and handed to
    `on_late(row, result, outcome)` (default: moved up the ladder only). Rows with
    no result become `unknown`, with AT's `error` message in the reason when it
    gave one, and are handed to `model.after_unknown`. Runs in one transaction.
    """
    now = now or timezone.now()
    pairs, missing, unexpected = match(rows, results)
    for result in unexpected:
        logger.warning("AT answered for a number it was not sent: %s", mask_phone(result.phone))
    stored: Stored[Row, Result] = Stored(missing=missing, unexpected=unexpected)
    with transaction.atomic(using=model._default_manager.db):
        sending: set[Any] = set()
        for chunk in chunked([row.pk for row, _result in pairs], LOOKUP_CHUNK):
            sending.update(
                model.objects.select_for_update()
                .filter(pk__in=chunk, status=OutboundStatus.SENDING)
                .order_by()
                .values_list("pk", flat=True)
            )
        shapes: defaultdict[tuple[str, ...], list[Row]] = defaultdict(list)
        for row, result in pairs:
            outcome = decide(row, result)
            values = {"status": outcome.status, **outcome.fields, "updated_at": now}
            for name, value in values.items():
                setattr(row, name, clip(model, name, value))  # a foreign key by name (an object) or attname (an id)
            if row.pk in sending:
                stored.answered.append((row, result, outcome))
                shapes[tuple(values)].append(row)
            else:
                stored.late.append((row, result, outcome))
        for names, shaped in shapes.items():
            model.save_answers(shaped, list(names))
        for row, result, outcome in stored.late:
            if on_late is not None:
                on_late(row, result, outcome)
            else:
                model.advance([row.pk], outcome.status, **outcome.fields)
        if missing:
            ids = [row.pk for row in missing]
            model.advance(ids, OutboundStatus.UNKNOWN, failure_reason=f"{MISSING}: {error}" if error else MISSING)
            model.after_unknown(ids)
    if stored.late:
        logger.info("%s: AT's answer for %d row(s) came after they had moved on", model._meta.label, len(stored.late))
    return stored


def _link_field(
    event_model: type[CallbackEvent], outbound_model: type[OutboundRequest], name: str = ""
) -> models.ForeignKey:
    if name:
        named = event_model._meta.get_field(name)
        if not isinstance(named, models.ForeignKey):
            raise ValueError(f"{event_model._meta.label}.{name} is not a foreign key")
        return named
    links = [
        f
        for f in event_model._meta.concrete_fields
        if isinstance(f, models.ForeignKey) and f.related_model is outbound_model
    ]
    if len(links) != 1:
        raise ValueError(f"{event_model._meta.label} needs exactly one foreign key to {outbound_model._meta.label}")
    return links[0]


def link_early_events(
    event_model: type[Event],
    event_id: str,
    outbound_model: type[OutboundRequest],
    outbound_id: str,
    at_ids: Iterable[str] | Mapping[str, int],
    effect: Callable[[Event, int], None],
    *,
    link: str = "",
) -> int:
    """Link the callbacks that arrived before their row's AT id was stored, and re-apply their effect.

    `at_ids` are AT ids just stored on rows of `outbound_model` (in its column
    `outbound_id`), or a mapping of such ids to the rows' primary keys when the
    caller knows them. Callbacks of `event_model` carrying one of them in
    `event_id` and linked to no row yet (through the foreign key `link`, found
    when not given) are linked to that row, then `effect(event, row_pk)`
    applies each, oldest first (as they would have applied had they come after
    AT's answer). Returns how many were linked.
    """
    fk = _link_field(event_model, outbound_model, link)
    known = at_ids if isinstance(at_ids, Mapping) else None
    linked = 0
    for chunk in chunked(dict.fromkeys(i for i in at_ids if i), LOOKUP_CHUNK):
        events = list(
            event_model.objects.filter(**{f"{fk.name}__isnull": True, f"{event_id}__in": chunk}).order_by(
                "received_at", "pk"
            )
        )
        if not events:
            continue
        if known is not None:
            rows = {at_id: known[at_id] for at_id in chunk}
        else:
            rows = dict(
                outbound_model.objects.filter(**{f"{outbound_id}__in": chunk})
                .order_by("pk")
                .values_list(outbound_id, "pk")
            )
        for event in events:
            row_pk = rows.get(getattr(event, event_id))
            if row_pk is None:
                continue
            event_model.objects.filter(pk=event.pk).update(**{fk.attname: row_pk})
            setattr(event, fk.attname, row_pk)
            effect(event, row_pk)
            linked += 1
    return linked
