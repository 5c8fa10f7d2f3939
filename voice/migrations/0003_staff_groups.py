"""Voice permissions for the staff groups: viewers read, operators also call and edit call flows."""

from django.db import migrations

from hub.groups import OPERATORS, VIEWERS, grant

VIEW = ["voice.view_*"]
EDIT = ["voice.add_outboundcall"] + [
    f"voice.{verb}_{model}" for verb in ("add", "change", "delete") for model in ("voiceflow", "keypadoption")
]


def create_groups(apps, schema_editor):
    grant(apps, VIEWERS, VIEW)
    grant(apps, OPERATORS, VIEW + EDIT)


class Migration(migrations.Migration):
    dependencies = [("voice", "0002_default_flow"), ("sms", "0003_staff_groups")]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
