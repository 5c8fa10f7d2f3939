"""The send pipeline every product shares: outbound statuses, their rank, claiming and retrying.

A service function creates outbound rows `queued` and enqueues a task; the task
claims them (`sending`), calls AT with no transaction or lock held, and stores
AT's answer. A status only ever moves up the rank:

    queued < sending < submitted, unknown < sent, buffered
           < failed, expired, rejected, blocked < delivered

(`failed` → `delivered` is allowed: AT retries premium SMS, and a late airtime
status may follow a failure.) The one move down is a retry putting a row whose
request provably never reached AT back to `queued`: nothing that may have
reached AT is sent again automatically; it is `unknown`, for a callback or
staff to settle.
"""

import functools
import logging
from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from hub import queue
from hub.fields import clip, clipped

logger = logging.getLogger("hub.outbound")


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    SENDING = "sending", _("sending")
    SUBMITTED = "submitted", _("submitted")
    UNKNOWN = "unknown", _("unknown (may have been sent)")
    SENT = "sent", _("sent")
    BUFFERED = "buffered", _("buffered")
    FAILED = "failed", _("failed")
    EXPIRED = "expired", _("expired")
    REJECTED = "rejected", _("rejected")
    BLOCKED = "blocked", _("blocked")
    DELIVERED = "delivered", _("delivered")


RANK = {
    OutboundStatus.QUEUED: 0,
    OutboundStatus.SENDING: 1,
    OutboundStatus.SUBMITTED: 2,
    OutboundStatus.UNKNOWN: 2,
    OutboundStatus.SENT: 3,
    OutboundStatus.BUFFERED: 3,
    OutboundStatus.FAILED: 4,
    OutboundStatus.EXPIRED: 4,
    OutboundStatus.REJECTED: 4,
    OutboundStatus.BLOCKED: 4,
    OutboundStatus.DELIVERED: 5,
}

#: Statuses staff may resend from: it did not arrive, or nobody knows.
RESENDABLE = frozenset({OutboundStatus.FAILED, OutboundStatus.EXPIRED, OutboundStatus.REJECTED, OutboundStatus.UNKNOWN})

# The canonical status groups (dashboards, admin counts and filters read these, or
# the `OutboundQuerySet` methods named after them, rather than lists of their own):

#: On its way: not settled yet, and nothing says it went wrong.
PENDING = (
    OutboundStatus.QUEUED,
    OutboundStatus.SENDING,
    OutboundStatus.SUBMITTED,
    OutboundStatus.SENT,
    OutboundStatus.BUFFERED,
)
#: Known not to have arrived (AT or we refused it, it failed or expired, the subscriber opted out).
NOT_DELIVERED = (OutboundStatus.FAILED, OutboundStatus.EXPIRED, OutboundStatus.REJECTED, OutboundStatus.BLOCKED)
#: Nobody knows whether it was sent: a callback or staff settle it.
UNSURE = (OutboundStatus.UNKNOWN,)
#: AT accepted it (what AT charges for): submitted and everything it moved to short of a failure.
ACCEPTED = (OutboundStatus.SUBMITTED, OutboundStatus.SENT, OutboundStatus.BUFFERED, OutboundStatus.DELIVERED)


def statuses_below(status: str) -> list[str]:
    """The statuses a row may move to `status` from."""
    return [s.value for s, rank in RANK.items() if rank < RANK[OutboundStatus(status)]]


def retry_delay(attempt: int) -> timedelta:
    """Wait before try `attempt + 1`: AT_RETRY_BACKOFF doubled each time, at most an hour."""
    return timedelta(seconds=min(settings.AT_RETRY_BACKOFF * 2 ** max(attempt - 1, 0), 3600))


def _record_failure(model, ids, exc, outcome: str) -> None:
    from hub.models import SendFailure

    SendFailure.objects.create(
        at=timezone.now(), product=model._meta.label, outcome=outcome, rows=len(ids), reached=exc.reached,
        http_status=exc.status, error=str(exc)[:300], first_row=min(ids) if ids else None,
    )  # fmt: skip


