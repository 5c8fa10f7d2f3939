"""The console's figures, rolled up per hour from every product's rows.

`refresh()` (run by `maintain` every few minutes) recomputes the last two days
of hours: a message's status, a session's end or a call's cost can still
change that long after it began. `rebuild(since)` (the `rebuild_rollups`
command, e.g. nightly or after an upgrade) recomputes any span. Each hour is
recomputed whole, inside one transaction, so a figure is never counted twice.

Rows are counted in the hour they began (a message when it was created, a
session when it started, a callback when it arrived): "sent today" means the
messages queued today, whatever happened to them since.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, Count, DurationField, ExpressionWrapper, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, Lower, TruncHour
from django.utils import timezone

from hub.maintenance import periodic

from .models import Granularity, Rollup

logger = logging.getLogger("atproject.console")

#: How far back `refresh` recomputes: late delivery reports and end notifications land within it.
REFRESH_SPAN = timedelta(hours=48)

#: How long hourly figures are kept (days keep theirs for ever, a few hundred rows a day).
HOURS_KEPT = timedelta(days=40)
#: Upper edges (seconds) of the delivery-latency histogram, submitted → delivered.
LATENCY_EDGES = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
#: Upper edges (milliseconds) of the USSD answer-time histogram.
ANSWER_EDGES = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)


def _bucketed(expression, edges, unit):
    """A CASE expression giving the index of the first edge `expression` is at most (len(edges): above all)."""
    whens = [When(**{f"{expression}__lte": unit(edge)}, then=Value(i)) for i, edge in enumerate(edges)]
    return Case(*whens, default=Value(len(edges)), output_field=IntegerField())


def _hour(field: str):
    return TruncHour(field, tzinfo=UTC)


@dataclass(frozen=True)
class Figure:
    """One rollup metric: which rows, in which hour, split how, adding up what."""

    metric: str
    model: str  # "app_label.Model"
    time_field: str
    dimensions: tuple[str, ...] = ()
    total: object = None  # an expression summed into `total`
    where: Q | None = None
    annotate: dict | None = None  # expressions the dimensions refer to

    def rows(self, start: datetime, end: datetime):
        from django.apps import apps

        model = apps.get_model(self.model)
        queryset = model.objects.filter(**{f"{self.time_field}__gte": start, f"{self.time_field}__lt": end})
        if self.where is not None:
            queryset = queryset.filter(self.where)
        if self.annotate:
            queryset = queryset.annotate(**self.annotate)
        aggregates = {"n": Count("pk")}
        if self.total is not None:
            aggregates["t"] = Sum(self.total)
        grouped = (
            queryset.order_by()
            .annotate(rollup_hour=_hour(self.time_field))
            .values("rollup_hour", *self.dimensions)
            .annotate(**aggregates)
        )
        for row in grouped:
            dimension = "|".join(str(row[d] if row[d] is not None else "") for d in self.dimensions)
            yield row["rollup_hour"], dimension[:200], row["n"], row.get("t") or Decimal(0)


def _callback_figures() -> list[Figure]:
    from hub.callbacks.registry import kinds

    return [
        Figure("callbacks", kind.model._meta.label, "received_at", ("kind_name", "state"), annotate={
            "kind_name": Value(kind.name),
        })
        for kind in kinds().values()
    ]  # fmt: skip


def figures() -> list[Figure]:
    """Every metric the dashboard reads."""
    delivered = Q(status="delivered", submitted_at__isnull=False, delivered_at__isnull=False)
    return [
        # SMS: every message by its status, and what it cost.
        Figure("sms", "sms.OutboundMessage", "created_at", ("status",), total=F("cost")),
        Figure("sms.cost", "sms.OutboundMessage", "created_at", ("cost_currency",), total=F("cost"),
               where=Q(cost__isnull=False)),
        Figure("sms.sender", "sms.OutboundMessage", "created_at", ("sender", "status")),
        Figure("sms.source", "sms.OutboundMessage", "created_at", ("batch__source", "status")),
        Figure("sms.failure", "sms.OutboundMessage", "created_at", ("status", "failure_reason"),
               where=Q(status__in=["failed", "rejected", "expired", "blocked", "unknown"])),
        Figure("sms.latency", "sms.OutboundMessage", "created_at", ("latency_bucket",), where=delivered, annotate={
            "latency": ExpressionWrapper(F("delivered_at") - F("submitted_at"), output_field=DurationField()),
            "latency_bucket": _bucketed("latency", LATENCY_EDGES, lambda s: timedelta(seconds=s)),
        }),
        # SMS by network, from the final word of each delivery report.
        Figure("sms.network", "sms.DeliveryReport", "received_at", ("network_code", "status_lower"),
               annotate={"status_lower": Lower("status")}),
        Figure("inbound", "sms.InboundMessage", "received_at", ("to_number",), total=F("cost")),
        Figure("optout", "sms.OptOutEvent", "received_at", ("sender_id",)),
        Figure("subscription", "sms.SubscriptionEvent", "received_at", ("update_lower",),
               annotate={"update_lower": Lower("update_type")}),
        # USSD: sessions by how they ended (empty: no end notification yet), hops added up; answer times.
        Figure("ussd", "ussd.UssdSession", "started_at", ("status",), total=F("hop_count")),
        Figure("ussd.answer", "ussd.UssdHop", "received_at", ("answer_bucket",),
               where=Q(duration_ms__isnull=False),
               annotate={"answer_bucket": _bucketed("duration_ms", ANSWER_EDGES, int)}),
        # Voice: calls by direction and whether anyone talked, seconds added up; cost per currency.
        Figure("voice", "voice.Call", "started_at", ("direction_lower", "answered"),
               total=Coalesce("duration_seconds", 0),
               annotate={
                   "direction_lower": Lower("direction"),
                   "answered": Case(When(duration_seconds__gt=0, then=Value("answered")), default=Value("unanswered")),
               }),
        Figure("voice.cost", "voice.Call", "started_at", ("cost_currency",), total=F("cost"),
               where=Q(cost__isnull=False)),
        Figure("airtime", "airtime.AirtimeTransaction", "created_at", ("currency", "status"), total=F("amount")),
        Figure("simswap", "simswap.SimSwapCheck", "created_at", ("status", "swap_status")),
        *_callback_figures(),
    ]  # fmt: skip


def _hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """`start` rounded down and `end` rounded up to whole UTC hours."""
    start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = end.astimezone(UTC)
    if end != end.replace(minute=0, second=0, microsecond=0):
        end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return start, end


def rebuild(start: datetime, end: datetime | None = None) -> int:
    """Recompute every figure for the hours from `start` to `end` (default: now), and the days (in the
    operators' zone) those hours fall in; returns the rows written."""
    start, end = _hours(start, end or timezone.now())
    written = 0
    chunk = timedelta(days=1)
    cursor = start
    while cursor < end:
        stop = min(cursor + chunk, end)
        rows = [
            Rollup(granularity=Granularity.HOUR, start=hour, metric=figure.metric, dimension=dimension,
                   count=count, total=total)
            for figure in figures()
            for hour, dimension, count, total in figure.rows(cursor, stop)
        ]  # fmt: skip
        with transaction.atomic():
            Rollup.objects.filter(granularity=Granularity.HOUR, start__gte=cursor, start__lt=stop).delete()
            Rollup.objects.bulk_create(_merged(rows), batch_size=1000)
        written += len(rows)
        cursor = stop
    for day_start, day_end in local_days(start, end):
        written += _roll_day(day_start, day_end)
    return written


def local_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The days of the operators' zone (TIME_ZONE) that `start`..`end` touches, as (start, end) instants."""
    days = []
    day = timezone.localtime(start).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        following = timezone.make_aware((day + timedelta(days=1)).replace(tzinfo=None))
        days.append((day, following))
        day = following
    return days


def _roll_day(day_start: datetime, day_end: datetime) -> int:
    """One day's figures: the sum of its hours."""
    sums = (
        Rollup.objects.filter(granularity=Granularity.HOUR, start__gte=day_start, start__lt=day_end)
        .values("metric", "dimension")
        .annotate(n=Sum("count"), t=Sum("total"))
    )
    rows = [
        Rollup(granularity=Granularity.DAY, start=day_start, metric=row["metric"], dimension=row["dimension"],
               count=row["n"], total=Decimal(str(row["t"] or 0)).quantize(Decimal("0.0001")))
        for row in sums
    ]  # fmt: skip
    with transaction.atomic():
        Rollup.objects.filter(granularity=Granularity.DAY, start=day_start).delete()
        Rollup.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _merged(rows: list[Rollup]) -> list[Rollup]:
    """Rows with the same hour, metric and dimension (dimensions cut to 200 characters) added together."""
    merged: dict[tuple, Rollup] = {}
    for row in rows:
        key = (row.start, row.metric, row.dimension)
        if key in merged:
            merged[key].count += row.count
            merged[key].total += row.total
        else:
            merged[key] = row
    return list(merged.values())


@periodic(timedelta(minutes=2))
def refresh() -> str:
    """The last two days of figures, recomputed (`maintain` runs it every couple of minutes)."""
    written = rebuild(timezone.now() - REFRESH_SPAN)
    # Hours are only read for today and to roll their day up again: days keep the figures after that.
    Rollup.objects.filter(granularity=Granularity.HOUR, start__lt=timezone.now() - HOURS_KEPT).delete()
    return f"{written} figure(s) for the last {REFRESH_SPAN.total_seconds() / 3600:.0f} hours"
