"""The dashboard: what happened in a period, for every AT product, read from the hourly rollups.

`figures(period)` answers with plain data (the JSON endpoint serves it as it
is); the admin index renders the same data with links to the lists behind each
number and two charts.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Max, Q, Sum
from django.urls import reverse
from django.utils import timezone

from hub import labels
from hub.maintenance import queue_health
from hub.models import BalanceSnapshot, RefusedCallback

from .models import Granularity, Rollup
from .rollups import ANSWER_EDGES, LATENCY_EDGES

PERIODS = {"today": 1, "7d": 7, "30d": 30}
PENDING = ("queued", "sending", "submitted", "sent", "buffered")
NOT_DELIVERED = ("failed", "rejected", "expired", "blocked")
#: AT abandons a USSD screen that takes longer than this (it waits about 10-15 s; aim well under).
USSD_BUDGET_MS = 2000


@dataclass(frozen=True)
class Period:
    name: str
    start: datetime  # aware, in the operators' zone
    end: datetime
    hourly: bool

    @classmethod
    def named(cls, name: str, now: datetime | None = None) -> "Period":
        days = PERIODS.get(name, 1)
        now = timezone.localtime(now or timezone.now())
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        start = timezone.make_aware((midnight - timedelta(days=days - 1)).replace(tzinfo=None))
        return cls(name if name in PERIODS else "today", start, now, hourly=days == 1)

    def buckets(self) -> list[datetime]:
        """The starts of the chart's points: hours of today, or days of the period (in the operators' zone)."""
        points, step = [], timedelta(hours=1) if self.hourly else timedelta(days=1)
        point = self.start
        while point <= self.end:
            points.append(point)
            point = timezone.make_aware((timezone.localtime(point) + step).replace(tzinfo=None))
        return points


def _money(value) -> Decimal:
    """A sum as the 4-decimal amount it is (SQLite sums decimals as floats)."""
    return Decimal(str(value or 0)).quantize(Decimal("0.0001"))


def _changelist(app_model: str, **filters) -> str:
    app, model = app_model.split(".")
    query = urlencode({k: v for k, v in filters.items() if v is not None})
    return reverse(f"admin:{app}_{model.lower()}_changelist") + (f"?{query}" if query else "")


def _in(period: Period, field: str) -> dict:
    return {f"{field}__gte": period.start.isoformat(), f"{field}__lt": (period.end + timedelta(seconds=1)).isoformat()}


def _percentile(histogram: dict[int, int], edges, share: float):
    """The upper edge of the bucket holding the `share` quantile (None without data; "more" above the last edge)."""
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0
    for index in range(len(edges) + 1):
        seen += histogram.get(index, 0)
        if seen >= share * total:
            return edges[index] if index < len(edges) else f"> {edges[-1]}"
    return None


def _rollups(period: Period):
    """The rollup rows covering `period`: whole past days as day rows, today as hours."""
    today = timezone.localtime(period.end).replace(hour=0, minute=0, second=0, microsecond=0)
    days = Q(granularity=Granularity.DAY, start__gte=period.start, start__lt=today)
    hours = Q(
        granularity=Granularity.HOUR, start__gte=max(today, period.start), start__lt=period.end + timedelta(hours=1)
    )
    return Rollup.objects.filter(days | hours)


def figures(period: Period) -> dict:
    """Every number and series of the dashboard for `period`, as plain data."""
    rows = _rollups(period).values("metric", "dimension").annotate(count=Sum("count"), total=Sum("total"))
    by_metric: dict[str, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
    for row in rows:
        by_metric[row["metric"]][row["dimension"]] = (row["count"], _money(row["total"]))

    def count(metric, keep=lambda d: True):
        return sum(c for d, (c, _t) in by_metric[metric].items() if keep(d))

    def total(metric, keep=lambda d: True):
        return sum((t for d, (_c, t) in by_metric[metric].items() if keep(d)), Decimal(0))

    def split(metric, position=0):
        return lambda d: d.split("|")[position]

    sms_status = {d: c for d, (c, _t) in by_metric["sms"].items()}
    created = sum(sms_status.values())
    never_sent = sms_status.get("blocked", 0) + sms_status.get("queued", 0) + sms_status.get("sending", 0)
    delivered = sms_status.get("delivered", 0)
    failed = sum(sms_status.get(s, 0) for s in NOT_DELIVERED)
    sent = created - never_sent
    decided = delivered + failed
    latency = {int(d): c for d, (c, _t) in by_metric["sms.latency"].items() if d.isdigit()}
    answer = {int(d): c for d, (c, _t) in by_metric["ussd.answer"].items() if d.isdigit()}

    sessions = {d: c for d, (c, _t) in by_metric["ussd"].items()}
    session_total = sum(sessions.values())
    completed = sessions.get("Success", 0)
    calls = by_metric["voice"]
    call_count = sum(c for c, _t in calls.values())
    answered = sum(c for d, (c, _t) in calls.items() if d.endswith("|answered"))

    data = {
        "period": {"name": period.name, "start": period.start.isoformat(), "end": period.end.isoformat(),
                   "time_zone": settings.TIME_ZONE},
        "sms": {
            "created": created,
            "sent": sent,
            "delivered": delivered,
            "failed": failed,
            "failed_by_status": {s: sms_status.get(s, 0) for s in NOT_DELIVERED},
            "unknown": sms_status.get("unknown", 0),
            "pending": sum(sms_status.get(s, 0) for s in PENDING),
            "delivery_rate": round(delivered / decided, 4) if decided else None,
            "latency_seconds": {"p50": _percentile(latency, LATENCY_EDGES, 0.5),
                                "p95": _percentile(latency, LATENCY_EDGES, 0.95)},
            "cost": {cur or "?": str(t) for cur, (_c, t) in sorted(by_metric["sms.cost"].items())},
            "by_network": _by_network(by_metric["sms.network"]),
            "by_sender": _by_sender(by_metric["sms.sender"]),
            "failure_reasons": _failure_reasons(by_metric["sms.failure"]),
        },
        "inbound": {
            "received": count("inbound"),
            "opt_outs": count("optout"),
            "subscriptions": {kind or "?": n for kind, (n, _t) in sorted(by_metric["subscription"].items())},
        },
        "ussd": {
            "sessions": session_total,
            "completed": completed,
            "failed": sessions.get("Failed", 0),
            "incomplete": sessions.get("Incomplete", 0),
            "open_or_timed_out": sessions.get("", 0),
            "mean_hops": round(float(total("ussd")) / session_total, 2) if session_total else None,
            "answer_ms_p95": _percentile(answer, ANSWER_EDGES, 0.95),
            "answer_budget_ms": USSD_BUDGET_MS,
        },
        "voice": {
            "calls": call_count,
            "inbound": count("voice", lambda d: d.startswith("inbound|")),
            "outbound": count("voice", lambda d: d.startswith("outbound|")),
            "answered_rate": round(answered / call_count, 4) if call_count else None,
            "minutes": round(float(total("voice")) / 60, 1),
            "cost": {cur or "?": str(t) for cur, (_c, t) in sorted(by_metric["voice.cost"].items())},
        },
        "airtime": _airtime(by_metric["airtime"], period),
        "simswap": {
            "checks": count("simswap"),
            "swapped": count("simswap", lambda d: d.split("|")[1].lower() == "swapped"),
        },
        "callbacks": _callbacks(by_metric["callbacks"], period),
        "series": series(period),
    }
    data["health"] = health(period)
    data["links"] = links(period)
    return data


def _by_network(rows) -> list[dict]:
    networks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dimension, (n, _t) in rows.items():
        code, _, status = dimension.partition("|")
        networks[code][status] += n
    result = []
    for code, statuses in networks.items():
        finals = statuses.get("success", 0) + sum(v for s, v in statuses.items() if s in labels.FAILED_REPORTS)
        result.append({
            "network_code": code,
            "network": labels.network_name(code),
            "delivered": statuses.get("success", 0),
            "failed": sum(v for s, v in statuses.items() if s in labels.FAILED_REPORTS),
            "delivery_rate": round(statuses.get("success", 0) / finals, 4) if finals else None,
        })
    return sorted(result, key=lambda r: -(r["delivered"] + r["failed"]))


def _by_sender(rows) -> list[dict]:
    senders: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dimension, (n, _t) in rows.items():
        sender, _, status = dimension.rpartition("|")
        senders[sender][status] += n
    result = [
        {
            "sender": sender or labels.DEFAULT_SENDER_LABEL,
            "messages": sum(counts.values()),
            "delivered": counts.get("delivered", 0),
            "failed": sum(counts.get(x, 0) for x in NOT_DELIVERED),
        }
        for sender, counts in senders.items()
    ]
    return sorted(result, key=lambda r: -r["messages"])


def _failure_reasons(rows, top: int = 8) -> list[dict]:
    reasons: dict[str, int] = defaultdict(int)
    for dimension, (n, _t) in rows.items():
        _status, _, reason = dimension.partition("|")
        reasons[reason] += n
    result = []
    for reason, n in sorted(reasons.items(), key=lambda item: -item[1])[:top]:
        meaning = labels.failure_meaning(reason)
        result.append(
            {"reason": reason or "(none given)", "count": n, "meaning": meaning.meaning, "action": meaning.action}
        )
    return result


def _airtime(rows, period: Period) -> dict:
    from airtime.services import todays_spend  # committed today and the limits, per currency (operators' day)

    currencies: dict[str, dict] = {}
    for dimension, (n, amount) in rows.items():
        currency, _, status = dimension.partition("|")
        entry = currencies.setdefault(currency, {"sent": 0, "delivered": 0, "failed": 0, "amount": Decimal(0),
                                                 "delivered_amount": Decimal(0)})  # fmt: skip
        entry["sent"] += n
        entry["amount"] += amount
        if status == "delivered":
            entry["delivered"] += n
            entry["delivered_amount"] += amount
        elif status in NOT_DELIVERED:
            entry["failed"] += n
    today = {currency: {"committed": committed, "limit": limit} for currency, committed, limit, _max in todays_spend()}
    result = {}
    for currency in sorted(set(currencies) | set(today)):
        entry = currencies.get(currency, {"sent": 0, "delivered": 0, "failed": 0, "amount": Decimal(0),
                                          "delivered_amount": Decimal(0)})  # fmt: skip
        limit = today.get(currency, {})
        result[currency] = {
            "sent": entry["sent"],
            "delivered": entry["delivered"],
            "failed": entry["failed"],
            "amount": str(entry["amount"]),
            "delivered_amount": str(entry["delivered_amount"]),
            "today_committed": str(limit.get("committed", Decimal(0))),
            "daily_limit": str(limit["limit"]) if limit.get("limit") is not None else None,
        }
    return {
        "sent": {currency: r["sent"] for currency, r in result.items()},
        "transactions": sum(r["sent"] for r in result.values()),
        "by_currency": result,
    }


def _callbacks(rows, period: Period) -> list[dict]:
    from hub.callbacks.registry import kinds

    refused = dict(
        RefusedCallback.objects.filter(hour__gte=period.start, hour__lt=period.end + timedelta(hours=1))
        .values_list("path")
        .annotate(n=Sum("count"))
    )
    result = []
    for kind in kinds().values():
        received = sum(n for d, (n, _t) in rows.items() if d.startswith(kind.name + "|"))
        failed = sum(n for d, (n, _t) in rows.items() if d == f"{kind.name}|failed")
        last = kind.model.objects.aggregate(last=Max("received_at"))["last"]
        result.append({
            "kind": kind.name,
            "path": kind.path,
            "received": received,
            "failed": failed,
            "refused": refused.get(kind.path, 0),
            "last_received": last.isoformat() if last else None,
        })
    return result


def series(period: Period) -> dict:
    """Volumes per product and the SMS delivery rate, per hour (today) or per day."""
    buckets = period.buckets()
    metrics = ("sms", "inbound", "ussd", "voice", "airtime")
    rows = (
        _rollups(period).filter(metric__in=metrics).values("start", "metric", "dimension").annotate(count=Sum("count"))
    )
    volumes = {m: [0] * len(buckets) for m in metrics}
    delivered, decided = [0] * len(buckets), [0] * len(buckets)
    for row in rows:
        index = _bucket_index(buckets, row["start"])
        if index is None:
            continue
        volumes[row["metric"]][index] += row["count"]
        if row["metric"] == "sms":
            status = row["dimension"]
            if status == "delivered":
                delivered[index] += row["count"]
            if status == "delivered" or status in NOT_DELIVERED:
                decided[index] += row["count"]
    fmt = "%H:00" if period.hourly else "%d %b"
    return {
        "labels": [timezone.localtime(b).strftime(fmt) for b in buckets],
        "starts": [b.isoformat() for b in buckets],
        "volumes": volumes,
        "sms_delivery_rate": [round(d / n, 4) if n else None for d, n in zip(delivered, decided, strict=True)],
    }


def _bucket_index(buckets: list[datetime], hour: datetime) -> int | None:
    index = None
    for i, start in enumerate(buckets):
        if hour >= start:
            index = i
        else:
            break
    return index


def health(period: Period) -> dict:
    """AT's balance, the task queue, the workers and AT's reachability."""
    from hub.gateway import last_unreachable

    snapshot = BalanceSnapshot.objects.order_by("-fetched_at").first()
    balance = None
    if snapshot is not None:
        balance = {
            "amount": str(snapshot.amount) if snapshot.amount is not None else None,
            "currency": snapshot.currency,
            "fetched_at": snapshot.fetched_at.isoformat(),
            "error": snapshot.error,
        }
    return {
        "balance": balance,
        "queue": queue_health(),
        "at_unreachable": last_unreachable(),
        "send_errors": _recent_send_errors(period),
    }


def _recent_send_errors(period: Period, limit: int = 5) -> list[dict]:
    """The latest failed calls to AT for sends in the period (no connection, no answer, refused)."""
    from django.apps import apps

    from hub.models import SendFailure

    errors = []
    for failure in SendFailure.objects.filter(at__gte=period.start).order_by("-at")[:limit]:
        model = apps.get_model(failure.product)
        link = None
        if failure.first_row is not None:
            link = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[failure.first_row])
        errors.append({
            "product": model._meta.verbose_name, "status": failure.outcome, "rows": failure.rows,
            "failure_reason": failure.error, "updated_at": failure.at.isoformat(), "link": link,
            "pk": failure.first_row,
        })  # fmt: skip
    return errors


def links(period: Period) -> dict:
    """The filtered lists behind each figure."""
    sms_in = _in(period, "created_at")
    return {
        "sms.sent": _changelist("sms.OutboundMessage", **sms_in),
        "sms.delivered": _changelist("sms.OutboundMessage", status__exact="delivered", **sms_in),
        "sms.failed": _changelist("sms.OutboundMessage", status__in=",".join(NOT_DELIVERED), **sms_in),
        "sms.unknown": _changelist("sms.OutboundMessage", status__exact="unknown", **sms_in),
        "sms.pending": _changelist("sms.OutboundMessage", status__in=",".join(PENDING), **sms_in),
        **{f"sms.{s}": _changelist("sms.OutboundMessage", status__exact=s, **sms_in) for s in NOT_DELIVERED},
        "inbound.received": _changelist("sms.InboundMessage", **_in(period, "received_at")),
        "inbound.opt_outs": _changelist("sms.OptOutEvent", **_in(period, "received_at")),
        "inbound.subscriptions": _changelist("sms.SubscriptionEvent", **_in(period, "received_at")),
        "ussd.sessions": _changelist("ussd.UssdSession", **_in(period, "started_at")),
        "ussd.completed": _changelist("ussd.UssdSession", status__exact="Success", **_in(period, "started_at")),
        "ussd.failed": _changelist("ussd.UssdSession", status__exact="Failed", **_in(period, "started_at")),
        "voice.calls": _changelist("voice.Call", **_in(period, "started_at")),
        "airtime.sent": _changelist("airtime.AirtimeTransaction", **_in(period, "created_at")),
        "simswap.checks": _changelist("simswap.SimSwapCheck", **_in(period, "created_at")),
        "simswap.swapped": _changelist(
            "simswap.SimSwapCheck", swap_status__iexact="swapped", **_in(period, "created_at")
        ),
        "failure": _changelist("sms.OutboundMessage", **sms_in),
        "network": _changelist("sms.DeliveryReport", **_in(period, "received_at")),
    }