def handle_failure(model, rows, exc, *, what: str) -> str:
    """After a failed call to AT for `rows`: retry only what cannot have been sent; returns the rows' status.

    - Provably never reached AT (connection refused, DNS failure, connect
      timeout, TLS handshake failure): back to `queued`, with the error in
      `last_error` and the retry's time in `next_attempt_at`, and enqueued
      again for that time (`model.enqueue(ids, after=...)`), until
      AT_SEND_MAX_ATTEMPTS (then `failed`).
    - Refused by the SDK, or by AT with a 4xx: `rejected`.
    - Anything else may have reached AT (a read timeout, a 500, a 502/503/504):
      `unknown`, for a callback or staff to settle; nothing is sent twice.
      With AT_RETRY_GATEWAY_ERRORS on, a 502/503/504 is retried like a request
      that never reached AT, for the models that allow it (`retry_gateway_errors`:
      SMS, calls and SIM swap checks, never airtime), and ends `unknown` after
      the last try.

    Rows left `unknown` are handed to `model.after_unknown`.
    """
    ids = [row.pk for row in rows]
    attempts = max(row.attempts for row in rows)
    gateway_retry = exc.gateway_error and settings.AT_RETRY_GATEWAY_ERRORS and model.retry_gateway_errors
    record = functools.partial(_record_failure, model, ids, exc)
    if (exc.retryable or gateway_retry) and attempts < settings.AT_SEND_MAX_ATTEMPTS:
        run_after = timezone.now() + retry_delay(attempts)
        with transaction.atomic():
            model.requeue(ids, error=str(exc), next_attempt_at=run_after)
            model.enqueue(ids, after=run_after)
            record(OutboundStatus.QUEUED)
        logger.warning("%s for %d recipient(s) not sent (%s); retry %d scheduled", what, len(ids), exc, attempts)
        return OutboundStatus.QUEUED
    if exc.retryable:
        status, reason = OutboundStatus.FAILED, f"not sent after {attempts} attempts: {exc}"
    elif not exc.reached:
        status, reason = OutboundStatus.REJECTED, str(exc)
    elif exc.status is not None and 400 <= exc.status < 500:
        status, reason = OutboundStatus.REJECTED, f"AT refused the request: {exc}"
    elif gateway_retry:
        status, reason = OutboundStatus.UNKNOWN, f"may have been sent (tried {attempts} times): {exc}"
    else:
        status, reason = OutboundStatus.UNKNOWN, f"may have been sent: {exc}"
    with transaction.atomic():
        model.advance(ids, status, failure_reason=reason)
        if status == OutboundStatus.UNKNOWN:
            model.after_unknown(ids)
        record(status)
    logger.error("%s for %d recipient(s) ended %s: %s", what, len(ids), status, reason)
    return status


def insert_rows(model, common: dict, rows: list[dict]) -> None:
    """Insert many rows that share most of their values, with one executemany.

    A 10,000-recipient send is 10,000 rows that differ in a phone and a status:
    the shared values are prepared once, and Django's per-field compilation in
    `bulk_create` (most of the time it took) is skipped. Fields named in neither
    get their defaults.
    """
    if not rows:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    varying = [f for f in fields if f.name in rows[0] or f.attname in rows[0]]
    shared = {}
    for f in fields:
        if f not in varying:
            value = common.get(f.name, common.get(f.attname, f.get_default()))
            if isinstance(value, models.Model):
                value = value.pk
            shared[f] = f.get_db_prep_save(value, connection)
    columns = [*varying, *shared]
    shared_values = list(shared.values())
    params = [
        [f.get_db_prep_save(clip(model, f.name, row.get(f.name, row.get(f.attname))), connection) for f in varying]
        + shared_values
        for row in rows
    ]
    table = quote(model._meta.db_table)
    column_list = ", ".join(quote(f.column) for f in columns)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY streams every row in one command: the fastest way in.
            with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
            return
        # Elsewhere, multi-row VALUES within the parameter limits.
        per_statement = max(1, 30_000 // len(columns))
        placeholders = f"({', '.join(['%s'] * len(columns))})"
        for start in range(0, len(params), per_statement):
            batch = params[start : start + per_statement]
            values = ", ".join([placeholders] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) VALUES {values}",  # noqa: S608 - quoted names
                [value for row in batch for value in row],
            )


_unknown_hooks: dict = {}


def when_unknown(model, hook) -> None:
    """Declare what settles `model`'s rows once they are `unknown` (apps call it in `ready()`)."""
    _unknown_hooks[model] = hook


