"""Benchmark: the dashboard's render time at scale, next to a plain admin list's, on a durable PostgreSQL.

    scripts/with-postgres --durable .venv/bin/python bench/dashboard.py

It seeds 1,000,000 outbound messages and 1,000,000 delivery reports spread
over 30 days, rebuilds the console's hourly figures (as `rebuild_rollups`
does) and times their two-day refresh (as `maintain` does), then renders, as a
logged-in superuser, the dashboard for each period and two plain changelists
(outbound messages, delivery reports), median of --runs after two warm-ups.
Target: the dashboard no slower than the changelist, and under 300 ms.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

STATUSES = [("delivered", 80), ("failed", 8), ("rejected", 2), ("expired", 1), ("sent", 4), ("submitted", 2),
            ("unknown", 1), ("blocked", 1), ("queued", 1)]  # fmt: skip
NETWORKS = ["63902", "63903", "63907", "64110", "62130"]
REASONS = ["UserInBlackList", "DeliveryFailure", "InsufficientCredit", "AbsentSubscriber", ""]


def seed(messages: int, chunk: int = 100_000) -> None:
    from django.db import connection
    from django.utils import timezone

    from hub.outbound import insert_rows
    from sms.models import DeliveryReport, OutboundBatch, OutboundMessage

    rng = random.Random(42)  # noqa: S311 - seed data, not secrets
    now = timezone.now()
    span = timedelta(days=30).total_seconds()
    batches = [OutboundBatch.objects.create(source="api", text="Benchmark", sender=s, recipient_count=0)
               for s in ("ACME", "SHOP", "")]  # fmt: skip
    population = [s for s, weight in STATUSES for _ in range(weight)]
    for start in range(0, messages, chunk):
        rows, reports = [], []
        for i in range(start, min(start + chunk, messages)):
            created = now - timedelta(seconds=rng.random() * span)
            status = rng.choice(population)
            reached = status not in ("queued", "blocked")
            submitted = created + timedelta(seconds=1) if reached else None
            latency = timedelta(seconds=rng.choice([3, 8, 25, 70, 400]))
            delivered = submitted + latency if status == "delivered" else None
            reason = rng.choice(REASONS) if status in ("failed", "rejected", "expired") else ""
            batch = batches[i % 3]
            rows.append({
                "batch_id": batch.pk, "phone": f"+2547{i:08d}", "text": "Benchmark", "sender": batch.sender,
                "status": status, "created_at": created, "updated_at": delivered or submitted or created,
                "submitted_at": submitted, "delivered_at": delivered, "at_message_id": f"ATXid_{i}" if reached else "",
                "cost": Decimal("0.8000") if reached else None, "cost_currency": "KES" if reached else "",
                "failure_reason": reason,
            })  # fmt: skip
            if reached:
                final = {"delivered": "Success", "failed": "Failed", "rejected": "Rejected", "expired": "Expired"}
                received = delivered or submitted + timedelta(seconds=5)
                reports.append({
                    "at_message_id": f"ATXid_{i}", "status": final.get(status, "Sent"), "phone_number": f"+2547{i:08d}",
                    "phone_e164": f"+2547{i:08d}", "network_code": NETWORKS[i % len(NETWORKS)],
                    "failure_reason": reason, "received_at": received, "last_received_at": received,
                    "dedupe_key": f"bench-{i}", "payload": {"id": f"ATXid_{i}"},
                })  # fmt: skip
        insert_rows(OutboundMessage, {}, rows)
        insert_rows(DeliveryReport, {}, reports)
        print(f"  seeded {min(start + chunk, messages):,} messages", flush=True)
    # Link the reports to their messages, as their effect would have.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sms_deliveryreport r SET message_id = m.id FROM sms_outboundmessage m "
            "WHERE m.at_message_id = r.at_message_id AND m.at_message_id <> ''"
        )
        cursor.execute("ANALYZE")


def timed(client, url: str, runs: int) -> float:
    for _ in range(2):
        assert client.get(url).status_code == 200, url
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    os.environ.update({"AT_ENV_FILE": "", "DEBUG": "false", "SECRET_KEY": "bench-only-secret-key",
                       "SECURE_SSL_REDIRECT": "false", "AT_WEBHOOK_TOKEN": "bench-webhook-token-0123",
                       "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "testserver",
                       "DJANGO_SETTINGS_MODULE": "atproject.settings"})  # fmt: skip
    if "DATABASE_URL" not in os.environ:
        sys.exit("Run it on PostgreSQL: scripts/with-postgres --durable .venv/bin/python bench/dashboard.py")

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from bench.durable import describe_database
    from console import rollups
    from sms.models import OutboundMessage

    call_command("migrate", verbosity=0)
    print(describe_database(connection))
    if not OutboundMessage.objects.exists():
        started = time.perf_counter()
        seed(args.messages)
        print(f"seeded {args.messages:,} messages and their delivery reports in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    written = rollups.rebuild(timezone.now() - timedelta(days=31))
    print(f"rebuild_rollups (31 days): {written:,} figures in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    rollups.refresh()
    print(f"refresh (the last 48 hours, as maintain does): {time.perf_counter() - started:.2f} s")

    User = get_user_model()
    staff = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "", "bench")
    client = Client()
    client.force_login(staff)
    print(f"\nmedian of {args.runs} renders (ms), one process, superuser session:")
    results = {}
    for label, url in [
        ("dashboard today", "/admin/?period=today"),
        ("dashboard 7 days", "/admin/?period=7d"),
        ("dashboard 30 days", "/admin/?period=30d"),
        ("dashboard JSON 30 days", "/admin/dashboard/data/?period=30d"),
        ("changelist outbound messages", "/admin/sms/outboundmessage/"),
        ("changelist delivery reports", "/admin/sms/deliveryreport/"),
    ]:
        results[label] = timed(client, url, args.runs)
        print(f"  {label:<30} {results[label]:7.1f}")
    slowest = max(v for k, v in results.items() if k.startswith("dashboard "))
    fastest_list = min(v for k, v in results.items() if k.startswith("changelist"))
    verdict = "met" if slowest <= fastest_list and slowest < 300 else "NOT met"
    print(f"\ntarget (dashboard <= changelist and < 300 ms): {verdict} "
          f"(slowest dashboard {slowest:.1f} ms, fastest changelist {fastest_list:.1f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
