"""The evaluators: one small function per rule kind, returning the conditions that hold now.

Each takes the rule (its threshold, window, minimum count, scope) and the time
of the pass, and returns a list of `Condition`: a key (what it is about: a
network code, a sender id, a path, a currency, a product), its figures (plain
numbers and names, never a subscriber's phone number or a secret), a summary in
words and the admin page that shows the cause. An empty list: all is well.

`alerts.incidents.evaluate` turns conditions into incidents; nothing here
writes to the database.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from hub import labels

from .models import AlertKind, AlertRule, Scope
from .notify import scrub

#: Final SMS outcomes that are not a delivery (`blocked` is ours: an opt-out, not AT's failure).
NOT_DELIVERED = ("failed", "rejected", "expired")
#: Statuses of a message AT took that has had no final delivery report yet.
AWAITING_REPORT = ("submitted", "sent", "buffered")
#: Callback silence looks at sends of the last day only.
SILENCE_SPAN = timedelta(days=1)


@dataclass
class Condition:
    """One thing wrong now: what it is about, its figures, in words, and where to look."""

    key: str
    summary: str
    figures: dict = field(default_factory=dict)
    link: str = ""


Evaluator = Callable[[AlertRule, datetime], list[Condition]]
_evaluators: dict[str, Evaluator] = {}


def evaluator(kind: str):
    """Register the function that evaluates rules of `kind`."""

    def register(function: Evaluator) -> Evaluator:
        _evaluators[kind] = function
        return function

    return register


def evaluate_rule(rule: AlertRule, now: datetime | None = None) -> list[Condition]:
    """The conditions of `rule` that hold at `now` (default: now)."""
    return _evaluators[rule.kind](rule, now or timezone.now())


def admin_list(label: str, **filters) -> str:
    """The path of an admin changelist ("app.Model"), filtered; the dashboard when the model has no admin list."""
    app, model = label.split(".")
    try:
        url = reverse(f"admin:{app}_{model.lower()}_changelist")
    except NoReverseMatch:
        return dashboard(None)
    query = urlencode({k: v for k, v in filters.items() if v is not None})
    return url + (f"?{query}" if query else "")


def dashboard(anchor: str | None) -> str:
    return reverse("admin:index") + (f"#{anchor}" if anchor else "")


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def _percent(part, whole) -> float:
    return float(round(100 * part / whole, 1)) if whole else 0.0


def _number(value: Decimal | None):
    """A threshold as a plain JSON number (20, 2.5)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _money(value) -> Decimal:
    """A sum as the 4-decimal amount it is (SQLite sums decimals as floats)."""
    return Decimal(str(value or 0)).quantize(Decimal("0.0001"))


def _queue_health() -> dict:
    """The queue's state as /healthz shows it (waiting, oldest waiting, worker last seen), whatever the backend."""
    from hub.maintenance import queue_health

    return queue_health()


# --- SMS ------------------------------------------------------------------------------------------


@evaluator(AlertKind.SMS_FAILURE_RATE)
def sms_failure_rate(rule: AlertRule, now: datetime) -> list[Condition]:
    from sms.models import OutboundMessage

    since = now - timedelta(minutes=rule.window_minutes)
    threshold = rule.threshold if rule.threshold is not None else Decimal(100)
    decided = OutboundMessage.objects.filter(created_at__gte=since, status__in=["delivered", *NOT_DELIVERED])
    failed = Q(status__in=NOT_DELIVERED)
    link_filters = {"status__in": ",".join(NOT_DELIVERED), "created_at__gte": since.isoformat()}
    groups = []  # (key, label, messages, not delivered, link)
    if rule.scope in (Scope.ALL, Scope.OVERALL):
        totals = decided.aggregate(n=Count("pk"), failed=Count("pk", filter=failed))
        groups.append(("overall", "", totals["n"], totals["failed"], admin_list("sms.OutboundMessage", **link_filters)))
    if rule.scope in (Scope.ALL, Scope.NETWORK):
        rows = (
            decided.exclude(delivery_reports__network_code="")
            .filter(delivery_reports__isnull=False)
            .values("delivery_reports__network_code")
            .annotate(n=Count("pk", distinct=True), failed=Count("pk", distinct=True, filter=failed))
        )
        for row in rows:
            code = row["delivery_reports__network_code"]
            link = admin_list("sms.DeliveryReport", network_code__exact=code, received_at__gte=since.isoformat())
            groups.append((f"network:{code}", labels.network_name(code), row["n"], row["failed"], link))
    if rule.scope in (Scope.ALL, Scope.SENDER):
        rows = decided.values("sender").annotate(n=Count("pk"), failed=Count("pk", filter=failed))
        for row in rows:
            sender = row["sender"]
            link = admin_list("sms.OutboundMessage", sender__exact=sender, **link_filters)
            groups.append((f"sender:{sender}", sender or labels.DEFAULT_SENDER_LABEL, row["n"], row["failed"], link))
    conditions = []
    for key, label, n, not_delivered, link in groups:
        rate = _percent(not_delivered, n)
        if n < rule.min_count or Decimal(str(rate)) <= threshold:
            continue
        figures = {
            "messages": n,
            "not_delivered": not_delivered,
            "failure_rate_percent": rate,
            "threshold_percent": _number(threshold),
            "window_minutes": rule.window_minutes,
        }
        if key.startswith("network:"):
            figures["network"] = label
        elif key.startswith("sender:"):
            figures["sender"] = label
        where = f" ({label})" if label else ""
        summary = (
            f"{rate}% of {n} SMS not delivered in the last {rule.window_minutes} min{where}, "
            f"above {_number(threshold)}%"
        )
        conditions.append(Condition(key, summary, figures, link))
    return conditions