def _concrete(model, name: str) -> models.Field:
    """`model`'s field `name`, which must be a column of its table (not a reverse relation)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _column(field: models.Field) -> str:
    """The field's column name (every concrete field has one)."""
    assert field.column, field
    return field.column


class OutboundQuerySet(models.QuerySet):
    """The status queries of outbound rows: `Model.objects.filter(...).advance(status)`, `.pending()`, ...

    `advance` and `claim` change rows, so they are offered on querysets only
    (`Model.objects.advance(...)` would move every row): filter first.
    """

    def advance(self, status: str, **fields) -> int:
        """Move these rows to `status` where that is upwards; returns how many moved. Texts in `fields`
        (AT's words) are cut to their columns."""
        fields = clipped(self.model, fields)
        return self.filter(status__in=statuses_below(status)).update(status=status, updated_at=timezone.now(), **fields)

    advance.queryset_only = True  # type: ignore[attr-defined]  # read by Django's manager, unknown to the stubs

    def claim(self) -> list:
        """Take those of these rows still queued for sending (`sending`, one more attempt); each is claimed
        once, whoever else tries at the same time. Returns their primary keys."""
        with transaction.atomic(using=self.db):
            claimed = list(
                self.select_for_update().filter(status=OutboundStatus.QUEUED).order_by().values_list("pk", flat=True)
            )
            self.model._default_manager.using(self.db).filter(pk__in=claimed).update(
                status=OutboundStatus.SENDING,
                attempts=F("attempts") + 1,
                updated_at=timezone.now(),
                last_error="",
                next_attempt_at=None,
            )
        return claimed

    claim.queryset_only = True  # type: ignore[attr-defined]  # read by Django's manager, unknown to the stubs

    def pending(self):
        """On their way (`PENDING`)."""
        return self.filter(status__in=PENDING)

    def resendable(self):
        """Those staff may send again (`RESENDABLE`)."""
        return self.filter(status__in=RESENDABLE)

    def not_delivered(self, *, unsure: bool = False):
        """Known not to have arrived (`NOT_DELIVERED`); with `unsure`, also those nobody knows about (`UNSURE`)."""
        return self.filter(status__in=[*NOT_DELIVERED, *(UNSURE if unsure else ())])

    def unsure(self):
        """Nobody knows whether they were sent (`UNSURE`)."""
        return self.filter(status__in=UNSURE)

    def accepted(self):
        """AT accepted them (`ACCEPTED`)."""
        return self.filter(status__in=ACCEPTED)


