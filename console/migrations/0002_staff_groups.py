"""Viewers and operators may export lists and read the console's figures."""

from django.db import migrations

from hub.groups import OPERATORS, VIEWERS, grant

PERMISSIONS = ["console.export_lists", "console.view_rollup"]


def grant_export(apps, schema_editor):
    grant(apps, VIEWERS, PERMISSIONS)
    grant(apps, OPERATORS, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_rollups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_export, migrations.RunPython.noop)]