@evaluator(AlertKind.STUCK_SENT)
def stuck_sent(rule: AlertRule, now: datetime) -> list[Condition]:
    from sms.models import OutboundMessage

    before = now - timedelta(minutes=rule.window_minutes)
    stuck = OutboundMessage.objects.filter(status__in=AWAITING_REPORT, submitted_at__lt=before)
    found = stuck.aggregate(n=Count("pk"), oldest=Min("submitted_at"))
    if not found["n"] or found["n"] < rule.min_count:
        return []
    hours = round(rule.window_minutes / 60, 1)
    by_status = dict(stuck.order_by().values_list("status").annotate(n=Count("pk")))
    figures = {
        "messages": found["n"],
        "by_status": by_status,
        "oldest_submitted_at": _iso(found["oldest"]),
        "older_than_minutes": rule.window_minutes,
    }
    summary = f"{found['n']} SMS without a final delivery report more than {hours:g} h after they were submitted"
    link = reverse("admin:stuck-messages") + "?" + urlencode({"hours": f"{rule.window_minutes / 60:g}"})
    return [Condition("sms", summary, figures, link)]


# --- Callbacks ------------------------------------------------------------------------------------


def _silence_products():
    """(key, what is sent, its model, the callbacks' model, "a callback arrived for this send", words)."""
    from airtime.models import AirtimeStatusEvent, AirtimeTransaction
    from sms.models import DeliveryReport, OutboundMessage
    from voice.models import OutboundCall, VoiceEvent

    return [
        ("sms", OutboundMessage, DeliveryReport, ~Q(at_message_id=""),
         Exists(DeliveryReport.objects.filter(Q(message=OuterRef("pk")) | Q(at_message_id=OuterRef("at_message_id")))),
         "SMS", "delivery report"),
        ("voice", OutboundCall, VoiceEvent, ~Q(at_session_id=""),
         Exists(VoiceEvent.objects.filter(at_session_id=OuterRef("at_session_id"))),
         "calls", "voice event"),
        ("airtime", AirtimeTransaction, AirtimeStatusEvent, ~Q(at_request_id=""),
         Exists(AirtimeStatusEvent.objects.filter(
             Q(transaction=OuterRef("pk")) | Q(at_request_id=OuterRef("at_request_id")))),
         "airtime sends", "airtime status"),
    ]  # fmt: skip


@evaluator(AlertKind.CALLBACK_SILENCE)
def callback_silence(rule: AlertRule, now: datetime) -> list[Condition]:
    from hub.callbacks.registry import kind_for

    late = now - timedelta(minutes=rule.window_minutes)
    earliest = now - SILENCE_SPAN
    conditions = []
    for key, model, callbacks, has_id, answered, sends, callback in _silence_products():
        submitted = model.objects.filter(has_id, submitted_at__gte=earliest, submitted_at__lt=late)
        found = submitted.aggregate(n=Count("pk"), first=Min("submitted_at"), last=Max("submitted_at"))
        if not found["n"] or found["n"] < max(rule.min_count, 1):
            continue
        if submitted.filter(answered).exists():
            continue
        try:
            path = kind_for(callbacks).path
        except LookupError:
            path = ""
        last_callback = callbacks.objects.aggregate(last=Max("received_at"))["last"]
        figures = {
            "submitted": found["n"],
            "with_callback": 0,
            "first_submitted_at": _iso(found["first"]),
            "last_submitted_at": _iso(found["last"]),
            "callback_path": path,
            "last_callback_received_at": _iso(last_callback),
        }
        summary = (
            f"{found['n']} {sends} submitted to AT more than {rule.window_minutes} min ago and not one {callback} "
            f"came back: check the callback URL in AT's dashboard ({path})"
        )
        label = model._meta.label
        link = admin_list(label, submitted_at__gte=earliest.isoformat(), submitted_at__lt=late.isoformat())
        conditions.append(Condition(key, summary, figures, link))
    return conditions


