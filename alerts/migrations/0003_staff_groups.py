"""Viewers read rules, incidents and notification attempts; operators also edit and add rules, acknowledge
incidents and send a test notification."""

from django.db import migrations

from hub.groups import OPERATORS, VIEWERS, grant

VIEW = ["alerts.view_*"]
OPERATE = [
    "alerts.change_alertrule",
    "alerts.add_alertrule",
    "alerts.acknowledge_incident",
    "alerts.send_test_notification",
]


def grant_alerts(apps, schema_editor):
    grant(apps, VIEWERS, VIEW)
    grant(apps, OPERATORS, VIEW + OPERATE)


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_default_rules"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_alerts, migrations.RunPython.noop)]