class OutboundRequest(models.Model):
    """Abstract base of a request to AT on one recipient's behalf (an SMS, a call, airtime, a check)."""

    status = models.CharField(
        _("status"), max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED
    )
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0, help_text=_("Calls made to AT."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resend_of = models.ForeignKey(
        "self",
        verbose_name=_("resend of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resends",
    )
    last_error = models.CharField(
        _("last error"),
        max_length=255,
        blank=True,
        help_text=_("Why the last try did not reach AT, while a retry is waiting; cleared when it is tried."),
    )
    next_attempt_at = models.DateTimeField(
        _("next try at"), null=True, blank=True, help_text=_("When the waiting retry is due.")
    )

    objects = OutboundQuerySet.as_manager()

    #: Dotted path of the task that sends rows of this model (it takes a list of ids).
    send_task: ClassVar[str] = ""
    #: Whether AT_RETRY_GATEWAY_ERRORS may retry this model's requests after a 502/503/504 (a retry may send twice).
    retry_gateway_errors: ClassVar[bool] = True

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"
        # A plain index (`db_index=True` would add PostgreSQL's unused LIKE index: one more on every write).
        indexes = [models.Index(fields=["status"], name="%(class)s_status")]

    @classmethod
    def task(cls):
        """The task that sends this model's rows (`send_task`, a dotted path: the model imports no task)."""
        return import_string(cls.send_task)

    @classmethod
    def enqueue(cls, ids, after=None) -> None:
        """The one way to enqueue a send: `task()` for the rows of `ids`, now or at `after` (a retry).

        Through `hub.queue.enqueue`: with the database the task is written in
        the caller's transaction; with Redis it is published once that
        transaction commits. Services, retries and the sweeper all call this.
        """
        ids = list(ids)
        if ids:
            queue.enqueue(cls.task(), ids, after=after)

    @classmethod
    def overdue(cls, grace: timedelta) -> OutboundQuerySet:
        """Rows still `queued` more than `grace` after they were due: their retry's time (`next_attempt_at`),
        else when they were created. (The sweeper enqueues those no task carries.)"""
        cutoff = timezone.now() - grace
        return cls.objects.filter(status=OutboundStatus.QUEUED).filter(
            models.Q(next_attempt_at__isnull=True, created_at__lt=cutoff) | models.Q(next_attempt_at__lt=cutoff)
        )

    @classmethod
    def queryset_of(cls, rows) -> OutboundQuerySet:
        """`rows` (primary keys, or any queryset of this model) as an OutboundQuerySet."""
        if isinstance(rows, OutboundQuerySet):
            return rows
        if isinstance(rows, models.QuerySet):
            return cls.objects.filter(pk__in=rows.values("pk"))
        return cls.objects.filter(pk__in=list(rows))

    @classmethod
    def advance(cls, rows, status: str, **fields) -> int:
        """Move `rows` (primary keys, or a queryset) to `status` where that is upwards; returns how many moved.
        (`OutboundQuerySet.advance`.)"""
        return cls.queryset_of(rows).advance(status, **fields)

    @classmethod
    def claim(cls, pks) -> list:
        """Take the rows of `pks` that are still queued for sending; each is claimed once.
        (`OutboundQuerySet.claim`.)"""
        return cls.queryset_of(pks).claim()

    @classmethod
    def after_unknown(cls, pks) -> None:
        """Rows of `pks` were just marked `unknown` (in the same transaction): a model whose callbacks may have
        come first, with nothing yet to link them by, settles the rows from them here, with the hook its app
        declared (`when_unknown`). Default: nothing."""
        hook = _unknown_hooks.get(cls)
        if hook is not None:
            hook(pks)

    @classmethod
    def requeue(cls, pks, *, error: str = "", next_attempt_at=None) -> int:
        """Put rows whose request never reached AT back in the queue, for a retry at `next_attempt_at`;
        `error` says why the try failed (both shown to staff until the retry claims the rows)."""
        return cls.objects.filter(pk__in=pks, status=OutboundStatus.SENDING).update(
            status=OutboundStatus.QUEUED,
            updated_at=timezone.now(),
            last_error=clip(cls, "last_error", error),
            next_attempt_at=next_attempt_at,
        )

    @classmethod
    def save_answers(cls, objs, fields: list[str], *, while_status: str = OutboundStatus.SENDING) -> None:
        """Write `fields` of many rows at once, each only if it is still in `while_status`.

        Django's `bulk_update` resolves an expression per row and field, which
        made storing AT's answer for 500 recipients take most of a second. On
        PostgreSQL the values are COPYed into a temporary table and applied with
        one UPDATE ... FROM; elsewhere one parameterised UPDATE runs per row.
        Identifiers come from the model's meta, quoted; every value is a parameter.
        """
        if not objs:
            return
        using = router.db_for_write(cls)
        connection = connections[using]
        quote = connection.ops.quote_name
        columns = [_concrete(cls, name) for name in fields]
        key = cls._meta.pk
        assert key is not None
        table, pk, status = quote(cls._meta.db_table), quote(_column(key)), quote("status")
        rows = [
            [obj.pk] + [c.get_db_prep_save(clip(cls, c.name, getattr(obj, c.attname)), connection) for c in columns]
            for obj in objs
        ]
        with transaction.atomic(using=using), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                names = ", ".join(quote(_column(c)) for c in [key, *columns])
                cursor.execute(
                    f"CREATE TEMPORARY TABLE answers ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA"  # noqa: S608
                )
                with cursor.cursor.copy(f"COPY answers ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                assignments = ", ".join(f"{quote(_column(c))} = answers.{quote(_column(c))}" for c in columns)
                cursor.execute(
                    f"UPDATE {table} SET {assignments} FROM answers "  # noqa: S608
                    f"WHERE {table}.{pk} = answers.{pk} AND {table}.{status} = %s",
                    [while_status],
                )
                cursor.execute("DROP TABLE answers")
                return
            assignments = ", ".join(f"{quote(_column(c))} = %s" for c in columns)
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE {pk} = %s AND {status} = %s",  # noqa: S608
                [[*row[1:], row[0], while_status] for row in rows],
            )