@evaluator(AlertKind.REFUSED_CALLBACKS)
def refused_callbacks(rule: AlertRule, now: datetime) -> list[Condition]:
    from hub.models import RefusedCallback

    threshold = int(rule.threshold if rule.threshold is not None else 0)
    recent = RefusedCallback.objects.filter(last_at__gte=now - timedelta(minutes=rule.window_minutes))
    conditions = []
    for row in recent.values("path").annotate(n=Sum("count")).order_by("path"):
        if row["n"] <= threshold:
            continue
        rows = recent.filter(path=row["path"])
        latest = rows.order_by("-last_at").first()
        figures = {
            "path": row["path"],
            "refused": row["n"],
            "reasons": sorted(set(rows.values_list("reason", flat=True))),
            "last_source_address": latest.last_source_ip,
            "last_refused_at": _iso(latest.last_at),
            "threshold": threshold,
            "window_minutes": rule.window_minutes,
        }
        summary = (
            f"{row['n']} callbacks to {row['path']} refused in the last {rule.window_minutes} min "
            f"({', '.join(figures['reasons'])}), the last from {latest.last_source_ip or 'an unknown address'}"
        )
        conditions.append(Condition(row["path"], summary, figures, dashboard("callback-health")))
    return conditions


# --- Task queue -----------------------------------------------------------------------------------


@evaluator(AlertKind.QUEUE_BACKLOG)
def queue_backlog(rule: AlertRule, now: datetime) -> list[Condition]:
    queue = _queue_health()
    oldest = queue.get("oldest_waiting_seconds")
    if oldest is None or oldest <= rule.window_minutes * 60:
        return []
    figures = {
        "waiting": queue.get("waiting"),
        "oldest_waiting_seconds": oldest,
        "worker_seen_seconds_ago": queue.get("worker_seen_seconds_ago"),
        "limit_minutes": rule.window_minutes,
    }
    summary = (
        f"The oldest of {queue.get('waiting')} waiting tasks has waited {round(oldest / 60)} min "
        f"(more than {rule.window_minutes} min): workers are not keeping up, or none runs"
    )
    from hub.queue import uses_redis

    if uses_redis():  # RQ's dashboard, which lists its queues and their jobs
        link = admin_list("django_rq.Dashboard")
    else:
        link = admin_list("django_tasks_database.DBTaskResult", status__exact="READY")
    return [Condition("queue", summary, figures, link)]


@evaluator(AlertKind.WORKER_MISSING)
def worker_missing(rule: AlertRule, now: datetime) -> list[Condition]:
    queue = _queue_health()
    seen = queue.get("worker_seen_seconds_ago")
    limit = rule.window_minutes * 60
    if seen is not None and seen <= limit:
        return []
    if seen is None and (queue.get("oldest_waiting_seconds") or 0) <= limit:
        # Never seen yet: a fresh start, where the first worker may be a moment behind the first pass. It is an
        # incident once a task (`maintain` enqueues a heartbeat every pass) has waited the window for a worker.
        return []
    figures = {"worker_seen_seconds_ago": seen, "waiting": queue.get("waiting"), "limit_minutes": rule.window_minutes}
    if seen is None:
        summary = "No worker has ever been seen: nothing is sent (start `manage.py worker`)"
    else:
        summary = f"No worker seen for {round(seen / 60)} min (more than {rule.window_minutes} min): nothing is sent"
    return [Condition("worker", summary, figures, dashboard("dashboard"))]


# --- AT -------------------------------------------------------------------------------------------


