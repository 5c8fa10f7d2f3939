"""The abstract base of every stored AT callback.

A concrete event model adds typed, indexed columns for what people filter and
search on, says how to read them from a payload (`fields_from_payload`) and
what makes two deliveries the same callback (`dedupe_values` or
`dedupe_window`). What the callback does to the rest of the system (its
effect) is declared where the kind is mounted (`hub.callbacks.mount.callback_path`).
"""

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .payload import Payload

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# Lengths of AT's identifiers, codes and numbers in every app's columns; a longer
# value is refused with a 400 naming the field.
ID_LENGTH = 100
CODE_LENGTH = 40
PHONE_LENGTH = 128


def phone_columns(verbose_name: "StrOrPromise", *, db_index: bool = True) -> tuple[models.CharField, models.CharField]:
    """The number as AT gave it (maybe SIP or withheld), and its E.164 form when it has one.

    Hot tables pass `db_index=False` and declare `plain_indexes()` instead.
    """
    return (
        models.CharField(verbose_name, max_length=PHONE_LENGTH, blank=True),
        models.CharField(
            format_lazy("{} (E.164)", verbose_name),
            max_length=20,
            blank=True,
            db_index=db_index,
            help_text=_("Normalised form; empty when the number has none."),
        ),
    )


def failed_index(prefix: str) -> models.Index:
    """The index of a kind's failed rows (staff look for them), named `<app label>_<kind>_failed`.

    Only the failed rows are indexed: an index on a column where nearly every
    row has one value slows every insert under load and helps no query.
    """
    name = f"{prefix}_failed"
    assert len(name) <= 30, f"index name {name!r} is longer than the 30 characters Django allows"
    return models.Index(fields=["state"], condition=Q(state="failed"), name=name)


def plain_indexes(prefix: str, *fields: str) -> list[models.Index]:
    """One plain index per field, for the tables every callback writes to.

    `db_index=True` on a CharField makes PostgreSQL keep a second, `LIKE 'x%'`
    index that no query here uses, and each index costs every insert.
    """
    return [models.Index(fields=[f], name=f"{prefix}_{f}"[:30]) for f in fields]


@dataclass(frozen=True)
class Arrival:
    """When a callback arrived, given to its effect: `at` (wall clock) and `clock` (a perf_counter reading).

    `clock` is None where no request is being answered (reprocessing, a replay).
    """

    at: datetime
    clock: float | None = None

    @classmethod
    def now(cls) -> "Arrival":
        return cls(timezone.now(), time.perf_counter())

    def elapsed_ms(self) -> int | None:
        """Milliseconds since the callback arrived, while it is being answered."""
        return None if self.clock is None else round((time.perf_counter() - self.clock) * 1000)


@dataclass
class InsertEffect:
    """A callback's effect written as part of the statement that stores it (`callback_path(insert_effect=...)`)."""

    #: SQL expressions (with their parameters) stored instead of the row's values, by column.
    columns: dict[str, tuple[str, list]] = field(default_factory=dict)
    #: One data-modifying statement (UPDATE, INSERT, DELETE) run with the INSERT; it may read
    #: `inserted` (the new row's id), which is empty when the callback was a repeat.
    sql: str = ""
    params: list = field(default_factory=list)


class ProcessingState(models.TextChoices):
    PROCESSED = "processed", _("processed")
    FAILED = "failed", _("failed")


def dedupe_constraint(name: str) -> models.UniqueConstraint:
    """One row per repeat key: concurrent deliveries of one callback cannot both insert.

    It is also the index repeats are found by (`CallbackEvent.with_key`): a
    strict kind keeps no other index on `dedupe_key`.
    """
    return models.UniqueConstraint(fields=["dedupe_key"], condition=~Q(dedupe_key=""), name=name)


def window_dedupe_index(prefix: str) -> models.Index:
    """The index a kind with a `dedupe_window` finds repeats by: the key, then the latest delivery."""
    name = f"{prefix}_repeat"
    assert len(name) <= 30, f"index name {name!r} is longer than the 30 characters Django allows"
    return models.Index(fields=["dedupe_key", "last_received_at"], name=name)


class CallbackEvent(models.Model):
    received_at = models.DateTimeField(
        _("received at"), default=timezone.now, db_index=True, help_text=_("When the first delivery arrived.")
    )
    last_received_at = models.DateTimeField(
        _("last received at"), default=timezone.now, help_text=_("When the latest repeat arrived.")
    )
    times_received = models.PositiveIntegerField(
        _("times received"),
        default=1,
        help_text=_("AT may deliver a callback more than once; repeats are counted here."),
    )
    payload = models.JSONField(
        _("payload"),
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text=_("The callback's fields as AT sent them."),
    )
    raw_body = models.TextField(
        _("raw body"), blank=True, help_text=_("The body as text, kept when it could not be parsed or decoded cleanly.")
    )
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    source_ip = models.GenericIPAddressField(_("source IP"), null=True, blank=True)
    state = models.CharField(
        _("processing state"),
        max_length=16,
        choices=ProcessingState.choices,
        default=ProcessingState.PROCESSED,
        help_text=_("Failed: the payload was invalid or its effect raised; see the error."),
    )
    error = models.TextField(_("error"), blank=True)
    dedupe_key = models.CharField(
        _("repeat key"),
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("Hash of what identifies this callback; empty when the payload was invalid."),
    )

    #: Declared here so that code holding any kind's model (`type[CallbackEvent]`) reaches its rows.
    objects = models.Manager()

    #: Deliveries within this window with an identical payload are one callback.
    #: None: `dedupe_values` identifies the callback for ever (and a unique
    #: constraint on `dedupe_key` must be declared on the model).
    dedupe_window: ClassVar[timedelta | None] = None

    class Meta:
        abstract = True
        ordering = ["-received_at", "-pk"]
        get_latest_by = "received_at"
        # Each kind declares `failed_index("<app>_<kind>")` (names need the app label and fit 30 characters).

    @classmethod
    def with_key(cls, key: str) -> models.QuerySet:
        """The rows stored under repeat key `key` (strict kinds: one at most).

        The unique index's condition is repeated, as a literal (a parameter
        would not do), so that PostgreSQL uses that partial index in a prepared
        statement's generic plan too, where it cannot see that `key` is not empty.
        """
        return cls.objects.filter(dedupe_key=key).exclude(dedupe_key=RawSQL("''", ()))

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict[str, Any]:
        """The typed columns read from `payload`; raises `CallbackError` naming a bad field."""
        return {}

    @classmethod
    def dedupe_values(cls, fields: dict[str, Any]) -> tuple[Any, ...]:
        """What identifies one callback, from the typed columns (strict kinds only)."""
        raise NotImplementedError

    @classmethod
    def dedupe_key_for(cls, fields: dict[str, Any], data: dict[str, Any]) -> str:
        identity = data if cls.dedupe_window is not None else cls.dedupe_values(fields)
        canonical = json.dumps(identity, sort_keys=True, cls=DjangoJSONEncoder, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8", "backslashreplace")).hexdigest()
