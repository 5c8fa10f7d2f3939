"""SIM swap permissions for the staff groups: viewers read, operators also run checks."""

from django.db import migrations

from hub.groups import OPERATORS, VIEWERS, grant


def create_groups(apps, schema_editor):
    grant(apps, VIEWERS, ["simswap.view_*"])
    grant(apps, OPERATORS, ["simswap.view_*", "simswap.add_simswapcheck"])


class Migration(migrations.Migration):
    dependencies = [("simswap", "0001_initial"), ("sms", "0003_staff_groups")]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
