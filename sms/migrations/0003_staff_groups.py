"""Create the staff groups with the SMS permissions: viewers read, operators also send."""

from django.db import migrations

from hub.groups import OPERATORS, VIEWERS, grant

VIEW = ["sms.view_*"]
SEND = [
    "sms.add_outboundbatch",
    "sms.add_outboundmessage",
    "sms.lift_optout",
    "sms.add_autoreplyrule",
    "sms.change_autoreplyrule",
    "sms.delete_autoreplyrule",
]


def create_groups(apps, schema_editor):
    grant(apps, VIEWERS, VIEW)
    grant(apps, OPERATORS, VIEW + SEND)


class Migration(migrations.Migration):
    dependencies = [
        ("sms", "0002_outbound"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
