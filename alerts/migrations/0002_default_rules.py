"""One alert rule per kind, with the defaults the README lists (staff tune them in the admin)."""

from decimal import Decimal

from django.db import migrations

# (kind, name, severity, threshold, window minutes, minimum count)
DEFAULTS = [
    ("sms_failure_rate", "SMS failure rate", "warning", Decimal(20), 60, 50),
    ("callback_silence", "Callbacks silent after sends", "critical", None, 30, 5),
    ("refused_callbacks", "Callbacks refused (403)", "warning", Decimal(10), 60, 1),
    ("stuck_sent", "SMS stuck in Sent", "warning", None, 360, 10),
    ("queue_backlog", "Task queue backlog", "critical", None, 10, 1),
    ("worker_missing", "No worker running", "critical", None, 5, 1),
    ("at_send_failures", "AT unreachable or credentials refused", "critical", None, 15, 3),
    ("balance_low", "AT balance low", "warning", Decimal(500), 60, 1),
    ("balance_runway", "AT balance runs out soon", "warning", Decimal(3), 10080, 1),
    ("airtime_daily_limit", "Airtime daily limit nearly used", "warning", Decimal(80), 60, 1),
    ("ussd_answer_time", "USSD answers slow", "warning", Decimal(2000), 15, 20),
    ("ussd_failed_share", "USSD sessions failing", "warning", Decimal(20), 60, 20),
]


def create_defaults(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for kind, name, severity, threshold, window, minimum in DEFAULTS:
        if not AlertRule.objects.filter(kind=kind).exists():
            AlertRule.objects.create(
                kind=kind, name=name, severity=severity, threshold=threshold, window_minutes=window,
                min_count=minimum, scope="all", enabled=True,
            )  # fmt: skip


def remove_defaults(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    AlertRule.objects.filter(kind__in=[d[0] for d in DEFAULTS], incidents__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_incidents")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