@evaluator(AlertKind.AT_SEND_FAILURES)
def at_send_failures(rule: AlertRule, now: datetime) -> list[Condition]:
    from hub.models import SendFailure

    since = now - timedelta(minutes=rule.window_minutes)
    recent = SendFailure.objects.filter(at__gte=since)
    kinds = [
        ("unreachable", Q(reached=False), "AT could not be reached"),
        ("credentials", Q(http_status=401), "AT refused the credentials (HTTP 401: check AT_USERNAME and AT_API_KEY)"),
    ]
    conditions = []
    for key, which, words in kinds:
        failures = recent.filter(which)
        found = failures.aggregate(n=Count("pk"), last=Max("at"))
        if not found["n"] or found["n"] < max(rule.min_count, 1):
            continue
        latest = failures.order_by("-at").first()
        products = sorted(set(failures.values_list("product", flat=True)))
        figures = {
            "failures": found["n"],
            "products": products,
            "last_at": _iso(found["last"]),
            "last_error": scrub(latest.error)[:200],
            "window_minutes": rule.window_minutes,
        }
        summary = f"{words}: {found['n']} failed sends in the last {rule.window_minutes} min ({', '.join(products)})"
        conditions.append(Condition(key, summary, figures, dashboard("dashboard")))
    return conditions


def _latest_balance():
    from hub.models import BalanceSnapshot

    return BalanceSnapshot.objects.filter(amount__isnull=False).order_by("-fetched_at").first()


@evaluator(AlertKind.BALANCE_LOW)
def balance_low(rule: AlertRule, now: datetime) -> list[Condition]:
    snapshot = _latest_balance()
    if snapshot is None or rule.threshold is None or snapshot.amount >= rule.threshold:
        return []
    figures = {
        "balance": str(snapshot.amount),
        "currency": snapshot.currency,
        "fetched_at": _iso(snapshot.fetched_at),
        "threshold": str(rule.threshold),
    }
    summary = f"AT balance {snapshot.currency} {snapshot.amount} is below {snapshot.currency} {rule.threshold}: top up"
    return [Condition(snapshot.currency or "balance", summary, figures, dashboard("dashboard"))]


def recent_spend(currency: str, since: datetime) -> dict[str, Decimal]:
    """What was spent in `currency` since `since`, per product: SMS, call and USSD costs, airtime delivered."""
    from airtime.models import AirtimeTransaction
    from sms.models import OutboundMessage
    from ussd.models import UssdSession
    from voice.models import Call

    return {
        "sms": _money(OutboundMessage.objects.filter(created_at__gte=since, cost_currency=currency)
                      .aggregate(t=Sum("cost"))["t"]),
        "voice": _money(Call.objects.filter(started_at__gte=since, cost_currency=currency)
                        .aggregate(t=Sum("cost"))["t"]),
        "ussd": _money(UssdSession.objects.filter(started_at__gte=since, cost_currency=currency)
                       .aggregate(t=Sum("cost"))["t"]),
        "airtime": _money(AirtimeTransaction.objects.filter(created_at__gte=since, currency=currency,
                                                            status="delivered").aggregate(t=Sum("amount"))["t"]),
    }  # fmt: skip


@evaluator(AlertKind.BALANCE_RUNWAY)
def balance_runway(rule: AlertRule, now: datetime) -> list[Condition]:
    snapshot = _latest_balance()
    if snapshot is None or rule.threshold is None or not rule.window_minutes:
        return []
    spend = recent_spend(snapshot.currency, now - timedelta(minutes=rule.window_minutes))
    total = sum(spend.values(), Decimal(0))
    if total <= 0:
        return []
    days = Decimal(rule.window_minutes) / Decimal(1440)
    daily = total / days
    days_left = (max(snapshot.amount, Decimal(0)) / daily).quantize(Decimal("0.1"))
    if days_left >= rule.threshold:
        return []
    cur = snapshot.currency
    figures = {
        "balance": str(snapshot.amount),
        "currency": cur,
        "fetched_at": _iso(snapshot.fetched_at),
        "spend": {product: str(amount) for product, amount in spend.items()},
        "spend_days": float(round(days, 2)),
        "daily_spend": str(daily.quantize(Decimal("0.01"))),
        "days_left": float(days_left),
        "threshold_days": _number(rule.threshold),
    }
    summary = (
        f"AT balance {cur} {snapshot.amount} lasts about {days_left} days at the recent pace "
        f"({cur} {daily.quantize(Decimal('0.01'))} a day), fewer than {_number(rule.threshold)}: top up"
    )
    return [Condition(cur or "balance", summary, figures, dashboard("dashboard"))]


# --- Airtime, USSD --------------------------------------------------------------------------------


