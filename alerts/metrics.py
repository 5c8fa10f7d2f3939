"""`GET /metrics`: the hub's figures in Prometheus' text format (prometheus-client), behind their own token.

`Authorization: Bearer <AT_METRICS_TOKEN>` (compared in constant time); no token
set: 404, as if there were no such page; a missing token: 401, a wrong one:
403; with AT_METRICS_ALLOWED_IPS, other addresses: 403 (behind the proxies of
AT_TRUSTED_PROXIES, the caller's address from X-Forwarded-For). Every answer
but the metrics is JSON naming the problem.

Every figure is read from the database at scrape time by one collector, so
that every web process (and node) answers the same numbers and nothing is lost
when one restarts; a scrape runs a fixed number of queries whatever the number
of rows (range scans of indexed time columns over the last hour or day).
Windows are in the metric names: callbacks received in the last hour, sends
created in the last hour and day, and so on (callback rows are pruned after
AT_RETENTION_DAYS, so all-time counts of them would go down).
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Case, Count, DurationField, ExpressionWrapper, F, IntegerField, Max, Sum, Value, When
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from hub.callbacks.network import address, client_ip, networks, within

#: Upper edges (seconds) of the histogram of the time from queued to AT's answer.
SUBMIT_EDGES = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)
#: Upper edges (milliseconds) of the USSD answer-time histogram (AT abandons a screen after about 10 s).
ANSWER_EDGES = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def _bucket(expression: str, edges, unit) -> Case:
    """The index of the first edge `expression` is at most; len(edges) when above all."""
    whens = [When(**{f"{expression}__lte": unit(edge)}, then=Value(i)) for i, edge in enumerate(edges)]
    return Case(*whens, default=Value(len(edges)), output_field=IntegerField())


def _buckets(edges, counts: dict[int, int], scale: float = 1.0) -> list[tuple[str, int]]:
    """Cumulative histogram buckets (with +Inf) from per-bucket counts (bucket index → count)."""
    running, buckets = 0, []
    for i, edge in enumerate(edges):
        running += counts.get(i, 0)
        buckets.append((str(float(edge) * scale), running))
    buckets.append(("+Inf", running + counts.get(len(edges), 0)))
    return buckets


def _seconds(value) -> float:
    """A summed duration as seconds (a timedelta; SQLite may give microseconds as a number)."""
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) / 1_000_000


class HubCollector:
    """Reads every figure from the database when Prometheus scrapes."""

    def describe(self):
        return []  # no collection at registration: the figures are read when scraped

    def collect(self):
        now = timezone.now()
        yield from self.callbacks(now)
        yield self.refused(now)
        yield from self.sends(now)
        yield from self.at_requests(now)
        yield from self.queue()
        yield self.ussd_answers(now)
        yield from self.balance()
        yield self.incidents()

    # --- Callbacks ---------------------------------------------------------------------

    def callbacks(self, now):
        from hub.callbacks.registry import kinds

        received = GaugeMetricFamily(
            "atproject_callbacks_last_hour",
            "Callbacks stored in the last hour, per kind and outcome (processed, failed).",
            labels=["kind", "outcome"],
        )
        repeats = GaugeMetricFamily(
            "atproject_callback_repeats_last_hour",
            "Repeated deliveries (counted, not applied again) of callbacks first stored in the last hour, per kind.",
            labels=["kind"],
        )
        for name, kind in kinds().items():
            rows = (
                kind.model.objects.filter(received_at__gte=now - HOUR)
                .order_by()
                .values("state")
                .annotate(n=Count("pk"), again=Sum(F("times_received") - 1))
            )
            seen = {"processed": 0, "failed": 0}
            again = 0
            for row in rows:
                seen[row["state"]] = row["n"]
                again += row["again"] or 0
            for outcome, n in sorted(seen.items()):
                received.add_metric([name, outcome], n)
            repeats.add_metric([name], again)
        yield received
        yield repeats

    def refused(self, now):
        from hub.models import RefusedCallback

        family = GaugeMetricFamily(
            "atproject_callbacks_refused_last_hour",
            "Callbacks refused (wrong or missing token, address not allowed) in this UTC hour and the one before, "
            "per path and reason.",
            labels=["path", "reason"],
        )
        since = (now - HOUR).replace(minute=0, second=0, microsecond=0)
        rows = (
            RefusedCallback.objects.filter(hour__gte=since)
            .order_by()
            .values("path", "reason")
            .annotate(n=Sum("count"))
            .order_by("path", "reason")
        )
        for row in rows:
            family.add_metric([row["path"], row["reason"]], row["n"])
        return family

    # --- Sends -------------------------------------------------------------------------

    def sends(self, now):
        from hub.maintenance import outbound_models

        family = GaugeMetricFamily(
            "atproject_sends",
            "Outbound requests (SMS, calls, airtime, SIM swap checks) created in the window, per product and "
            "their status now (final: delivered, failed, rejected, ...).",
            labels=["product", "status", "window"],
        )
        latency = []
        for model in sorted(outbound_models(), key=lambda m: m._meta.label):
            product = model._meta.app_label
            for window, span in (("1h", HOUR), ("24h", DAY)):
                rows = (
                    model.objects.filter(created_at__gte=now - span)
                    .order_by()
                    .values("status")
                    .annotate(n=Count("pk"))
                    .order_by("status")
                )
                for row in rows:
                    family.add_metric([product, row["status"], window], row["n"])
            waited = ExpressionWrapper(F("submitted_at") - F("created_at"), output_field=DurationField())
            rows = (
                model.objects.filter(created_at__gte=now - HOUR, submitted_at__isnull=False)
                .annotate(waited=waited)
                .annotate(bucket=_bucket("waited", SUBMIT_EDGES, lambda s: timedelta(seconds=s)))
                .order_by()
                .values("bucket")
                .annotate(n=Count("pk"), total=Sum("waited"))
            )
            counts = {row["bucket"]: row["n"] for row in rows}
            total = sum(_seconds(row["total"]) for row in rows)
            latency.append((product, counts, total))
        yield family
        histogram = HistogramMetricFamily(
            "atproject_send_submit_seconds",
            "Requests created in the last hour that AT answered, by seconds from queued to AT's answer (the "
            "queue's wait, retries and AT's own answer time), per product.",
            labels=["product"],
        )
        for product, counts, total in latency:
            histogram.add_metric([product], _buckets(SUBMIT_EDGES, counts), total)
        yield histogram

    def at_requests(self, now):
        from hub.gateway import last_unreachable
        from hub.models import SendFailure

        failures = GaugeMetricFamily(
            "atproject_at_request_failures_last_hour",
            "Failed calls to AT for sends in the last hour (one per request, whatever its rows), per product, what "
            "the rows were left (outcome), whether the request may have reached AT, and AT's HTTP status "
            '("none": no answer).',
            labels=["product", "outcome", "reached", "http_status"],
        )
        rows = (
            SendFailure.objects.filter(at__gte=now - HOUR)
            .order_by()
            .values("product", "outcome", "reached", "http_status")
            .annotate(n=Count("pk"))
            .order_by("product", "outcome", "reached", "http_status")
        )
        for row in rows:
            status = "none" if row["http_status"] is None else str(row["http_status"])
            failures.add_metric([row["product"], row["outcome"], str(row["reached"]).lower(), status], row["n"])
        yield failures
        last = SendFailure.objects.aggregate(at=Max("at"))["at"]
        yield GaugeMetricFamily(
            "atproject_at_last_send_failure_timestamp_seconds",
            "When a call to AT for a send last failed (Unix time; 0: never, within the retention period).",
            value=last.timestamp() if last else 0,
        )
        yield GaugeMetricFamily(
            "atproject_at_unreachable",
            "1 when calling AT failed (unreachable, no answer, 5xx, credentials refused) in the last 15 minutes and "
            "AT has not answered since.",
            value=1 if last_unreachable() else 0,
        )

    # --- The task queue ----------------------------------------------------------------

    def queue(self):
        from hub.maintenance import queue_health

        health = queue_health()
        yield GaugeMetricFamily(
            "atproject_queue_waiting", "Tasks due and waiting for a worker.", value=health["waiting"]
        )
        oldest = health.get("oldest_waiting_seconds")
        yield GaugeMetricFamily(
            "atproject_queue_oldest_waiting_seconds",
            "How long the oldest waiting task has waited (0: none waits).",
            value=oldest or 0,
        )
        for key in ("deferred", "running"):
            if isinstance(health.get(key), int):
                yield GaugeMetricFamily(f"atproject_queue_{key}", f"Tasks {key}.", value=health[key])
        seen = health.get("worker_seen_seconds_ago")
        yield GaugeMetricFamily(
            "atproject_worker_seen_seconds_ago",
            "Seconds since a worker was last seen (-1: never).",
            value=-1 if seen is None else seen,
        )

    # --- USSD --------------------------------------------------------------------------

    def ussd_answers(self, now):
        from ussd.models import UssdHop

        rows = (
            UssdHop.objects.filter(received_at__gte=now - HOUR, duration_ms__isnull=False)
            .annotate(bucket=_bucket("duration_ms", ANSWER_EDGES, int))
            .order_by()
            .values("bucket")
            .annotate(n=Count("pk"), total=Sum("duration_ms"))
        )
        counts = {row["bucket"]: row["n"] for row in rows}
        total = sum(row["total"] or 0 for row in rows) / 1000
        family = HistogramMetricFamily(
            "atproject_ussd_answer_seconds",
            "USSD screens answered in the last hour, by the time the hub took to answer (AT gives up after about "
            "10 s).",
        )
        family.add_metric([], _buckets(ANSWER_EDGES, counts, scale=0.001), total)
        return family

    # --- AT's balance, open incidents ----------------------------------------------------

    def balance(self):
        from hub.models import BalanceSnapshot

        snapshot = BalanceSnapshot.objects.filter(amount__isnull=False).order_by("-fetched_at").first()
        family = GaugeMetricFamily(
            "atproject_at_balance", "AT's account balance as last read (maintain reads it).", labels=["currency"]
        )
        if snapshot is not None:
            family.add_metric([snapshot.currency], float(snapshot.amount))
        yield family

    def incidents(self):
        from .models import Incident

        family = GaugeMetricFamily(
            "atproject_incidents_open", "Open incidents (alert rules firing), per severity.", labels=["severity"]
        )
        rows = (
            Incident.objects.filter(resolved_at__isnull=True)
            .order_by()
            .values("severity")
            .annotate(n=Count("pk"))
            .order_by("severity")
        )
        for row in rows:
            family.add_metric([row["severity"]], row["n"])
        return family


def _refuse(status: int, error: str, **headers) -> JsonResponse:
    response = JsonResponse({"error": error}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _bearer(request) -> str | None:
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


@never_cache
def metrics_view(request):
    """The figures for Prometheus; 404 with no AT_METRICS_TOKEN; 401/403 JSON for a missing/wrong token."""
    if not settings.AT_METRICS_TOKEN:
        return _refuse(404, "Not found.")
    if request.method not in ("GET", "HEAD"):
        return _refuse(405, f'Method "{request.method}" not allowed: use GET.', Allow="GET, HEAD")
    allowed = settings.AT_METRICS_ALLOWED_IPS
    if allowed:
        source = address(client_ip(request) or "")
        if source is None or not within(source, networks(tuple(allowed))):
            return _refuse(403, "This address may not read /metrics (AT_METRICS_ALLOWED_IPS).")
    offered = _bearer(request)
    if offered is None:
        return _refuse(
            401, "Missing metrics token: send Authorization: Bearer <AT_METRICS_TOKEN>.", WWW_Authenticate="Bearer"
        )
    if not constant_time_compare(offered, settings.AT_METRICS_TOKEN):
        return _refuse(403, "Invalid metrics token.")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
