"""Viewers read endpoints, events, deliveries and attempts; operators also replay events. Registering,
changing and deleting endpoints (their secrets) is for superusers or users given those permissions."""

from django.db import migrations

from hub.groups import OPERATORS, VIEWERS, grant

VIEW = ["webhooks.view_*"]
OPERATE = ["webhooks.replay_event"]


def grant_webhooks(apps, schema_editor):
    grant(apps, VIEWERS, VIEW)
    grant(apps, OPERATORS, VIEW + OPERATE)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_webhooks, migrations.RunPython.noop)]