@evaluator(AlertKind.AIRTIME_DAILY_LIMIT)
def airtime_daily_limit(rule: AlertRule, now: datetime) -> list[Condition]:
    from airtime.models import operator_day
    from airtime.services import todays_spend

    threshold = rule.threshold if rule.threshold is not None else Decimal(100)
    conditions = []
    for currency, committed, limit, _maximum in todays_spend():
        if not limit:
            continue
        used = _percent(Decimal(str(committed)), Decimal(str(limit)))
        if Decimal(str(used)) <= threshold:
            continue
        figures = {
            "currency": currency,
            "committed": str(_money(committed)),
            "daily_limit": str(limit),
            "used_percent": used,
            "threshold_percent": _number(threshold),
            "day": operator_day(now).isoformat(),
        }
        summary = (
            f"Airtime today: {currency} {_money(committed)} of the {currency} {limit} daily limit committed "
            f"({used}%, above {_number(threshold)}%)"
        )
        link = admin_list("airtime.DailyAirtimeSpend", currency__exact=currency)
        conditions.append(Condition(currency, summary, figures, link))
    return conditions


@evaluator(AlertKind.USSD_ANSWER_TIME)
def ussd_answer_time(rule: AlertRule, now: datetime) -> list[Condition]:
    from ussd.models import UssdHop

    since = now - timedelta(minutes=rule.window_minutes)
    hops = UssdHop.objects.filter(received_at__gte=since, duration_ms__isnull=False)
    n = hops.count()
    if not n or n < rule.min_count or rule.threshold is None:
        return []
    ordered = hops.order_by("duration_ms").values_list("duration_ms", flat=True)
    p95 = ordered[math.ceil(0.95 * n) - 1]
    if p95 <= rule.threshold:
        return []
    figures = {
        "screens": n,
        "p95_ms": p95,
        "slowest_ms": hops.aggregate(m=Max("duration_ms"))["m"],
        "threshold_ms": _number(rule.threshold),
        "window_minutes": rule.window_minutes,
    }
    summary = (
        f"USSD screens answered in {p95} ms at the 95th percentile over the last {rule.window_minutes} min "
        f"({n} screens), above {_number(rule.threshold)} ms"
    )
    return [Condition("ussd", summary, figures, admin_list("ussd.UssdSession", started_at__gte=since.isoformat()))]


@evaluator(AlertKind.USSD_FAILED_SHARE)
def ussd_failed_share(rule: AlertRule, now: datetime) -> list[Condition]:
    from ussd.models import UssdSession

    since = now - timedelta(minutes=rule.window_minutes)
    threshold = rule.threshold if rule.threshold is not None else Decimal(100)
    found = UssdSession.objects.filter(started_at__gte=since).aggregate(
        n=Count("pk"),
        failed=Count("pk", filter=Q(status__iexact="failed")),
        incomplete=Count("pk", filter=Q(status__iexact="incomplete")),
    )
    n, bad = found["n"], found["failed"] + found["incomplete"]
    share = _percent(bad, n)
    if not n or n < rule.min_count or Decimal(str(share)) <= threshold:
        return []
    figures = {
        "sessions": n,
        "failed": found["failed"],
        "incomplete": found["incomplete"],
        "share_percent": share,
        "threshold_percent": _number(threshold),
        "window_minutes": rule.window_minutes,
    }
    summary = (
        f"{share}% of {n} USSD sessions in the last {rule.window_minutes} min failed or timed out "
        f"({found['failed']} failed, {found['incomplete']} incomplete), above {_number(threshold)}%"
    )
    link = admin_list("ussd.UssdSession", status__in="Failed,Incomplete", started_at__gte=since.isoformat())
    return [Condition("ussd", summary, figures, link)]


# --- Event webhooks ------------------------------------------------------------------------------


@evaluator(AlertKind.WEBHOOK_FAILING)
def webhook_failing(rule: AlertRule, now: datetime) -> list[Condition]:
    from urllib.parse import urlsplit

    from webhooks.models import Endpoint

    since = now - timedelta(minutes=rule.window_minutes)
    endpoints = Endpoint.objects.filter(
        Q(enabled=True, failing_since__lt=since) | Q(enabled=False, disabled_at__isnull=False)
    ).order_by("pk")
    conditions = []
    for endpoint in endpoints:
        host = urlsplit(endpoint.url).hostname or "?"  # never the path or user info: they may hold a token
        figures = {
            "endpoint": endpoint.pk,
            "host": host,
            "failing_since": _iso(endpoint.failing_since),
            "disabled_at": _iso(endpoint.disabled_at if not endpoint.enabled else None),
            "window_minutes": rule.window_minutes,
        }
        if not endpoint.enabled:
            summary = f"Webhook endpoint {endpoint.pk} ({host}) was disabled after a day of failed deliveries"
        else:
            minutes = round((now - endpoint.failing_since).total_seconds() / 60)
            summary = f"Webhook endpoint {endpoint.pk} ({host}) has failed every delivery for {minutes} min"
        link = reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])
        conditions.append(Condition(f"endpoint {endpoint.pk}", summary, figures, link))
    return conditions
