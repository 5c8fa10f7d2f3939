"""USSD permissions for the staff groups: viewers read, operators also edit menus."""

from django.db import migrations

from hub.groups import OPERATORS, VIEWERS, grant

VIEW = ["ussd.view_*"]
EDIT = [f"ussd.{verb}_{model}" for verb in ("add", "change", "delete") for model in ("menu", "screen", "option")]


def create_groups(apps, schema_editor):
    grant(apps, VIEWERS, VIEW)
    grant(apps, OPERATORS, VIEW + EDIT)


class Migration(migrations.Migration):
    dependencies = [("ussd", "0002_demo_menu"), ("sms", "0003_staff_groups")]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
